package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// Fuzz targets for everything that parses bytes from a client or an
// upstream: the SSE reader (differentially, against a plain reference),
// request conversion, response conversion and every stream converter.
// The converter targets enumerate the built-in transformer definitions, so
// that each format registered in builtinTransformers is fuzzed without a
// target of its own. Run with -fuzztime; findings go under
// testdata/fuzz/<Target>/.

// fuzzChain is one built-in definition applied alone: its format and
// hooks.
type fuzzChain struct {
	name  string
	tr    Transformer
	hooks []Hook
}

// fuzzChains returns a chain per built-in definition that applies without
// options or environment. Definitions that only set hooks or OpenAI
// options get the default OpenAI format, when it is available.
func fuzzChains(tb testing.TB) []fuzzChain {
	tb.Helper()
	var out []fuzzChain
	for _, def := range builtinTransformers() {
		if def.Apply == nil {
			continue
		}
		c := &Chain{Provider: "p", BaseURL: "http://127.0.0.1:1/v1/chat/completions", Model: "m", Env: func(string) string { return "" }}
		if err := def.Apply(c, nil); err != nil {
			continue // needs options or credentials
		}
		tr := c.Format
		if tr == nil {
			tr = NewOpenAI(c.OpenAI)
		}
		if tr == nil {
			continue
		}
		out = append(out, fuzzChain{name: def.Name, tr: tr, hooks: c.Hooks})
	}
	if len(out) == 0 {
		tb.Fatal("no built-in format to fuzz")
	}
	return out
}

// refSSE is a plain reference implementation of the event-stream rules
// SSEReader follows: split the whole input into lines, then interpret
// them. It returns the events and whether it stopped at a line or event
// over max.
func refSSE(in []byte, atEOF bool, max int) (events []Event, tooLong bool) {
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF")) // one leading BOM is not content
	var lines [][]byte
	partial := false
	for i := 0; i < len(in); {
		j := bytes.IndexAny(in[i:], "\r\n")
		if j < 0 {
			lines = append(lines, in[i:])
			partial = true
			break
		}
		j += i
		lines = append(lines, in[i:j])
		if in[j] == '\r' && j+1 < len(in) && in[j+1] == '\n' {
			j++
		}
		i = j + 1
	}
	var data []byte
	hasData := false
	typ, id := "", ""
	for n, line := range lines {
		if len(line) > max {
			return events, true
		}
		last := partial && n == len(lines)-1
		if last && !atEOF {
			break
		}
		if len(line) == 0 && !last {
			if hasData {
				events = append(events, Event{Type: typ, Data: data, ID: id})
			}
			data, hasData, typ = nil, false, ""
			continue
		}
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if k := bytes.IndexByte(line, ':'); k >= 0 {
			name, value = line[:k], line[k+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
			if len(data) > max {
				return events, true
			}
		case "event":
			typ = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				id = string(value)
			}
		}
	}
	if atEOF && hasData {
		events = append(events, Event{Type: typ, Data: data, ID: id})
	}
	return events, false
}

var sseSeeds = []string{
	anthropicSSE,
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n",
	"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n",
	"data: x\r\rdata: y\r\r\n\n",
	": comment\nid: 7\nretry: 10\ndata:no space\n\n",
	"data: tail without blank line",
	"data: a\n\ndata: b\r",
	"event: e\n\nevent: f\ndata: g\n\n",
	"id: a\x00b\ndata: z\n\n",
	"data: " + string(bytes.Repeat([]byte("x"), 100)) + "\n\n",
	"\xEF\xBB\xBFdata: bom\n\n",
	"\xEF\xBB\xBF\xEF\xBB\xBFdata: two boms\n\n",
	"\xEF\xBBdata: half a bom\n\n",
	strings.Repeat("event: content_block_delta\ndata: {\"delta\":{\"text\":\"a few words\"}}\n\n", 40),
	"data: " + strings.Repeat("long ", 700) + "\r\n\r\ndata: after\r\n\r\n",
}

// burstReader returns its input in reads of the given sizes in turn, so
// that an SSEReader sees quiet stretches and bursts.
type burstReader struct {
	r     io.Reader
	sizes []int
	i     int
}

func (b *burstReader) Read(p []byte) (int, error) {
	n := b.sizes[b.i%len(b.sizes)]
	b.i++
	return b.r.Read(p[:min(n, len(p))])
}

// FuzzSSEReaderReference checks SSEReader against refSSE, whole, one byte
// at a time, and in bursts of varied sizes through a reader that borrows
// its burst buffer from a pool, with and without DispatchAtEOF, with a
// small line limit, and that writing the events back and reading them
// again gives the same events.
func FuzzSSEReaderReference(f *testing.F) {
	for _, s := range sseSeeds {
		f.Add([]byte(s))
	}
	var slabs slabPool // shared by the runs, as a Router's is by its streams
	// Read sizes around the small buffer's and the slab's: quiet
	// stretches, bursts that fill the small buffer, bursts larger than a
	// slab.
	paces := [][]int{{511, 1, 700, 2048}, {512, 5000}, {3, 513, 2048, 1}}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, atEOF := range []bool{false, true} {
			for _, max := range []int{DefaultMaxLineBytes, 64} {
				want, tooLong := refSSE(in, atEOF, max)
				for _, mode := range []string{"whole", "one byte", "bursts 0", "bursts 1", "bursts 2"} {
					var r *SSEReader
					switch mode {
					case "whole":
						r = NewSSEReader(bytes.NewReader(in))
					case "one byte":
						r = NewSSEReader(iotest.OneByteReader(bytes.NewReader(in)))
					default:
						pace := paces[mode[len(mode)-1]-'0']
						r = newPooledSSEReader(&burstReader{r: bytes.NewReader(in), sizes: pace}, &slabs)
					}
					r.DispatchAtEOF, r.MaxLineBytes = atEOF, max
					got, err := readEventsMax(r, len(in)+1)
					if tooLong != errors.Is(err, ErrLineTooLong) || err != nil && !tooLong {
						t.Fatalf("atEOF=%v max=%d %s: err %v; reference too long: %v", atEOF, max, mode, err, tooLong)
					}
					if !eventsEqual(got, want, true) {
						t.Fatalf("atEOF=%v max=%d %s:\n got %q\nwant %q", atEOF, max, mode, got, want)
					}
					if _, err2 := r.ReadEvent(); err2 == nil {
						t.Fatalf("ReadEvent after the end returned an event")
					}
				}
				if tooLong || max != DefaultMaxLineBytes {
					continue
				}
				var wire []byte
				for _, ev := range want {
					wire = AppendEvent(wire, ev)
				}
				again, err := readEventsMax(NewSSEReader(bytes.NewReader(wire)), len(wire)+1)
				if err != nil || !eventsEqual(again, want, false) {
					t.Fatalf("read(write(read(b))) != read(b): %v\n got %q\nwant %q", err, again, want)
				}
			}
		}
	})
}

// FuzzTransformRequestAllFormats: any body the router accepts converts, in every
// format, to valid JSON or fails with an *Error; a body it refuses fails
// with an *Error. Never a panic.
func FuzzTransformRequestAllFormats(f *testing.F) {
	for _, s := range []string{
		helloBody,
		msgBody("hi", true),
		`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"path":"/x"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok"}],"is_error":false}]}],"tools":[{"name":"Read","description":"d","input_schema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}},{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"tool","name":"Read"},"thinking":{"type":"enabled","budget_tokens":1024},"temperature":0.5,"top_p":0.9,"top_k":3,"stop_sequences":["x"]}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""}],"unknown":{"a":[1,2]}}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	chains := fuzzChains(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseMessages(body, true)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.status() != 400 {
				t.Fatalf("parseMessages: %v is not a 400 *Error", err)
			}
			return
		}
		req.Raw, req.ClientModel, req.Provider = body, req.Model, "p"
		for _, c := range chains {
			up, err := c.tr.TransformRequest(t.Context(), req)
			if err != nil {
				continue // refusing a request is fine; panicking is not
			}
			if !json.Valid(up.Body) {
				t.Fatalf("%s: invalid JSON upstream body %q", c.name, up.Body)
			}
		}
	})
}

// FuzzTransformResponseAllFormats: any upstream body converts, in every format, to
// a response that encodes as JSON, or fails with an *Error.
func FuzzTransformResponseAllFormats(f *testing.F) {
	for _, s := range []string{
		anthropicReply,
		`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"},{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}`,
		`{"error":{"message":"nope"}}`,
		`<html>502 Bad Gateway</html>`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	chains := fuzzChains(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := parseMessages([]byte(helloBody), true)
		req.ClientModel, req.Provider = req.Model, "p"
		for _, c := range chains {
			resp, err := c.tr.TransformResponse(t.Context(), req, body)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %v is not an *Error", c.name, err)
				}
				continue
			}
			if b, err := marshalNoEscape(resp); err != nil || !json.Valid(b) {
				t.Fatalf("%s: response does not encode: %v %q", c.name, err, b)
			}
		}
	})
}

// FuzzTransformStreamAllFormats feeds any bytes, as an upstream event stream, to
// every stream converter with its hooks. The converter must end (at most a
// bounded number of events), keep returning its error once it has
// failed, give every event a type, and end cleanly only after
// message_stop.
func FuzzTransformStreamAllFormats(f *testing.F) {
	for _, s := range sseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}\n\n"), true)
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"o\"}}\n\n"), false)
	chains := fuzzChains(f)
	f.Fuzz(func(t *testing.T, in []byte, atEOF bool) {
		req, _ := parseMessages([]byte(msgBody("hi", true)), true)
		req.ClientModel, req.Provider = req.Model, "p"
		for _, c := range chains {
			sse := NewSSEReader(bytes.NewReader(in))
			sse.DispatchAtEOF = atEOF
			var src EventReader = c.tr.TransformStream(t.Context(), req, sse)
			for i := len(c.hooks) - 1; i >= 0; i-- {
				if h := c.hooks[i].Stream; h != nil {
					src = h(t.Context(), req, src)
				}
			}
			events, err := readEventsMax(src, 64+16*len(in))
			if errors.Is(err, errTooManyEvents) {
				t.Fatalf("%s: more than %d events from %d bytes", c.name, 64+16*len(in), len(in))
			}
			for i, ev := range events {
				if ev.Type == "" {
					t.Fatalf("%s: event %d has no type: %q", c.name, i, ev.Data)
				}
			}
			if err == nil && (len(events) == 0 || events[len(events)-1].Type != "message_stop") {
				t.Fatalf("%s: clean end without message_stop: %q", c.name, events)
			}
			if err != nil {
				if _, err2 := src.ReadEvent(); err2 == nil {
					t.Fatalf("%s: an event after the error %v", c.name, err)
				}
			}
		}
	})
}
