package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzOptions derives OpenAIOptions from fuzzer-chosen bits.
func fuzzOptions(bits uint16) OpenAIOptions {
	reasoning := [...]string{"", "effort", "deepseek", "openrouter"}
	return OpenAIOptions{
		MaxCompletionTokens: bits&1 != 0,
		NoStreamOptions:     bits&2 != 0,
		ReasoningPassback:   bits&4 != 0,
		Reasoning:           reasoning[bits>>3&3],
		CacheControl:        bits&32 != 0,
		TopK:                bits&64 != 0,
		Strict:              bits&128 != 0,
		FileParts:           bits&256 != 0,
		NoMidSystem:         bits&512 != 0,
		EmptyContentString:  bits&1024 != 0,
		MaxStopSequences:    int(bits >> 11 & 3),
		RepairToolArgs:      bits&8192 != 0,
		MaxOutputTokens:     int(bits>>14) * 100,
	}
}

func addFiles(f *testing.F, pattern string, extra ...any) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files for %s", pattern)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]any{b}, extra...)...)
	}
}

// FuzzTransformRequest: any JSON that decodes as a Request and passes
// ValidateRequest converts to compact valid JSON or fails with an *Error;
// it never panics and never modifies the request.
func FuzzTransformRequest(f *testing.F) {
	addFiles(f, "testdata/openai/request/*.in.json", uint16(0))
	f.Add([]byte(`{"model":"m","max_tokens":1,"system":"x-anthropic-billing-header: a\nb","messages":[{"role":"system","content":[{"type":"mid_conv_system","content":"s"}]}]}`), uint16(0xffff))
	f.Fuzz(func(t *testing.T, body []byte, bits uint16) {
		var req Request
		if json.Unmarshal(body, &req) != nil || ValidateRequest(&req) != nil {
			return
		}
		before, err := json.Marshal(&req)
		if err != nil {
			return // not re-encodable (an invalid raw block); the router rejects it on decode anyway
		}
		tr := newOpenAI(fuzzOptions(bits))
		up, err := tr.TransformRequest(t.Context(), &req)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, up.Body); err != nil || !bytes.Equal(compact.Bytes(), up.Body) {
			t.Fatalf("body is not compact JSON (%v): %s", err, up.Body)
		}
		var shape struct {
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(up.Body, &shape); err != nil {
			t.Fatalf("body shape: %v", err)
		}
		for _, m := range shape.Messages {
			switch m.Role {
			case "system", "user", "assistant", "tool":
			default:
				t.Fatalf("message role %q", m.Role)
			}
		}
		if after, _ := json.Marshal(&req); !bytes.Equal(before, after) {
			t.Fatalf("request modified")
		}
	})
}

// FuzzOpenAIStream: any upstream bytes give events satisfying I1–I6, or an
// error; an error before the first event is an *Error.
func FuzzOpenAIStream(f *testing.F) {
	addFiles(f, "testdata/openai/stream/*/upstream.sse", true)
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"x\",\"arguments\":\"{\"}},{\"index\":0,\"id\":\"b\",\"function\":{\"name\":\"y\"}}],\"content\":\"t\"}}]}\n\ndata: [DONE]\n\n"), false)
	req := &Request{Model: "m", ClientModel: "claude", StopSequences: []string{"END"},
		Tools: []Tool{{Name: "a.b"}, {Name: "a_b"}, {Name: "x"}, {Name: "y"}}}
	f.Fuzz(func(t *testing.T, upstream []byte, lenient bool) {
		tr := newOpenAI(OpenAIOptions{})
		src := NewSSEReader(bytes.NewReader(upstream))
		src.DispatchAtEOF = lenient
		evs, err := readEvents(tr.TransformStream(t.Context(), req, src))
		if perr := (streamRules{rawToolInput: true}).problems(evs, err); perr != nil {
			t.Fatalf("%v\n%s", perr, renderEvents(evs, err))
		}
	})
}

// FuzzOpenAIResponse: any 2xx body converts to a response whose tool
// inputs are JSON objects and which has no empty text block, or to an
// *Error.
func FuzzOpenAIResponse(f *testing.F) {
	files, _ := filepath.Glob("testdata/openai/response/*.in.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var c responseCase
		if err := json.Unmarshal(b, &c); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(c.Body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := newOpenAI(OpenAIOptions{RepairToolArgs: len(body)%2 == 0})
		req := &Request{Model: "m", StopSequences: []string{"END"}, Tools: []Tool{{Name: "a.b"}}}
		resp, err := tr.TransformResponse(t.Context(), req, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			return
		}
		for _, c := range resp.Content {
			switch c.Type {
			case "text":
				if c.Text == "" {
					t.Fatal("empty text block")
				}
			case "tool_use":
				if len(c.Input) == 0 || c.Input[0] != '{' || !json.Valid(c.Input) {
					t.Fatalf("tool input %q is not an object", c.Input)
				}
			}
		}
		if _, err := marshalNoEscape(resp); err != nil {
			t.Fatal(err)
		}
		evs, err := readEvents(responseEvents(resp))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkStream(evs, false); err != nil {
			t.Fatalf("replayed events: %v", err)
		}
		_ = tr.TransformError(400+len(body)%200, nil, body)
	})
}

// opsUpstream builds an upstream stream from op bytes: text, reasoning,
// tool-call fragments with or without index, id and name, finish reasons,
// usage, errors and [DONE], in any order.
func opsUpstream(ops []byte) []byte {
	var b bytes.Buffer
	args := [...]string{`{"a":`, `1}`, `{}`, `"x"`, `{"p":"\u00e9<&>"}`, ``, `]`, `{"q":[1,`}
	ids := [...]string{"call_a", "call_b", "functions.Bash:0", ""}
	names := [...]string{"x", "a_b", "a_b_648fa9b3", ""}
	finishes := [...]string{"stop", "length", "tool_calls", "content_filter", "", "weird"}
	chunk := func(delta string, finish string) {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		b.WriteString(`data: {"choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + fr + `}]}` + "\n\n")
	}
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		arg := func() byte {
			if i+1 < len(ops) {
				i++
				return ops[i]
			}
			return 0
		}
		switch op % 12 {
		case 0:
			chunk(`{"content":"t`+string('a'+rune(arg()%26))+`"}`, "")
		case 1:
			chunk(`{"reasoning_content":"r"}`, "")
		case 2:
			chunk(`{"reasoning":"o","content":"c"}`, "")
		case 3, 4, 5, 6:
			a := arg()
			tc := `{`
			if a&1 != 0 {
				tc += `"index":` + string('0'+rune(a>>1&3)) + `,`
			}
			if id := ids[a>>3&3]; id != "" {
				tc += `"id":"` + id + `","type":"function",`
			}
			tc += `"function":{`
			if n := names[a>>5&3]; n != "" {
				tc += `"name":"` + n + `",`
			}
			raw, _ := json.Marshal(args[arg()%8])
			tc += `"arguments":` + string(raw) + `}}`
			chunk(`{"tool_calls":[`+tc+`]}`, "")
		case 7:
			chunk(`{}`, finishes[arg()%6])
		case 8:
			b.WriteString(`data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}` + "\n\n")
		case 9:
			b.WriteString("data: [DONE]\n\n")
		case 10:
			if arg()%4 == 0 {
				b.WriteString(`data: {"error":{"code":429,"message":"slow"}}` + "\n\n")
			} else {
				b.WriteString(": keep-alive\n\n")
			}
		case 11:
			chunk(`{"content":"\ud83d"}`, "")
		}
	}
	return b.Bytes()
}

// FuzzOpenAIStreamOps drives the §4.5 state machine with structured
// chunk sequences and checks the invariants on its output.
func FuzzOpenAIStreamOps(f *testing.F) {
	f.Add([]byte{3, 0x09, 0, 3, 0x2b, 1, 4, 0x01, 1, 7, 2, 9})
	f.Add([]byte{1, 0, 5, 0x21, 4, 0, 0, 6, 0x03, 2, 7, 0, 8, 9})
	f.Add([]byte{3, 0x49, 7, 3, 0x4b, 2, 3, 0x09, 1, 3, 0x0b, 1, 7, 1})
	req := &Request{Model: "m", ClientModel: "claude", Tools: []Tool{{Name: "a.b"}, {Name: "a_b"}, {Name: "x"}}}
	f.Fuzz(func(t *testing.T, ops []byte) {
		up := opsUpstream(ops)
		evs, err := readEvents(newOpenAI(OpenAIOptions{}).TransformStream(t.Context(), req, NewSSEReader(bytes.NewReader(up))))
		if perr := (streamRules{rawToolInput: true}).problems(evs, err); perr != nil {
			t.Fatalf("%v\nupstream:\n%s\nout:\n%s", perr, up, renderEvents(evs, err))
		}
	})
}
