package ccr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
)

func benchRequest(b *testing.B) ([]byte, *Request) {
	b.Helper()
	raw, err := os.ReadFile("testdata/openai/bench/claude_code_request.json")
	if err != nil {
		b.Fatal(err)
	}
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		b.Fatal(err)
	}
	routeRequest(&req)
	return raw, &req
}

// BenchmarkOpenAITransformRequest converts a ~45 KB Claude Code style
// request with 13 tools and 24 turns.
func BenchmarkOpenAITransformRequest(b *testing.B) {
	raw, req := benchRequest(b)
	tr := newOpenAI(OpenAIOptions{Reasoning: "effort"})
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.TransformRequest(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAIRequestPath is the whole per-request path of the
// converter: decode, validate, convert.
func BenchmarkOpenAIRequestPath(b *testing.B) {
	raw, _ := benchRequest(b)
	tr := newOpenAI(OpenAIOptions{})
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var req Request
		if err := json.Unmarshal(raw, &req); err != nil {
			b.Fatal(err)
		}
		if err := ValidateRequest(&req); err != nil {
			b.Fatal(err)
		}
		if _, err := tr.TransformRequest(b.Context(), &req); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStream is a 200-chunk upstream: reasoning, text, then three tool
// calls whose arguments stream in small fragments, usage and [DONE].
func benchStream() []byte {
	var buf bytes.Buffer
	chunk := func(delta string, finish string) {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		fmt.Fprintf(&buf, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", delta, fr)
	}
	chunk(`{"role":"assistant","content":""}`, "")
	for i := 0; i < 40; i++ {
		chunk(`{"reasoning_content":"considering option `+fmt.Sprint(i)+` carefully "}`, "")
	}
	for i := 0; i < 60; i++ {
		chunk(`{"content":"Some answer text with <html> & unicode é `+fmt.Sprint(i)+` "}`, "")
	}
	for t := 0; t < 3; t++ {
		chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":"call_%d","type":"function","function":{"name":"Edit","arguments":""}}]}`, t, t), "")
		frags := []string{`{\"file_path\":`, `\"/repo/a.go\",`}
		for len(frags) < 32 {
			frags = append(frags, `\"k`+fmt.Sprint(len(frags))+`\":\"line of code; x := y\",`)
		}
		frags = append(frags, `\"end\":true}`)
		for _, f := range frags {
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":"%s"}}]}`, t, f), "")
		}
	}
	chunk(`{}`, "tool_calls")
	buf.WriteString(`data: {"id":"chatcmpl-bench","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1000}}}` + "\n\n")
	buf.WriteString("data: [DONE]\n\n")
	return buf.Bytes()
}

func BenchmarkOpenAIStream(b *testing.B) {
	up := benchStream()
	tr := newOpenAI(OpenAIOptions{})
	req := &Request{Model: "m", ClientModel: "claude-sonnet-4-5", Tools: []Tool{{Name: "Edit"}}}
	evs, err := readEvents(tr.TransformStream(b.Context(), req, NewSSEReader(bytes.NewReader(up))))
	if err != nil || checkStream(evs, false) != nil {
		b.Fatalf("bench stream: %d events, %v", len(evs), err)
	}
	b.SetBytes(int64(len(up)))
	b.ReportAllocs()
	for b.Loop() {
		r := tr.TransformStream(b.Context(), req, NewSSEReader(bytes.NewReader(up)))
		for {
			if _, err := r.ReadEvent(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

func BenchmarkSSEReader(b *testing.B) {
	up := benchStream()
	b.SetBytes(int64(len(up)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewSSEReader(bytes.NewReader(up))
		for {
			if _, err := r.ReadEvent(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// BenchmarkOpenAIStreamLoad converts the 200-chunk stream of the load
// benchmark (testdata/bench/openai_200.sse), as BenchmarkStreamConvert
// does for the other formats.
func BenchmarkOpenAIStreamLoad(b *testing.B) {
	up := benchFile(b, "openai_200.sse")
	tr := NewOpenAI(OpenAIOptions{})
	req := &Request{Model: "bench-model", ClientModel: "claude-sonnet-4-5", Stream: true, Tools: []Tool{{Name: "Edit"}}}
	evs, err := readEventsMax(tr.TransformStream(b.Context(), req, NewSSEReader(bytes.NewReader(up))), 1<<20)
	if err != nil || len(evs) < 20 {
		b.Fatalf("%d events, %v", len(evs), err)
	}
	b.SetBytes(int64(len(up)))
	b.ReportAllocs()
	for b.Loop() {
		drain(b, tr.TransformStream(b.Context(), req, NewSSEReader(bytes.NewReader(up))))
	}
}

// BenchmarkOpenAIResponse converts the non-streaming answer of the load
// benchmark (testdata/bench/openai_message.json).
func BenchmarkOpenAIResponse(b *testing.B) {
	body := benchFile(b, "openai_message.json")
	tr := NewOpenAI(OpenAIOptions{})
	req := &Request{Model: "bench-model", ClientModel: "claude-sonnet-4-5", Tools: []Tool{{Name: "Edit"}}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.TransformResponse(b.Context(), req, body); err != nil {
			b.Fatal(err)
		}
	}
}
