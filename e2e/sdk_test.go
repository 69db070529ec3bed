package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/ccrgo/ccr"
)

// fakeOpenAI is an OpenAI Chat Completions upstream on loopback. Its
// handler decides each answer from the request; it records the requests.
type fakeOpenAI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []map[string]json.RawMessage
}

func newFakeOpenAI(t *testing.T, answer func(w http.ResponseWriter, req map[string]json.RawMessage)) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]json.RawMessage
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		if r.Header.Get("Authorization") != "Bearer sk-fake-openai" {
			http.Error(w, `{"error":{"message":"bad key"}}`, 401)
			return
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) last() map[string]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

// sse writes OpenAI stream chunks, flushing each.
func sse(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, c := range chunks {
		io.WriteString(w, "data: "+c+"\n\n")
		w.(http.Flusher).Flush()
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

// startRouter serves a Router on loopback that sends everything to up.
func startRouter(t *testing.T, upURL string) *httptest.Server {
	t.Helper()
	rt, err := ccr.New(ccr.Config{
		Providers: []ccr.ProviderConfig{{Name: "fake", BaseURL: upURL + "/v1/chat/completions",
			APIKeys: []ccr.Secret{"sk-fake-openai"}, Models: []string{"gpt-fake"}}},
		Router: ccr.Routes{Default: "fake,gpt-fake"},
		APIKey: "client-key",
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

func newClient(url string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
}

var weatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather for a city"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}},
		Required:   []string{"city"},
	},
}}

func TestSDKText(t *testing.T) {
	t.Parallel()
	up := newFakeOpenAI(t, func(w http.ResponseWriter, req map[string]json.RawMessage) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-fake","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Bonjour <b>&</b>!"}}],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":8}}}`)
	})
	srv := startRouter(t, up.URL)
	client := newClient(srv.URL)
	msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 256,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello in French"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Bonjour <b>&</b>!" || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("message = %+v", msg)
	}
	if msg.Model != "claude-sonnet-4-5" {
		t.Errorf("model echoed as %q; want the client's", msg.Model)
	}
	if msg.Usage.InputTokens != 12 || msg.Usage.CacheReadInputTokens != 8 || msg.Usage.OutputTokens != 5 {
		t.Errorf("usage = %+v", msg.Usage)
	}
	if got := string(up.last()["model"]); got != `"gpt-fake"` {
		t.Errorf("upstream model = %s", got)
	}
}

func TestSDKStreamingText(t *testing.T) {
	t.Parallel()
	up := newFakeOpenAI(t, func(w http.ResponseWriter, req map[string]json.RawMessage) {
		sse(w,
			`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"content":"lo, wörld 🌍"},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}}`)
	})
	srv := startRouter(t, up.URL)
	client := newClient(srv.URL)
	stream := client.Messages.NewStreaming(t.Context(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Hello, wörld 🌍" || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("accumulated = %+v", msg)
	}
	if msg.Usage.OutputTokens != 4 || msg.Usage.InputTokens != 11 {
		t.Errorf("usage = %+v", msg.Usage)
	}
}

func TestSDKStreamingToolUseAndResult(t *testing.T) {
	t.Parallel()
	up := newFakeOpenAI(t, func(w http.ResponseWriter, req map[string]json.RawMessage) {
		var msgs []struct {
			Role string `json:"role"`
		}
		json.Unmarshal(req["messages"], &msgs)
		if msgs[len(msgs)-1].Role == "tool" {
			sse(w,
				`{"choices":[{"index":0,"delta":{"content":"It is sunny in Paris."},"finish_reason":null}]}`,
				`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
			return
		}
		sse(w,
			`{"choices":[{"index":0,"delta":{"content":"Let me check."},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]},"finish_reason":null}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`)
	})
	srv := startRouter(t, up.URL)
	client := newClient(srv.URL)
	params := anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 256, Tools: []anthropic.ToolUnionParam{weatherTool},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?"))},
	}
	stream := client.Messages.NewStreaming(t.Context(), params)
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != anthropic.StopReasonToolUse || len(msg.Content) != 2 {
		t.Fatalf("accumulated = %+v", msg)
	}
	tu := msg.Content[1].AsToolUse()
	if tu.Name != "get_weather" || string(tu.Input) != `{"city":"Paris"}` || tu.ID == "" {
		t.Fatalf("tool use = %+v (input %s)", tu, tu.Input)
	}
	// The tool result round trip.
	params.Messages = append(params.Messages, msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "18°C, sunny", false)))
	final, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if final.Content[0].Text != "It is sunny in Paris." {
		t.Errorf("final = %+v", final)
	}
	var sent []struct {
		Role       string `json:"role"`
		ToolCallID string `json:"tool_call_id"`
		Content    any    `json:"content"`
		ToolCalls  []struct {
			ID string `json:"id"`
		} `json:"tool_calls"`
	}
	json.Unmarshal(up.last()["messages"], &sent)
	n := len(sent)
	if n < 3 || sent[n-1].Role != "tool" || sent[n-1].ToolCallID != sent[n-2].ToolCalls[0].ID || sent[n-1].Content != "18°C, sunny" {
		t.Errorf("upstream messages for the round trip = %+v", sent)
	}
}

func TestSDKTypedErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status int
		body   string
		typ    string
	}{
		{429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, "rate_limit_error"},
		{500, `{"error":{"message":"boom","type":"server_error"}}`, "api_error"},
	} {
		up := newFakeOpenAI(t, func(w http.ResponseWriter, req map[string]json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		})
		srv := startRouter(t, up.URL)
		client := newClient(srv.URL)
		for _, stream := range []bool{false, true} {
			params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 16,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
			var err error
			if stream {
				s := client.Messages.NewStreaming(t.Context(), params)
				for s.Next() {
				}
				err = s.Err()
			} else {
				_, err = client.Messages.New(t.Context(), params)
			}
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("status %d stream=%v: error %v is not *anthropic.Error", tt.status, stream, err)
			}
			if apiErr.StatusCode != tt.status || !strings.Contains(apiErr.RawJSON(), tt.typ) {
				t.Errorf("status %d stream=%v: got %d %s", tt.status, stream, apiErr.StatusCode, apiErr.RawJSON())
			}
		}
	}
}
