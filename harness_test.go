package ccr

// Test machinery shared by the package's tests: golden files, test case
// discovery, reading and checking converter streams, the ways a network
// can deliver an upstream body, and a fake clock.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// checkGolden compares got with the golden file at path, or rewrites the
// file with -update.
func checkGolden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update after checking the diff)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// readFile returns the file's content, failing the test if it cannot be
// read.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readOptional returns the file's content, or nil if it does not exist.
func readOptional(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indentJSON pretty-prints b, with a final newline, for a golden file.
func indentJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// compactJSON returns b without insignificant white space.
func compactJSON(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return buf.String()
}

// forEachCase runs fn as a parallel subtest for every file matching
// pattern, failing if there is none. A subtest is named by the file's base
// name without what the pattern's last "*" is followed by: the case of
// "testdata/x/*.in.json" at "testdata/x/a.in.json" is "a".
func forEachCase(t *testing.T, pattern string, fn func(t *testing.T, path string)) {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no cases match %s: %v", pattern, err)
	}
	suffix := pattern[strings.LastIndex(pattern, "*")+1:]
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), suffix), func(t *testing.T) {
			t.Parallel()
			fn(t, p)
		})
	}
}

// countingIDs returns an id generator for converters that numbers its ids
// (prefix, then 24 digits), so that goldens are stable.
func countingIDs() func(prefix string) string {
	var n atomic.Int64
	return func(prefix string) string { return fmt.Sprintf("%s%024d", prefix, n.Add(1)) }
}

// envMap returns a getenv function over m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// newTestRouter builds a Router from the text of a config file, logging
// to the test. A config that does not parse fails the test.
func newTestRouter(t *testing.T, config string) (*Router, error) {
	t.Helper()
	c, _, err := ParseConfig(strings.NewReader(config), nil)
	if err != nil {
		t.Fatalf("ParseConfig: %v\n%s", err, config)
	}
	c.Logger = testLogger(t)
	return New(c)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// maxTestEvents bounds readEvents, so that an endless reader fails a test
// instead of hanging it.
const maxTestEvents = 1 << 20

// errTooManyEvents ends a read that went past its limit.
var errTooManyEvents = errors.New("test: too many events")

// readEvents drains r, returning the events and the error that ended them
// (nil for io.EOF).
func readEvents(r EventReader) ([]Event, error) { return readEventsMax(r, maxTestEvents) }

// readEventsMax is readEvents failing with errTooManyEvents after limit
// events.
func readEventsMax(r EventReader, limit int) ([]Event, error) {
	var evs []Event
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
		if len(evs) > limit {
			return evs, errTooManyEvents
		}
	}
}

// eventsEqual reports whether a and b hold the same events, comparing ids
// too if withID.
func eventsEqual(a, b []Event, withID bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) || withID && a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// readStream reads r with readEvents and checks that its end stays: a
// later read returns io.EOF, or the same error, again.
func readStream(t testing.TB, r EventReader) ([]Event, error) {
	t.Helper()
	evs, err := readEvents(r)
	if _, again := r.ReadEvent(); (err == nil && again != io.EOF) || (err != nil && again != err) {
		t.Errorf("ReadEvent after the end = %v, want %v again", again, err)
	}
	return evs, err
}

// convertStream converts the upstream SSE body read from r with tr, as
// the router does, and reads the result with readStream.
func convertStream(t testing.TB, tr Transformer, req *Request, r io.Reader) ([]Event, error) {
	t.Helper()
	return readStream(t, tr.TransformStream(t.Context(), req, upstreamSSE(r)))
}

// sseBodyEvents parses an SSE body the router wrote.
func sseBodyEvents(t testing.TB, body []byte) []Event {
	t.Helper()
	evs, err := readEvents(NewSSEReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("SSE body: %v", err)
	}
	return evs
}

// upstreamSSE returns the reader the router gives a transformer for an
// upstream body.
func upstreamSSE(r io.Reader) *SSEReader {
	s := NewSSEReader(r)
	s.DispatchAtEOF = true
	return s
}

// eventsSSE renders events as SSE text.
func eventsSSE(evs []Event) []byte {
	var b []byte
	for _, ev := range evs {
		b = AppendEvent(b, ev)
	}
	return b
}

// streamRules names the promises of checkStream that a converter, by
// design, does not make. The zero value checks everything.
type streamRules struct {
	// rawToolInput accepts tool input that does not add up to a JSON
	// object: the OpenAI converter streams the upstream's arguments as they
	// arrive (protocol.md §4.5) unless asked to repair them.
	rawToolInput bool
}

// checkStream verifies the invariants strict clients rely on (I1–I6 of
// protocol.md §1.7) on a converter's or the router's output, and what the
// converters promise beyond them. errored says whether the stream ended
// with an error instead of io.EOF. The error lists every problem found.
//
//   - The first event is message_start, and the only one; after it, pings
//     may come anywhere; every event's name is its data's type.
//   - Blocks are numbered 0, 1, 2, ... in start order (I1), one is open at
//     a time (I3), and deltas and stops go to the open block, deltas of its
//     type (I2); no block starts after message_delta (I4).
//   - A text block starts empty; a tool_use block starts with a valid id,
//     a name and input {}; tool input deltas add up to a JSON object; a
//     thinking block is signed.
//   - One message_delta, with usage and a stop_reason of §1.5 (I6), after
//     the last block; then message_stop, last (I4). No [DONE] (I5).
//   - A stream that failed did not stop; one that ended cleanly did.
func checkStream(evs []Event, errored bool) error {
	return streamRules{}.check(evs, errored)
}

// check is checkStream under the rules.
func (rules streamRules) check(evs []Event, errored bool) error {
	var probs []error
	bad := func(i int, f string, a ...any) {
		probs = append(probs, fmt.Errorf("event %d: %s", i, fmt.Sprintf(f, a...)))
	}
	var (
		deltaSeen, stopped, signed bool
		next                       int
		open                       = -1
		openType                   string
		input                      strings.Builder
	)
	for i, ev := range evs {
		if stopped {
			bad(i, "%s after message_stop (I4)", ev.Type)
			continue
		}
		if bytes.Contains(ev.Data, []byte("[DONE]")) && !json.Valid(ev.Data) {
			bad(i, "[DONE] in output (I5)")
			continue
		}
		var env struct {
			Type         string          `json:"type"`
			Index        *int            `json:"index"`
			ContentBlock json.RawMessage `json:"content_block"`
			Delta        json.RawMessage `json:"delta"`
		}
		if err := json.Unmarshal(ev.Data, &env); err != nil {
			bad(i, "(%s) data is not JSON: %v", ev.Type, err)
			continue
		}
		if ev.Type == "" || env.Type != ev.Type {
			bad(i, "event name %q, data type %q", ev.Type, env.Type)
		}
		if i == 0 && ev.Type != "message_start" {
			bad(i, "%s before message_start", ev.Type)
		}
		switch ev.Type {
		case "message_start":
			if i != 0 {
				bad(i, "message_start not first or repeated")
			}
		case "ping":
		case "content_block_start":
			if deltaSeen {
				bad(i, "content_block_start after message_delta (I4)")
			}
			if open >= 0 {
				bad(i, "block started while %d is open (I3)", open)
			}
			if env.Index == nil || *env.Index != next {
				bad(i, "block index %s, want %d (I1)", indexString(env.Index), next)
			}
			var cb struct {
				Type  string          `json:"type"`
				ID    string          `json:"id"`
				Name  string          `json:"name"`
				Input json.RawMessage `json:"input"`
				Text  string          `json:"text"`
			}
			if err := json.Unmarshal(env.ContentBlock, &cb); err != nil {
				bad(i, "content_block: %v", err)
			}
			switch cb.Type {
			case "tool_use":
				if cb.ID == "" || sanitizeID(cb.ID) != cb.ID || cb.Name == "" || string(cb.Input) != "{}" {
					bad(i, "bad tool_use start %s", env.ContentBlock)
				}
			case "text":
				if cb.Text != "" {
					bad(i, "text block starts with text %q", cb.Text)
				}
			}
			if env.Index != nil {
				next = *env.Index
			}
			open, openType, signed = next, cb.Type, false
			input.Reset()
			next++
		case "content_block_delta":
			if env.Index == nil || *env.Index != open {
				bad(i, "delta for block %s, open is %d (I2)", indexString(env.Index), open)
				continue
			}
			var d struct {
				Type        string `json:"type"`
				Signature   string `json:"signature"`
				PartialJSON string `json:"partial_json"`
			}
			if err := json.Unmarshal(env.Delta, &d); err != nil {
				bad(i, "delta: %v", err)
				continue
			}
			want := map[string]string{"text_delta": "text", "citations_delta": "text", "input_json_delta": "tool_use",
				"thinking_delta": "thinking", "signature_delta": "thinking"}[d.Type]
			if want == "" || (want != openType && !(want == "tool_use" && openType == "server_tool_use")) {
				bad(i, "%s delta in a %s block (I2)", d.Type, openType)
			}
			if d.Type == "signature_delta" {
				signed = d.Signature != ""
			}
			input.WriteString(d.PartialJSON)
		case "content_block_stop":
			if env.Index == nil || *env.Index != open {
				bad(i, "stop for block %s, open is %d (I2)", indexString(env.Index), open)
				continue
			}
			if openType == "thinking" && !signed {
				bad(i, "thinking block %d closed without a signature", open)
			}
			if (openType == "tool_use" || openType == "server_tool_use") && input.Len() > 0 && !rules.rawToolInput {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal([]byte(input.String()), &obj); err != nil {
					bad(i, "tool input %q is not a JSON object: %v", input.String(), err)
				}
			}
			open = -1
		case "message_delta":
			if open >= 0 {
				bad(i, "message_delta with block %d open (I4)", open)
			}
			if deltaSeen {
				bad(i, "second message_delta")
			}
			var d struct {
				Delta struct {
					StopReason string `json:"stop_reason"`
				} `json:"delta"`
				Usage json.RawMessage `json:"usage"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				bad(i, "%v", err)
			}
			switch d.Delta.StopReason {
			case "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded":
			default:
				bad(i, "stop_reason %q (I6)", d.Delta.StopReason)
			}
			if len(d.Usage) == 0 {
				bad(i, "message_delta without usage")
			}
			deltaSeen = true
		case "message_stop":
			if !deltaSeen {
				bad(i, "message_stop without message_delta (I4)")
			}
			stopped = true
		default:
			bad(i, "unexpected event %q", ev.Type)
		}
	}
	switch {
	case errored && stopped:
		probs = append(probs, errors.New("stream both stopped and failed"))
	case !errored && !stopped:
		probs = append(probs, errors.New("clean end without message_stop"))
	}
	return errors.Join(probs...)
}

func indexString(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// checkStreamError checks the error that ended a converter's stream: an
// *Error or one wrapping ErrTruncated, and an *Error if no event came
// before it, so that the router can answer with its HTTP status.
func checkStreamError(evs []Event, err error) error {
	var e *Error
	switch {
	case err == nil:
	case len(evs) == 0 && !errors.As(err, &e):
		return fmt.Errorf("error before the first event is %T %v, want *Error", err, err)
	case !errors.As(err, &e) && !errors.Is(err, ErrTruncated):
		return fmt.Errorf("error %T %v is neither an *Error nor ErrTruncated", err, err)
	}
	return nil
}

// problems applies checkStreamError and the rules' check to the events
// and final error of a converter's stream.
func (rules streamRules) problems(evs []Event, err error) error {
	return errors.Join(checkStreamError(evs, err), rules.check(evs, err != nil))
}

// streamVariants are the ways a network can deliver the same upstream
// bytes.
var streamVariants = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"onebyte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"crlf", func(b []byte) io.Reader { return bytes.NewReader(toCRLF(b)) }},
	{"crlf-onebyte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(toCRLF(b))) }},
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

// checkStreamVariants converts the upstream SSE body in every one of
// streamVariants. convert builds a fresh converter over the upstream
// reader it is given; render turns its events and final error into the
// golden text. Every run must pass the rules' problems and keep its final
// error for later reads; the whole read must give the golden file, and
// every other variant the same text.
func checkStreamVariants(t *testing.T, rules streamRules, upstream []byte, golden string, convert func(src EventReader) EventReader, render func(evs []Event, err error) []byte) {
	t.Helper()
	var first []byte
	for _, v := range streamVariants {
		evs, err := readStream(t, convert(upstreamSSE(v.wrap(upstream))))
		if perr := rules.problems(evs, err); perr != nil {
			t.Errorf("%s: %v\n%s", v.name, perr, eventsSSE(evs))
		}
		got := render(evs, err)
		if first == nil {
			first = got
			checkGolden(t, golden, got)
			continue
		}
		if !bytes.Equal(got, first) {
			t.Errorf("%s: output differs from the whole read\n--- got\n%s\n--- whole\n%s", v.name, got, first)
		}
	}
}

// accumulate rebuilds the content blocks and the stop reason of a message
// from its stream events, as a client does. Tool input must be JSON.
func accumulate(t testing.TB, evs []Event) (Content, string) {
	t.Helper()
	var (
		blocks Content
		inputs []string
		stop   string
	)
	for _, ev := range evs {
		var e struct {
			ContentBlock ContentBlock `json:"content_block"`
			Delta        struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				Thinking    string `json:"thinking"`
				Signature   string `json:"signature"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("%s: %v", ev.Type, err)
		}
		switch ev.Type {
		case "content_block_start":
			blocks = append(blocks, e.ContentBlock)
			inputs = append(inputs, "")
		case "content_block_delta":
			b := &blocks[len(blocks)-1]
			b.Text += e.Delta.Text
			b.Thinking += e.Delta.Thinking
			b.Signature += e.Delta.Signature
			inputs[len(inputs)-1] += e.Delta.PartialJSON
		case "content_block_stop":
			if p := inputs[len(inputs)-1]; p != "" {
				if !json.Valid([]byte(p)) {
					t.Fatalf("tool input %q is not JSON", p)
				}
				blocks[len(blocks)-1].Input = json.RawMessage(p)
			}
		case "message_delta":
			stop = e.Delta.StopReason
		}
	}
	return blocks, stop
}

// collectStream rebuilds the content blocks of an SSE answer of the
// router the way a client does, checking the stream invariants on the
// way.
func collectStream(t testing.TB, body []byte) (Content, string) {
	t.Helper()
	evs := sseBodyEvents(t, body)
	if err := checkStream(evs, false); err != nil {
		t.Errorf("invariant: %v\n%s", err, body)
	}
	return accumulate(t, evs)
}

// answerContent returns the blocks and the stop reason of a /v1/messages
// answer of the router: a stream, read with collectStream, or JSON.
func answerContent(t testing.TB, stream bool, body []byte) (Content, string) {
	t.Helper()
	if stream {
		return collectStream(t, body)
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("answer: %v\n%s", err, body)
	}
	return resp.Content, resp.StopReason
}

// TestCheckStream makes sure the checker used on every stream output
// rejects each kind of violation.
func TestCheckStream(t *testing.T) {
	e := func(typ, data string) Event { return Event{Type: typ, Data: []byte(data)} }
	ms := e("message_start", `{"type":"message_start","message":{}}`)
	ping := e("ping", `{"type":"ping"}`)
	start := func(i int, cb string) Event {
		return e("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":%s}`, i, cb))
	}
	st := func(i int, typ string) Event {
		switch typ {
		case "tool_use":
			return start(i, `{"type":"tool_use","id":"toolu_1","name":"x","input":{}}`)
		case "thinking":
			return start(i, `{"type":"thinking","thinking":"","signature":""}`)
		}
		return start(i, `{"type":"text","text":""}`)
	}
	delta := func(i int, d string) Event {
		return e("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":%s}`, i, d))
	}
	td := func(i int) Event { return delta(i, `{"type":"text_delta","text":"x"}`) }
	sig := func(i int) Event { return delta(i, `{"type":"signature_delta","signature":"s"}`) }
	args := func(i int, s string) Event {
		b, _ := json.Marshal(s)
		return delta(i, `{"type":"input_json_delta","partial_json":`+string(b)+`}`)
	}
	x := func(i int) Event {
		return e("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i))
	}
	md := func(r string) Event {
		return e("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+r+`"},"usage":{"output_tokens":0}}`)
	}
	stop := e("message_stop", `{"type":"message_stop"}`)
	good := map[string][]Event{
		"text":     {ms, ping, st(0, "text"), td(0), x(0), md("end_turn"), stop},
		"thinking": {ms, st(0, "thinking"), delta(0, `{"type":"thinking_delta","thinking":"hm"}`), sig(0), x(0), md("end_turn"), stop},
		"tool":     {ms, st(0, "tool_use"), args(0, `{"a":`), args(0, `1}`), x(0), md("tool_use"), stop},
		"server tool": {ms, start(0, `{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}`), args(0, `{"q":1}`), x(0),
			start(1, `{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}`), x(1), md("end_turn"), stop},
		"citations": {ms, st(0, "text"), delta(0, `{"type":"citations_delta","citation":{}}`), x(0), md("end_turn"), stop},
	}
	for name, evs := range good {
		if err := checkStream(evs, false); err != nil {
			t.Errorf("%s: good stream rejected: %v", name, err)
		}
	}
	if err := checkStream([]Event{ms, st(0, "text")}, true); err != nil {
		t.Errorf("failed stream rejected: %v", err)
	}
	bad := map[string][]Event{
		"no message_start":          {st(0, "text"), x(0), md("end_turn"), stop},
		"ping before message_start": {ping, ms, md("end_turn"), stop},
		"two message_start":         {ms, ms, md("end_turn"), stop},
		"index gap":                 {ms, st(1, "text"), x(1), md("end_turn"), stop},
		"no index":                  {ms, e("content_block_start", `{"type":"content_block_start","content_block":{"type":"text","text":""}}`), x(0), md("end_turn"), stop},
		"two open blocks":           {ms, st(0, "text"), st(1, "text"), x(1), x(0), md("end_turn"), stop},
		"delta to closed block":     {ms, st(0, "text"), x(0), td(0), md("end_turn"), stop},
		"text delta in tool":        {ms, st(0, "tool_use"), td(0), x(0), md("end_turn"), stop},
		"unknown delta":             {ms, st(0, "text"), delta(0, `{"type":"magic_delta"}`), x(0), md("end_turn"), stop},
		"delta to result block":     {ms, start(0, `{"type":"web_search_tool_result","content":[]}`), td(0), x(0), md("end_turn"), stop},
		"text block with text":      {ms, start(0, `{"type":"text","text":"x"}`), x(0), md("end_turn"), stop},
		"tool without id":           {ms, start(0, `{"type":"tool_use","id":"","name":"x","input":{}}`), x(0), md("end_turn"), stop},
		"tool with bad id":          {ms, start(0, `{"type":"tool_use","id":"a.b","name":"x","input":{}}`), x(0), md("end_turn"), stop},
		"tool without name":         {ms, start(0, `{"type":"tool_use","id":"toolu_1","name":"","input":{}}`), x(0), md("end_turn"), stop},
		"tool with input":           {ms, start(0, `{"type":"tool_use","id":"toolu_1","name":"x","input":{"a":1}}`), x(0), md("end_turn"), stop},
		"tool input not JSON":       {ms, st(0, "tool_use"), args(0, `{"a":`), x(0), md("tool_use"), stop},
		"tool input not an object":  {ms, st(0, "tool_use"), args(0, `[1]`), x(0), md("tool_use"), stop},
		"unsigned thinking":         {ms, st(0, "thinking"), delta(0, `{"type":"thinking_delta","thinking":"hm"}`), x(0), md("end_turn"), stop},
		"delta before stop":         {ms, st(0, "text"), md("end_turn"), x(0), stop},
		"block after delta":         {ms, md("end_turn"), st(0, "text"), x(0), stop},
		"bad stop reason":           {ms, md("error"), stop},
		"no usage":                  {ms, e("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"}}`), stop},
		"two message_delta":         {ms, md("end_turn"), md("end_turn"), stop},
		"stop without delta":        {ms, stop},
		"missing message_stop":      {ms, md("end_turn")},
		"event after stop":          {ms, md("end_turn"), stop, ping},
		"done marker":               {ms, e("", "[DONE]")},
		"not JSON":                  {ms, e("content_block_delta", "{")},
		"no event name":             {ms, e("", `{"type":"ping"}`)},
		"name mismatch":             {ms, e("content_block_stop", `{"type":"message_stop"}`)},
		"unexpected event":          {ms, e("error", `{"type":"error","error":{}}`), md("end_turn"), stop},
	}
	for name, evs := range bad {
		if err := checkStream(evs, false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := checkStream([]Event{ms, md("end_turn"), stop}, true); err == nil {
		t.Error("a stream that both stopped and failed was accepted")
	}
	for _, tc := range []struct {
		rules streamRules
		evs   []Event
	}{
		{streamRules{rawToolInput: true}, bad["tool input not JSON"]},
		{streamRules{rawToolInput: true}, bad["tool input not an object"]},
	} {
		if err := tc.rules.check(tc.evs, false); err != nil {
			t.Errorf("%+v: rejected: %v", tc.rules, err)
		}
	}
	for _, rules := range []streamRules{{rawToolInput: true}} {
		for name, evs := range bad {
			if name == "tool input not JSON" || name == "tool input not an object" {
				continue
			}
			if rules.check(evs, false) == nil {
				t.Errorf("%+v: %s: accepted", rules, name)
			}
		}
	}
}

// TestCheckStreamError checks the rule for the error that ends a stream.
func TestCheckStreamError(t *testing.T) {
	ev := []Event{{Type: "message_start", Data: []byte(`{"type":"message_start"}`)}}
	for _, tc := range []struct {
		name string
		evs  []Event
		err  error
		ok   bool
	}{
		{"clean", ev, nil, true},
		{"*Error first", nil, &Error{Status: 502}, true},
		{"truncated first", nil, ErrTruncated, false},
		{"other first", nil, io.ErrUnexpectedEOF, false},
		{"truncated later", ev, fmt.Errorf("x: %w", ErrTruncated), true},
		{"*Error later", ev, &Error{Status: 500}, true},
		{"other later", ev, io.ErrUnexpectedEOF, false},
	} {
		if err := checkStreamError(tc.evs, tc.err); (err == nil) != tc.ok {
			t.Errorf("%s: checkStreamError = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
