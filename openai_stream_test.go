package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// loadStreamCase reads a testdata/openai/stream case: the upstream
// transcript, a function building a fresh converter over a source for the
// case's options and request, and the rules its output keeps.
func loadStreamCase(t *testing.T, dir string) ([]byte, func(src EventReader) EventReader, streamRules) {
	t.Helper()
	options := readOptional(t, filepath.Join(dir, "options.json"))
	var req Request
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "request.json")), &req); err != nil {
		t.Fatalf("request.json: %v", err)
	}
	routeRequest(&req)
	convert := func(src EventReader) EventReader {
		return testOpenAI(t, options).TransformStream(t.Context(), &req, src)
	}
	rules := streamRules{rawToolInput: !testOpenAI(t, options).opts.RepairToolArgs}
	return readFile(t, filepath.Join(dir, "upstream.sse")), convert, rules
}

// TestOpenAIStreamGolden runs every testdata/openai/stream case in every
// read variant; all must give want.sse and satisfy the stream invariants.
func TestOpenAIStreamGolden(t *testing.T) {
	forEachCase(t, "testdata/openai/stream/*", func(t *testing.T, dir string) {
		up, convert, rules := loadStreamCase(t, dir)
		checkStreamVariants(t, rules, up, filepath.Join(dir, "want.sse"), convert, renderEvents)
	})
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
			evs, err := readEvents(rd)
			if len(evs) != tt.events || !tt.check(err) {
				t.Fatalf("got %d events, err %v; want %d events\n%s", len(evs), err, tt.events, renderEvents(evs, err))
			}
			if ierr := checkStream(evs, err != nil); ierr != nil {
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
			evs, err := readEvents(tr.TransformStream(t.Context(), &Request{Model: "m"}, upstreamSSE(v.wrap(up.Bytes()))))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkStream(evs, false); err != nil {
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
		evs, err := readEvents(tr.TransformStream(t.Context(), &Request{Model: "m"}, src))
		if lenient && err != nil {
			t.Errorf("lenient: err = %v, want clean end", err)
		}
		if !lenient && !errors.Is(err, ErrTruncated) {
			t.Errorf("strict: err = %v, want ErrTruncated (the [DONE] frame was never completed)", err)
		}
		if ierr := checkStream(evs, err != nil); ierr != nil {
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
	evs, err := readEvents(responseEvents(resp))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStream(evs, false); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/openai/replay/json_body.want.sse", renderEvents(evs, nil))
}
