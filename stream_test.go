package ccr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// sseEvents parses all events of in, returning them and the final error
// (nil for io.EOF).
func sseEvents(r io.Reader, lenient bool, max int) ([]Event, error) {
	s := NewSSEReader(r)
	s.DispatchAtEOF = lenient
	s.MaxLineBytes = max
	return readEvents(s)
}

func TestSSEReader(t *testing.T) {
	ev := func(typ, data, id string) Event { return Event{Type: typ, Data: []byte(data), ID: id} }
	tests := []struct {
		name    string
		in      string
		lenient bool
		want    []Event
	}{
		{"basic", "data: a\n\ndata: b\n\n", false, []Event{ev("", "a", ""), ev("", "b", "")}},
		{"crlf", "data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n", false, []Event{ev("", "a", ""), ev("x", "b", "")}},
		{"lone cr", "data: a\r\rdata: b\r\r", false, []Event{ev("", "a", ""), ev("", "b", "")}},
		{"mixed terminators", "data: a\r\ndata: b\rdata: c\n\r\n", false, []Event{ev("", "a\nb\nc", "")}},
		{"cr then lf across lines", "data: a\r\n\rdata: b\n\n", false, []Event{ev("", "a", ""), ev("", "b", "")}},
		{"comments", ": hi\n: OPENROUTER PROCESSING\n\ndata: a\n: mid\n\n", false, []Event{ev("", "a", "")}},
		{"multi-line data", "data: {\"a\":\ndata: 1}\n\n", false, []Event{ev("", "{\"a\":\n1}", "")}},
		{"no space and two spaces", "data:a\n\ndata:  b\n\n", false, []Event{ev("", "a", ""), ev("", " b", "")}},
		{"field without colon", "data\n\n", false, []Event{ev("", "", "")}},
		{"empty data dispatches", "event: ping\ndata:\n\n", false, []Event{ev("ping", "", "")}},
		{"event without data is not dispatched", "event: x\n\ndata: a\n\n", false, []Event{ev("", "a", "")}},
		{"event type resets after dispatch", "event: x\ndata: a\n\ndata: b\n\n", false, []Event{ev("x", "a", ""), ev("", "b", "")}},
		{"id persists, NUL id ignored", "id: 1\ndata: a\n\ndata: b\n\nid: 2\x003\ndata: c\n\nid\ndata: d\n\n", false,
			[]Event{ev("", "a", "1"), ev("", "b", "1"), ev("", "c", "1"), ev("", "d", "")}},
		{"unknown fields and retry ignored", "retry: 10\nfoo: bar\ndata: a\n\n", false, []Event{ev("", "a", "")}},
		{"bom stripped", "\xEF\xBB\xBFdata: a\n\n", false, []Event{ev("", "a", "")}},
		{"bom only once", "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", false, []Event{ev("", "b", "")}},
		{"partial final event dropped", "data: a\n\ndata: b\n", false, []Event{ev("", "a", "")}},
		{"partial final line dropped", "data: a\n\ndata: b", false, []Event{ev("", "a", "")}},
		{"partial final event lenient", "data: a\n\ndata: b\n", true, []Event{ev("", "a", ""), ev("", "b", "")}},
		{"partial final line lenient", "data: a\n\ndata: b", true, []Event{ev("", "a", ""), ev("", "b", "")}},
		{"utf-8 intact", "data: é 中文 😀\n\n", false, []Event{ev("", "é 中文 😀", "")}},
		{"empty input", "", false, nil},
	}
	for _, tt := range tests {
		for _, v := range streamVariants[:3] {
			t.Run(tt.name+"/"+v.name, func(t *testing.T) {
				got, err := sseEvents(v.wrap([]byte(tt.in)), tt.lenient, 0)
				if err != nil {
					t.Fatal(err)
				}
				if !eventsEqual(got, tt.want, true) {
					t.Errorf("events of %q:\n got %q\nwant %q", tt.in, got, tt.want)
				}
			})
		}
	}
}

func TestSSEReaderLongLines(t *testing.T) {
	big := strings.Repeat("x", 200<<10) // over bufio's buffer and the 64 KiB Scanner default
	got, err := sseEvents(iotest.HalfReader(strings.NewReader("data: "+big+"\r\n\r\n")), false, 0)
	if err != nil || len(got) != 1 || string(got[0].Data) != big {
		t.Fatalf("long line: %d events, err %v", len(got), err)
	}
	for _, in := range []string{"data: " + big + "\n\n", "data: " + big, ": " + big + "\r"} {
		s := NewSSEReader(strings.NewReader(in))
		s.MaxLineBytes = 1000
		if _, err := s.ReadEvent(); !errors.Is(err, ErrLineTooLong) {
			t.Errorf("over MaxLineBytes: err = %v, want ErrLineTooLong", err)
		}
		if _, err := s.ReadEvent(); !errors.Is(err, ErrLineTooLong) {
			t.Errorf("error not sticky: %v", err)
		}
	}
	// A line of exactly MaxLineBytes is fine.
	got, err = sseEvents(strings.NewReader("data: "+strings.Repeat("y", 994)+"\n\n"), false, 1000)
	if err != nil || len(got) != 1 {
		t.Errorf("line at the limit: %d events, err %v", len(got), err)
	}
}

func TestSSEReaderErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	s := NewSSEReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)))
	if ev, err := s.ReadEvent(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first event = %q, %v", ev.Data, err)
	}
	if _, err := s.ReadEvent(); err != boom {
		t.Fatalf("err = %v, want the reader's error unchanged", err)
	}
}

// TestSSEReaderLoneCRLinear guards against quadratic behaviour on streams
// that end lines with a lone '\r'.
func TestSSEReaderLoneCRLinear(t *testing.T) {
	in := strings.Repeat("data: x\r\r", 100000)
	got, err := sseEvents(strings.NewReader(in), false, 0)
	if err != nil || len(got) != 100000 {
		t.Fatalf("%d events, err %v", len(got), err)
	}
}

// scriptedReader returns its chunks one per Read and records, for each
// Read, how much room the reader offered and whether it held a slab then.
type scriptedReader struct {
	chunks [][]byte
	r      *SSEReader
	reads  []string
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	s.reads = append(s.reads, fmt.Sprintf("%d slab=%v", len(p), s.r.slab != nil))
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// TestSSEReaderSlab checks that a pooled reader borrows a slab for a burst
// and gives it back before it waits on a quiet stream: what it holds while
// a stream is open is its small buffer.
func TestSSEReaderSlab(t *testing.T) {
	t.Parallel()
	ev := []byte("event: content_block_delta\ndata: {\"delta\":{\"text\":\"word\"}}\n\n")
	burst := bytes.Repeat(ev, 3000/len(ev)+1)
	src := &scriptedReader{chunks: [][]byte{ev, burst, ev, ev}}
	var slabs slabPool
	r := newPooledSSEReader(src, &slabs)
	src.r = r
	events, err := readEvents(r)
	if err != nil || len(events) != 3+len(burst)/len(ev) {
		t.Fatalf("%d events, %v; want %d", len(events), err, 3+len(burst)/len(ev))
	}
	want := []string{
		"512 slab=false", // quiet: the small buffer
		"512 slab=false", // the burst fills it
		"2048 slab=true", // the rest of the burst: a slab
		"2048 slab=true", // which is still full
		"512 slab=false", // the burst is over: slab given back
		"512 slab=false",
	}
	if !slices.Equal(src.reads, want) {
		t.Errorf("reads:\n got %q\nwant %q", src.reads, want)
	}
	if r.slab != nil {
		t.Error("slab kept after the end of the stream")
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
		{Event{Data: []byte("a\nb\r\nc\rd")}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{Event{Data: nil}, "data: \n\n"},
		{Event{Type: "x", ID: "7", Data: []byte("y\n")}, "event: x\nid: 7\ndata: y\ndata: \n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendEvent(nil, tt.ev)); got != tt.want {
			t.Errorf("AppendEvent(%q) = %q, want %q", tt.ev, got, tt.want)
		}
		back, err := sseEvents(strings.NewReader(tt.want), false, 0)
		if err != nil || !eventsEqual(back, []Event{tt.ev}, true) && !(len(back) == 1 && string(back[0].Data) == strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(tt.ev.Data))) {
			t.Errorf("reading %q back = %q, %v", tt.want, back, err)
		}
	}
}

// flushRecorder records flushes.
type flushRecorder struct {
	*httptest.ResponseRecorder
	mu      sync.Mutex
	flushes int
	bodyAt  []int // body length at every flush
}

func (f *flushRecorder) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	f.bodyAt = append(f.bodyAt, f.Body.Len())
}

type noFlush struct{ h http.Header }

func (n *noFlush) Header() http.Header         { return n.h }
func (n *noFlush) Write(b []byte) (int, error) { return len(b), nil }
func (n *noFlush) WriteHeader(int)             {}

type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestSSEWriter(t *testing.T) {
	big := Event{Type: "content_block_delta", Data: bytes.Repeat([]byte("xyz\n"), slabSize/3)} // more than a slab
	evs := []Event{{Type: "ping", Data: []byte(`{"type":"ping"}`)}, big, {Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}}
	var slabs slabPool
	for _, pooled := range []bool{false, true} {
		rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
		rec.Header().Set("Content-Length", "12")
		sw, err := NewSSEWriter(wrapped{rec}) // found through Unwrap
		if err != nil {
			t.Fatal(err)
		}
		if pooled {
			sw.slabs = &slabs // encoding in borrowed buffers, as the Router's writers do
		}
		if sw.Started() {
			t.Fatal("Started before any write")
		}
		var want []byte
		for _, ev := range evs {
			if err := sw.WriteEvent(ev); err != nil {
				t.Fatal(err)
			}
			want = AppendEvent(want, ev)
		}
		if !sw.Started() || rec.Code != 200 {
			t.Errorf("pooled=%v: Started %v, code %d", pooled, sw.Started(), rec.Code)
		}
		h := rec.Header()
		if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("Content-Length") != "" {
			t.Errorf("pooled=%v: headers = %v", pooled, h)
		}
		if rec.Body.String() != string(want) {
			t.Errorf("pooled=%v: body = %q, want %q", pooled, rec.Body.String(), want)
		}
		if rec.flushes != 3 || rec.bodyAt[0] != len(AppendEvent(nil, evs[0])) {
			t.Errorf("pooled=%v: flushes = %d at %v; want one after each event", pooled, rec.flushes, rec.bodyAt)
		}
		if pooled && sw.buf != nil {
			t.Error("a writer with slabs kept a buffer")
		}
	}

	if _, err := NewSSEWriter(&noFlush{h: http.Header{}}); err == nil {
		t.Error("NewSSEWriter accepted a writer that cannot flush")
	} else if e := asError(err); e.status() != 500 {
		t.Errorf("error status %d, want 500", e.status())
	}
}

// TestSSEWriterConcurrent writes pings from another goroutine, as the
// router's keep-alive timer does; run with -race.
func TestSSEWriterConcurrent(t *testing.T) {
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	sw, err := NewSSEWriter(rec)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				sw.WriteEvent(Event{Type: "ping", Data: []byte(`{"type":"ping"}`)})
			}
		})
	}
	wg.Wait()
	got, err := sseEvents(bytes.NewReader(rec.Body.Bytes()), false, 0)
	if err != nil || len(got) != 200 {
		t.Fatalf("%d events, err %v; frames interleaved?", len(got), err)
	}
}

// FuzzSSEReader: the reader never panics or hangs, and re-reading what
// AppendEvent writes for the parsed events gives the same events.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n", "event: x\r\ndata: b\r\n\r\n", "data: a\rdata: b\r\r", ": c\n\ndata\n\n",
		"id: 1\ndata: {\"a\":\n data: 1}\n\n", "\xEF\xBB\xBFdata: x\n\n", "data: [DONE]", "data:  two\n\nevent:\ndata:\n\n",
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud83d\"}}]}\n\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, lenient bool) {
		first, err := sseEvents(bytes.NewReader(b), lenient, 1<<16)
		if err != nil && !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("unexpected error %v", err)
		}
		if err != nil {
			return
		}
		onebyte, err := sseEvents(iotest.OneByteReader(bytes.NewReader(b)), lenient, 1<<16)
		if err != nil || !eventsEqual(onebyte, first, true) {
			t.Fatalf("one byte at a time differs: %q vs %q (%v)", onebyte, first, err)
		}
		var out []byte
		idsStable := true
		for i, ev := range first {
			out = AppendEvent(out, ev)
			if i > 0 && ev.ID == "" && first[i-1].ID != "" {
				idsStable = false // an empty id: line cannot be written back
			}
		}
		again, err := sseEvents(bytes.NewReader(out), false, 0)
		if err != nil || !eventsEqual(again, first, idsStable) {
			t.Fatalf("parse(write(parse(b))) != parse(b)\n b     %q\n first %q\n again %q (%v)", b, first, again, err)
		}
	})
}
