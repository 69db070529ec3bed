package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// streamVariants feeds the same upstream bytes in the ways a network can
// deliver them.
var streamVariants = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"onebyte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"crlf", func(b []byte) io.Reader { return bytes.NewReader(toCRLF(b)) }},
}

// toCRLF turns every "\n" not already preceded by '\r' into "\r\n".
func toCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/16)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// runOpenAIStream converts upstream SSE bytes read from r.
func runOpenAIStream(t testing.TB, tr *openAI, req *Request, r io.Reader) ([]Event, error) {
	t.Helper()
	src := NewSSEReader(r)
	src.DispatchAtEOF = true // §4.12 item 5
	return readAll(tr.TransformStream(t.Context(), req, src), 1<<20)
}

func loadStreamCase(t *testing.T, dir string) (*openAI, *Request, []byte) {
	t.Helper()
	tr := testOpenAI(t, readOptional(t, filepath.Join(dir, "options.json")))
	var req Request
	b, err := os.ReadFile(filepath.Join(dir, "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("request.json: %v", err)
	}
	routeRequest(&req)
	up, err := os.ReadFile(filepath.Join(dir, "upstream.sse"))
	if err != nil {
		t.Fatal(err)
	}
	return tr, &req, up
}

// TestOpenAIStreamGolden runs every testdata/openai/stream case whole, one
// byte at a time, in halves and with CRLF line endings; all must give
// want.sse and satisfy the stream invariants.
func TestOpenAIStreamGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/openai/stream/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no stream cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			var first []byte
			for _, v := range streamVariants {
				tr, req, up := loadStreamCase(t, dir)
				evs, err := runOpenAIStream(t, tr, req, v.wrap(up))
				if ierr := checkInvariants(evs, err != nil); ierr != nil {
					t.Errorf("%s: invariant: %v\n%s", v.name, ierr, renderEvents(evs, err))
				}
				if err != nil && len(evs) == 0 {
					var e *Error
					if !errors.As(err, &e) {
						t.Errorf("%s: error before the first event is %T, want *Error", v.name, err)
					}
				}
				got := renderEvents(evs, err)
				if first == nil {
					first = got
					checkGoldenFile(t, filepath.Join(dir, "want.sse"), got)
					continue
				}
				if !bytes.Equal(got, first) {
					t.Errorf("%s: output differs from whole read\n--- got\n%s\n--- whole\n%s", v.name, got, first)
				}
			}
		})
	}
}

// TestOpenAIStreamErrors checks the error values, not only their
// rendering: truncation wraps ErrTruncated, an empty stream is a 502
// before commit, and reader errors pass through unchanged.
func TestOpenAIStreamErrors(t *testing.T) {
	req := &Request{Model: "m", ClientModel: "claude-x"}
	boom := errors.New("connection reset")
	tests := []struct {
		name     string
		upstream string
		srcErr   error
		events   int
		check    func(error) bool
	}{
		{"empty", "", nil, 0, func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Status == 502 && errors.Is(err, ErrTruncated) && e.Message == "upstream returned an empty stream"
		}},
		{"comments only", ": keep-alive\n\n: again\n\n", nil, 0, func(err error) bool { return errors.Is(err, ErrTruncated) }},
		{"truncated", `data: {"choices":[{"index":0,"delta":{"content":"partial"}}]}` + "\n\n", nil, 3, func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Type == "api_error" && errors.Is(err, ErrTruncated)
		}},
		{"reader error passes through", `data: {"choices":[{"index":0,"delta":{"content":"x"}}]}` + "\n\n", boom, 3, func(err error) bool { return errors.Is(err, boom) }},
		{"idle after finish ends cleanly", `data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}` + "\n\n", ErrStreamIdle, 6, func(err error) bool { return err == nil }},
		{"idle before finish fails", `data: {"choices":[{"index":0,"delta":{"content":"x"}}]}` + "\n\n", ErrStreamIdle, 3, func(err error) bool { return errors.Is(err, ErrStreamIdle) }},
		{"429 in stream before commit", `data: {"error":{"code":429,"message":"slow down"}}` + "\n\n", nil, 0, func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Status == 429 && e.Type == "rate_limit_error"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := testOpenAI(t, nil)
			var r io.Reader = strings.NewReader(tt.upstream)
			if tt.srcErr != nil {
				r = io.MultiReader(r, iotest.ErrReader(tt.srcErr))
			}
			rd := tr.TransformStream(t.Context(), req, NewSSEReader(r))
			evs, err := readAll(rd, 100)
			if len(evs) != tt.events || !tt.check(err) {
				t.Fatalf("got %d events, err %v; want %d events\n%s", len(evs), err, tt.events, renderEvents(evs, err))
			}
			if ierr := checkInvariants(evs, err != nil); ierr != nil {
				t.Errorf("invariant: %v", ierr)
			}
			// The error is sticky.
			if _, err2 := rd.ReadEvent(); (err == nil && err2 != io.EOF) || (err != nil && err2 != err) {
				t.Errorf("second ReadEvent error = %v, want %v", err2, err)
			}
		})
	}
}

// TestOpenAIStreamLargeArguments is E35: a 5 MiB tool-argument line goes
// through untruncated.
func TestOpenAIStreamLargeArguments(t *testing.T) {
	big := strings.Repeat("x", 5<<20)
	args, _ := json.Marshal(`{"content":"` + big + `"}`)
	var up bytes.Buffer
	up.WriteString(`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Write","arguments":`)
	up.Write(args)
	up.WriteString("}}]},\"finish_reason\":null}]}\n\n")
	up.WriteString(`data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\ndata: [DONE]\n\n")
	for _, v := range streamVariants[:2] {
		t.Run(v.name, func(t *testing.T) {
			tr := testOpenAI(t, nil)
			evs, err := runOpenAIStream(t, tr, &Request{Model: "m"}, v.wrap(up.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkInvariants(evs, false); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, ev := range evs {
				var d struct {
					Delta struct {
						PartialJSON string `json:"partial_json"`
					} `json:"delta"`
				}
				if ev.Type == "content_block_delta" && json.Unmarshal(ev.Data, &d) == nil {
					got.WriteString(d.Delta.PartialJSON)
				}
			}
			if want := `{"content":"` + big + `"}`; got.String() != want {
				t.Fatalf("arguments: got %d bytes, want %d", got.Len(), len(want))
			}
		})
	}
}

// TestOpenAIStreamFinalFrameWithoutBlankLine checks both SSEReader modes
// on a stream whose last frame lacks its blank line.
func TestOpenAIStreamFinalFrameWithoutBlankLine(t *testing.T) {
	up := `data: {"choices":[{"index":0,"delta":{"content":"x"}}]}` + "\n\n" + `data: [DONE]`
	for _, lenient := range []bool{true, false} {
		tr := testOpenAI(t, nil)
		src := NewSSEReader(strings.NewReader(up))
		src.DispatchAtEOF = lenient
		evs, err := readAll(tr.TransformStream(t.Context(), &Request{Model: "m"}, src), 100)
		if lenient && err != nil {
			t.Errorf("lenient: err = %v, want clean end", err)
		}
		if !lenient && !errors.Is(err, ErrTruncated) {
			t.Errorf("strict: err = %v, want ErrTruncated (the [DONE] frame was never completed)", err)
		}
		if ierr := checkInvariants(evs, err != nil); ierr != nil {
			t.Error(ierr)
		}
	}
}

// TestResponseEvents is E32: a JSON body answering a streaming request is
// replayed as stream events.
func TestResponseEvents(t *testing.T) {
	tr := testOpenAI(t, nil)
	req := &Request{Model: "m", ClientModel: "claude-x"}
	body := `{"id":"c1","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","reasoning_content":"hm","content":"Hi","tool_calls":[{"id":"call_1","type":"function","function":{"name":"ls","arguments":"{\"d\":1}"}}]}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`
	resp, err := tr.TransformResponse(t.Context(), req, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readAll(responseEvents(resp), 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkInvariants(evs, false); err != nil {
		t.Fatal(err)
	}
	checkGoldenFile(t, "testdata/openai/replay/json_body.want.sse", renderEvents(evs, nil))
}

// TestCheckInvariants makes sure the checker used on every stream output
// rejects each kind of violation.
func TestCheckInvariants(t *testing.T) {
	e := func(typ, data string) Event { return Event{Type: typ, Data: []byte(data)} }
	ms := e("message_start", `{"type":"message_start","message":{}}`)
	st := func(i int, typ string) Event {
		cb := `{"type":"text","text":""}`
		switch typ {
		case "tool_use":
			cb = `{"type":"tool_use","id":"toolu_1","name":"x","input":{}}`
		case "thinking":
			cb = `{"type":"thinking","thinking":"","signature":""}`
		}
		return e("content_block_start", `{"type":"content_block_start","index":`+string(rune('0'+i))+`,"content_block":`+cb+`}`)
	}
	td := func(i int) Event {
		return e("content_block_delta", `{"type":"content_block_delta","index":`+string(rune('0'+i))+`,"delta":{"type":"text_delta","text":"x"}}`)
	}
	x := func(i int) Event {
		return e("content_block_stop", `{"type":"content_block_stop","index":`+string(rune('0'+i))+`}`)
	}
	md := func(r string) Event {
		return e("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+r+`"},"usage":{"output_tokens":0}}`)
	}
	stop := e("message_stop", `{"type":"message_stop"}`)
	good := []Event{ms, st(0, "text"), td(0), x(0), md("end_turn"), stop}
	if err := checkInvariants(good, false); err != nil {
		t.Fatalf("good stream rejected: %v", err)
	}
	bad := map[string][]Event{
		"no message_start":      {st(0, "text"), x(0), md("end_turn"), stop},
		"two message_start":     {ms, ms, md("end_turn"), stop},
		"index gap":             {ms, st(1, "text"), x(1), md("end_turn"), stop},
		"two open blocks":       {ms, st(0, "text"), st(1, "text"), x(1), x(0), md("end_turn"), stop},
		"delta to closed block": {ms, st(0, "text"), x(0), td(0), md("end_turn"), stop},
		"text delta in tool":    {ms, st(0, "tool_use"), td(0), x(0), md("end_turn"), stop},
		"delta before stop":     {ms, st(0, "text"), md("end_turn"), x(0), stop},
		"bad stop reason":       {ms, md("error"), stop},
		"missing message_stop":  {ms, md("end_turn")},
		"event after stop":      {ms, md("end_turn"), stop, td(0)},
		"done marker":           {ms, e("", "[DONE]")},
		"name mismatch":         {ms, e("content_block_stop", `{"type":"message_stop"}`)},
	}
	for name, evs := range bad {
		if err := checkInvariants(evs, false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := checkInvariants([]Event{ms, md("end_turn"), stop}, true); err == nil {
		t.Error("a stream that both stopped and failed was accepted")
	}
}
