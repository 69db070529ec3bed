package benchdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// The answer every generated response carries: some text, then an Edit
// tool call.
const (
	answerID     = "msg_01BenchAnswer7Kq2Zr9XvT4pLm"
	answerToolID = "toolu_01BenchEditCall3Hs8Wn5Qy"
	answerCallID = "call_bench_edit_3Hs8Wn5Qy"
	inputTokens  = 1893
	cachedTokens = 10240
	outputTokens = 412
)

func (g *gen) answerText(words int) []string {
	var out []string
	for len(out) < words {
		for _, w := range strings.Fields(g.sentence()) {
			out = append(out, " "+w)
		}
	}
	out[0] = strings.TrimPrefix(out[0], " ")
	return out[:words]
}

var answerArgs = marshal(map[string]string{
	"file_path":  "/home/dev/src/inventory/internal/ledger/reconcile_test.go",
	"old_string": "func TestReconcile(t *testing.T) {\n",
	"new_string": "func TestReconcileRetry(t *testing.T) {\n\ts := newTestService(t)\n\ts.failOnce(\"refund\")\n\tif err := s.Reconcile(t.Context()); err != nil {\n\t\tt.Fatal(err)\n\t}\n\tif n := s.refunds(); n != 1 {\n\t\tt.Fatalf(\"refunds applied = %d; want 1\", n)\n\t}\n}\n\nfunc TestReconcile(t *testing.T) {\n",
})

// split cuts s into n pieces of about the same length, at byte offsets
// that do not split a UTF-8 sequence (the arguments are ASCII).
func split(s string, n int) []string {
	if n < 1 {
		n = 1
	}
	out := make([]string, 0, n)
	for i := range n {
		a, b := len(s)*i/n, len(s)*(i+1)/n
		out = append(out, s[a:b])
	}
	return out
}

// AnthropicMessage returns a complete Anthropic Messages response for
// model: about 60 words of text and an Edit tool call.
func AnthropicMessage(model string) []byte {
	text := strings.Join(newGen(2).answerText(60), "")
	return marshal(map[string]any{
		"id": answerID, "type": "message", "role": "assistant", "model": model,
		"content": []any{
			map[string]string{"type": "text", "text": text},
			map[string]any{"type": "tool_use", "id": answerToolID, "name": "Edit", "input": json.RawMessage(answerArgs)},
		},
		"stop_reason": "tool_use", "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": inputTokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cachedTokens, "output_tokens": outputTokens},
	})
}

// OpenAIMessage returns the same answer as a Chat Completions response.
func OpenAIMessage(model string) []byte {
	text := strings.Join(newGen(2).answerText(60), "")
	return marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion", "created": 1760000000, "model": model,
		"choices": []any{map[string]any{
			"index": 0,
			"message": map[string]any{
				"role": "assistant", "content": text,
				"tool_calls": []any{map[string]any{"id": answerCallID, "type": "function",
					"function": map[string]string{"name": "Edit", "arguments": string(answerArgs)}}},
			},
			"finish_reason": "tool_calls",
		}},
		"usage": map[string]any{"prompt_tokens": inputTokens + cachedTokens, "completion_tokens": outputTokens,
			"total_tokens": inputTokens + cachedTokens + outputTokens, "prompt_tokens_details": map[string]int{"cached_tokens": cachedTokens}},
	})
}

// streamSplit divides n content chunks between text and tool arguments.
func streamSplit(n int) (text, args int) {
	if n < 4 {
		n = 4
	}
	args = n * 4 / 10
	return n - args, args
}

// AnthropicStream returns an Anthropic event stream for model with n
// content chunks (text deltas, then input_json_delta fragments of an Edit
// call), as frames of one event each. Frames after the first are the ones
// a slow upstream spaces out.
func AnthropicStream(model string, n int) [][]byte {
	nt, na := streamSplit(n)
	var frames [][]byte
	ev := func(typ string, v any) {
		var b bytes.Buffer
		b.WriteString("event: ")
		b.WriteString(typ)
		b.WriteString("\ndata: ")
		b.Write(marshal(v))
		b.WriteString("\n\n")
		frames = append(frames, b.Bytes())
	}
	ev("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": answerID, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": inputTokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cachedTokens, "output_tokens": 1}}})
	ev("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
	ev("ping", map[string]string{"type": "ping"})
	for _, w := range newGen(2).answerText(nt) {
		ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": w}})
	}
	ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	ev("content_block_start", map[string]any{"type": "content_block_start", "index": 1, "content_block": map[string]any{"type": "tool_use", "id": answerToolID, "name": "Edit", "input": map[string]any{}}})
	for _, p := range split(string(answerArgs), na) {
		ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 1, "delta": map[string]string{"type": "input_json_delta", "partial_json": p}})
	}
	ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": 1})
	ev("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": outputTokens}})
	ev("message_stop", map[string]string{"type": "message_stop"})
	return frames
}

// OpenAIStream returns the same answer as a Chat Completions stream with n
// content chunks (content deltas, then a tool call whose arguments arrive
// in fragments), a usage chunk and [DONE].
func OpenAIStream(model string, n int) [][]byte {
	nt, na := streamSplit(n)
	var frames [][]byte
	chunk := func(delta any, finish any) {
		frames = append(frames, fmt.Appendf(nil, "data: %s\n\n", marshal(map[string]any{
			"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1760000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})))
	}
	chunk(map[string]string{"role": "assistant", "content": ""}, nil)
	for _, w := range newGen(2).answerText(nt) {
		chunk(map[string]string{"content": w}, nil)
	}
	for i, p := range split(string(answerArgs), na) {
		call := map[string]any{"index": 0, "function": map[string]string{"arguments": p}}
		if i == 0 {
			call = map[string]any{"index": 0, "id": answerCallID, "type": "function", "function": map[string]string{"name": "Edit", "arguments": p}}
		}
		chunk(map[string]any{"tool_calls": []any{call}}, nil)
	}
	chunk(map[string]any{}, "tool_calls")
	frames = append(frames, fmt.Appendf(nil, "data: %s\n\n", marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1760000000, "model": model, "choices": []any{},
		"usage": map[string]any{"prompt_tokens": inputTokens + cachedTokens, "completion_tokens": outputTokens,
			"total_tokens": inputTokens + cachedTokens + outputTokens, "prompt_tokens_details": map[string]int{"cached_tokens": cachedTokens}}})))
	frames = append(frames, []byte("data: [DONE]\n\n"))
	return frames
}
