package ccr

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeDeepSeek is a loopback upstream with the rule of DeepSeek's thinking
// mode that the reference breaks (#1041, #1378): every assistant message
// that carries tool_calls must carry reasoning_content too, or the request
// is refused with 400. It answers a weather question in two turns: first a
// tool call, then, once the tool result is there, the answer.
type fakeDeepSeek struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newFakeDeepSeek(t *testing.T) *fakeDeepSeek {
	f := &fakeDeepSeek{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDeepSeek) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, b)
	f.mu.Unlock()
	var req struct {
		Stream   bool                         `json:"stream"`
		Messages []map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, 400)
		return
	}
	toolResults := 0
	for i, m := range req.Messages {
		var role string
		json.Unmarshal(m["role"], &role)
		_, calls := m["tool_calls"]
		_, reasoning := m["reasoning_content"]
		if role == "assistant" && calls && !reasoning {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"message":"Missing `+"`reasoning_content`"+` field in the assistant message at message index %d","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}`, i)
			return
		}
		if role == "tool" {
			toolResults++
		}
	}
	reasoning, content, call := "I should look up the weather.", "", `{"city":"Paris"}`
	if toolResults > 0 {
		reasoning, content, call = "The tool said 18C.", "It is 18°C in Paris.", ""
	}
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": content, "reasoning_content": reasoning}
		finish := "stop"
		if call != "" {
			msg["tool_calls"] = []any{map[string]any{"id": "call_00_weather", "type": "function", "function": map[string]string{"name": "get_weather", "arguments": call}}}
			finish = "tool_calls"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "ds-1", "object": "chat.completion", "model": "deepseek-reasoner",
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   map[string]int{"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52, "prompt_cache_hit_tokens": 32}})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(delta map[string]any, finish any) {
		d, _ := json.Marshal(map[string]any{"id": "ds-1", "object": "chat.completion.chunk", "model": "deepseek-reasoner",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", d)
		w.(http.Flusher).Flush()
	}
	send(map[string]any{"role": "assistant", "content": nil, "reasoning_content": ""}, nil)
	for _, part := range strings.SplitAfter(reasoning, " ") {
		send(map[string]any{"reasoning_content": part}, nil)
	}
	if call != "" {
		send(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": "call_00_weather", "type": "function", "function": map[string]string{"name": "get_weather", "arguments": ""}}}}, nil)
		send(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]string{"arguments": call}}}}, nil)
		send(map[string]any{}, "tool_calls")
	} else {
		send(map[string]any{"content": content}, nil)
		send(map[string]any{}, "stop")
	}
	io.WriteString(w, `data: {"id":"ds-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52,"prompt_cache_hit_tokens":32}}`+"\n\n")
	io.WriteString(w, "data: [DONE]\n\n")
}

func (f *fakeDeepSeek) last() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[len(f.bodies)-1]
}

// TestDeepSeekMultiTurnTools runs a two-turn tool conversation through a
// Router whose provider uses the deepseek transformer, streaming and not:
// the upstream accepts the second turn because the first turn's reasoning
// goes back as reasoning_content. Without the transformer the same
// conversation gets the upstream's 400, which shows the fake enforces the
// rule.
func TestDeepSeekMultiTurnTools(t *testing.T) {
	up := newFakeDeepSeek(t)
	cfg := func(use ...string) Config {
		var uses []TransformerUse
		for _, u := range use {
			uses = append(uses, TransformerUse{Name: u})
		}
		return Config{
			Providers: []ProviderConfig{{Name: "deepseek", BaseURL: up.URL + "/chat/completions", APIKeys: []Secret{"sk-ds"},
				Models: []string{"deepseek-reasoner"}, Use: uses}},
			Router: Routes{Default: "deepseek,deepseek-reasoner"},
			APIKey: "client-key",
			Logger: testLogger(t),
		}
	}
	rt, err := New(cfg("deepseek"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hdr := map[string]string{"x-api-key": "client-key", "anthropic-version": "2023-06-01"}
	tools := `[{"name":"get_weather","description":"Weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
	first := `{"role":"user","content":"What is the weather in Paris?"}`

	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			s := fmt.Sprint(stream)
			w := post(t, rt, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":128000,"stream":`+s+`,"thinking":{"type":"adaptive"},"tools":`+tools+`,"messages":[`+first+`]}`, hdr)
			if w.Code != 200 {
				t.Fatalf("turn 1: status %d: %s", w.Code, w.Body)
			}
			var sent struct {
				MaxTokens int             `json:"max_tokens"`
				Thinking  json.RawMessage `json:"thinking"`
			}
			json.Unmarshal(up.last(), &sent)
			if sent.MaxTokens != 65536 || string(sent.Thinking) != `{"type":"enabled"}` {
				t.Errorf("turn 1 upstream: max_tokens %d, thinking %s; want 65536 (deepseek-reasoner's limit), enabled", sent.MaxTokens, sent.Thinking)
			}
			blocks, stop := answerContent(t, stream, w.Body.Bytes())
			if stop != "tool_use" || len(blocks) != 2 || blocks[0].Type != "thinking" || blocks[1].Type != "tool_use" {
				t.Fatalf("turn 1: stop %q, blocks %+v; want thinking then tool_use", stop, blocks)
			}
			if blocks[0].Thinking != "I should look up the weather." || !strings.HasPrefix(blocks[0].Signature, routerSignaturePrefix) {
				t.Errorf("turn 1 thinking = %+v", blocks[0])
			}
			assistant, _ := json.Marshal(Message{Role: "assistant", Content: blocks})
			result := `{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + blocks[1].ID + `","content":"18C, sunny"}]}`
			second := `{"model":"claude-sonnet-4-5","max_tokens":128000,"stream":` + s + `,"thinking":{"type":"adaptive"},"tools":` + tools +
				`,"messages":[` + first + `,` + string(assistant) + `,` + result + `]}`

			w = post(t, rt, "/v1/messages", second, hdr)
			if w.Code != 200 {
				t.Fatalf("turn 2: status %d: %s", w.Code, w.Body)
			}
			var msgs struct {
				Messages []struct {
					Role             string  `json:"role"`
					ReasoningContent *string `json:"reasoning_content"`
				} `json:"messages"`
			}
			json.Unmarshal(up.last(), &msgs)
			if len(msgs.Messages) != 3 || msgs.Messages[1].ReasoningContent == nil || *msgs.Messages[1].ReasoningContent != "I should look up the weather." {
				t.Errorf("turn 2 upstream messages: %s", up.last())
			}
			blocks, stop = answerContent(t, stream, w.Body.Bytes())
			if stop != "end_turn" || len(blocks) != 2 || blocks[1].Text != "It is 18°C in Paris." {
				t.Errorf("turn 2: stop %q, blocks %+v", stop, blocks)
			}

			// The same second turn through a plain OpenAI chain: refused.
			plain, err := New(cfg("openai"))
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			w = post(t, plain, "/v1/messages", second, hdr)
			if w.Code != 400 || !strings.Contains(w.Body.String(), "reasoning_content") || !strings.Contains(w.Body.String(), `"invalid_request_error"`) {
				t.Errorf("without the deepseek transformer: status %d %s; want the upstream's 400", w.Code, w.Body)
			}
		})
	}
}
