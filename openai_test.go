package ccr

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
	"sync/atomic"
	"testing"
)

// The -update flag rewrites golden files. It is registered only if no
// other test file of the package registered it first.
var _ = func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata golden files")
	}
	return true
}()

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkGoldenFile compares got with the golden file at path, or rewrites the
// file with -update.
func checkGoldenFile(t *testing.T, path string, got []byte) {
	t.Helper()
	if updateGolden() {
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

// testOpenAI builds the OpenAI transformer the way a config would: through
// the "openai" TransformerDef with options (nil for none), with ids from
// a counter so goldens are stable.
func testOpenAI(t testing.TB, options json.RawMessage) *openAI {
	t.Helper()
	def, ok := DefaultTransformers()["openai"]
	if !ok {
		t.Fatal(`DefaultTransformers has no "openai"`)
	}
	var c Chain
	if err := def.Apply(&c, options); err != nil {
		t.Fatalf("apply options %s: %v", options, err)
	}
	if c.Format != nil {
		t.Fatal("openai Apply set a Format; want nil (OpenAI from c.OpenAI)")
	}
	tr := newOpenAI(c.OpenAI)
	var n atomic.Int64
	tr.newID = func(prefix string) string {
		return fmt.Sprintf("%s%024d", prefix, n.Add(1))
	}
	return tr
}

// readOptional returns the file's content, or nil if it does not exist.
func readOptional(t *testing.T, path string) []byte {
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

// routeRequest does what the router does before a transformer sees the
// request: the client's model is kept in ClientModel and a
// "provider,model" string is split.
func routeRequest(req *Request) {
	req.ClientModel = req.Model
	if _, m, ok := strings.Cut(req.Model, ","); ok {
		req.Model = strings.TrimSpace(m)
	}
}

// prettyJSON pretty-prints b for a golden file.
func prettyJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// errorGolden renders an error for a golden file.
func errorGolden(t *testing.T, err error) []byte {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not an *Error: %T %v", err, err)
	}
	b, mErr := marshalNoEscape(struct {
		Status  int               `json:"status"`
		Type    string            `json:"type"`
		Message string            `json:"message"`
		Header  map[string]string `json:"header,omitempty"`
	}{e.status(), e.typ(), e.Message, flatHeader(e.Header)})
	if mErr != nil {
		t.Fatal(mErr)
	}
	return prettyJSON(t, b)
}

func flatHeader(h map[string][]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[k] = strings.Join(v, ", ")
	}
	return m
}

// readAll drains r, returning the events and the final error (nil for a
// clean io.EOF). It stops after limit events to catch endless readers.
func readAll(r EventReader, limit int) ([]Event, error) {
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
			return evs, errors.New("test: too many events")
		}
	}
}

// renderEvents writes events and a final error the way the router does:
// an error before any event is an HTTP status (noted as a comment line),
// after that an event: error frame.
func renderEvents(evs []Event, err error) []byte {
	var out []byte
	if err != nil && len(evs) == 0 {
		out = fmt.Appendf(out, ": http %d\n", asError(err).status())
	}
	for _, ev := range evs {
		out = AppendEvent(out, ev)
	}
	if err != nil {
		out = AppendEvent(out, errorEvent(asError(err)))
	}
	return out
}

// checkInvariants verifies I1–I6 of protocol.md §1.7 on a converter's
// output. errored says whether the stream ended with an error instead of
// io.EOF.
func checkInvariants(evs []Event, errored bool) error {
	var (
		started, deltaSeen, stopped bool
		next                        int
		open                        = -1
		openType                    string
	)
	for i, ev := range evs {
		if stopped {
			return fmt.Errorf("event %d (%s) after message_stop", i, ev.Type)
		}
		if bytes.Contains(ev.Data, []byte("[DONE]")) && !json.Valid(ev.Data) {
			return fmt.Errorf("event %d: [DONE] in output (I5)", i)
		}
		var env struct {
			Type         string          `json:"type"`
			Index        *int            `json:"index"`
			ContentBlock json.RawMessage `json:"content_block"`
			Delta        json.RawMessage `json:"delta"`
		}
		if err := json.Unmarshal(ev.Data, &env); err != nil {
			return fmt.Errorf("event %d (%s): data is not JSON: %v", i, ev.Type, err)
		}
		if ev.Type == "" || env.Type != ev.Type {
			return fmt.Errorf("event %d: event name %q, data type %q", i, ev.Type, env.Type)
		}
		if ev.Type != "message_start" && ev.Type != "ping" && !started {
			return fmt.Errorf("event %d (%s) before message_start", i, ev.Type)
		}
		switch ev.Type {
		case "message_start":
			if started || i != 0 {
				return fmt.Errorf("event %d: message_start not first or repeated", i)
			}
			started = true
		case "ping":
		case "content_block_start":
			if deltaSeen {
				return fmt.Errorf("event %d: content_block_start after message_delta (I4)", i)
			}
			if open >= 0 {
				return fmt.Errorf("event %d: block %d started while %d is open (I3)", i, *env.Index, open)
			}
			if env.Index == nil || *env.Index != next {
				return fmt.Errorf("event %d: block index %v, want %d (I1)", i, env.Index, next)
			}
			var cb struct {
				Type  string          `json:"type"`
				ID    string          `json:"id"`
				Name  string          `json:"name"`
				Input json.RawMessage `json:"input"`
			}
			if err := json.Unmarshal(env.ContentBlock, &cb); err != nil {
				return fmt.Errorf("event %d: content_block: %v", i, err)
			}
			if cb.Type == "tool_use" {
				if cb.ID == "" || sanitizeID(cb.ID) != cb.ID || cb.Name == "" || string(cb.Input) != "{}" {
					return fmt.Errorf("event %d: bad tool_use start %s", i, env.ContentBlock)
				}
			}
			open, openType = next, cb.Type
			next++
		case "content_block_delta":
			if env.Index == nil || *env.Index != open {
				return fmt.Errorf("event %d: delta for block %v, open is %d (I2)", i, env.Index, open)
			}
			var d struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(env.Delta, &d); err != nil {
				return fmt.Errorf("event %d: delta: %v", i, err)
			}
			want := map[string]string{"text_delta": "text", "citations_delta": "text", "input_json_delta": "tool_use",
				"thinking_delta": "thinking", "signature_delta": "thinking"}[d.Type]
			if want == "" || (want != openType && !(want == "tool_use" && openType == "server_tool_use")) {
				return fmt.Errorf("event %d: %s delta in a %s block (I2)", i, d.Type, openType)
			}
		case "content_block_stop":
			if env.Index == nil || *env.Index != open {
				return fmt.Errorf("event %d: stop for block %v, open is %d (I2)", i, env.Index, open)
			}
			open = -1
		case "message_delta":
			if open >= 0 {
				return fmt.Errorf("event %d: message_delta with block %d open (I4)", i, open)
			}
			var d struct {
				Delta struct {
					StopReason string `json:"stop_reason"`
				} `json:"delta"`
				Usage json.RawMessage `json:"usage"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				return fmt.Errorf("event %d: %v", i, err)
			}
			switch d.Delta.StopReason {
			case "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded":
			default:
				return fmt.Errorf("event %d: stop_reason %q (I6)", i, d.Delta.StopReason)
			}
			if len(d.Usage) == 0 {
				return fmt.Errorf("event %d: message_delta without usage", i)
			}
			deltaSeen = true
		case "message_stop":
			if !deltaSeen {
				return fmt.Errorf("event %d: message_stop without message_delta (I4)", i)
			}
			stopped = true
		default:
			return fmt.Errorf("event %d: unexpected event %q", i, ev.Type)
		}
	}
	if errored {
		if stopped {
			return errors.New("stream both stopped and failed")
		}
		return nil
	}
	if !stopped {
		return errors.New("clean end without message_stop")
	}
	return nil
}
