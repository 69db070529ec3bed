package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAnthropic is a loopback upstream speaking the Anthropic Messages API.
// It records what it received.
type fakeAnthropic struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
}

const anthropicReply = `{"id":"msg_up","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0},"container":null}`

const anthropicSSE = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_up\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
	"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hel\"}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func newFakeAnthropic(t *testing.T, h http.HandlerFunc) *fakeAnthropic {
	t.Helper()
	f := &fakeAnthropic{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, b)
		f.headers = append(f.headers, r.Header.Clone())
		f.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		var req struct {
			Stream bool `json:"stream"`
		}
		json.Unmarshal(b, &req)
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, frame := range strings.SplitAfter(anthropicSSE, "\n\n") {
				io.WriteString(w, frame)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, anthropicReply)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAnthropic) last() ([]byte, http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return nil, nil
	}
	return f.bodies[len(f.bodies)-1], f.headers[len(f.headers)-1]
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func anthropicConfig(t *testing.T, url string) Config {
	return Config{
		Providers: []ProviderConfig{{Name: "anthropic", BaseURL: url + "/v1/messages", APIKeys: []Secret{"sk-upstream-key"},
			Models: []string{"claude-up"}, Use: []TransformerUse{{Name: "Anthropic"}}}},
		Router: Routes{Default: "anthropic,claude-up"},
		APIKey: "client-key",
		Logger: testLogger(t),
	}
}

func post(t *testing.T, h http.Handler, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const helloBody = `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"say <hello> & bye"}],"metadata":{"user_id":"u"},"context_management":{"edits":[{"type":"clear_thinking_20251015"}]}}`

func TestAnthropicPassthrough(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, rt, "/v1/messages?beta=true", helloBody, map[string]string{
		"x-api-key": "client-key", "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
		"Accept-Encoding": "gzip", "X-Stainless-Lang": "js"})
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if w.Body.String() != anthropicReply {
		t.Errorf("body = %s\nwant the upstream's bytes %s", w.Body, anthropicReply)
	}
	body, hdr := up.last()
	want := strings.Replace(helloBody, `"claude-sonnet-4-5"`, `"claude-up"`, 1)
	if string(body) != want {
		t.Errorf("upstream body = %s\nwant %s", body, want)
	}
	if hdr.Get("X-Api-Key") != "sk-upstream-key" || hdr.Get("Authorization") != "" {
		t.Errorf("upstream auth = x-api-key %q, authorization %q", hdr.Get("X-Api-Key"), hdr.Get("Authorization"))
	}
	if hdr.Get("Anthropic-Beta") != "claude-code-20250219,interleaved-thinking-2025-05-14" || hdr.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("anthropic headers not forwarded: %v", hdr)
	}
	if hdr.Get("X-Stainless-Lang") != "" || strings.Contains(hdr.Get("Accept-Encoding"), "gzip") && hdr.Get("Accept-Encoding") != "gzip" {
		t.Errorf("client headers leaked upstream: %v", hdr)
	}
	if w.Header().Get("Request-Id") == "" || !strings.Contains(w.Header().Get("Server-Timing"), "upstream;dur=") {
		t.Errorf("missing Request-Id or Server-Timing: %v", w.Header())
	}
}

func TestAnthropicPassthroughStream(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(helloBody, `"max_tokens":100`, `"max_tokens":100,"stream":true`, 1)
	w := post(t, rt, "/v1/messages", body, map[string]string{"Authorization": "Bearer client-key"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	// Every event relayed in order, re-framed only.
	var got, want []Event
	for _, src := range []struct {
		s   string
		out *[]Event
	}{{w.Body.String(), &got}, {anthropicSSE, &want}} {
		r := NewSSEReader(strings.NewReader(src.s))
		for {
			ev, err := r.ReadEvent()
			if err != nil {
				break
			}
			*src.out = append(*src.out, ev)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("relayed %d events; want %d:\n%s", len(got), len(want), w.Body)
	}
	for i := range want {
		if got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("event %d = %s %s; want %s %s", i, got[i].Type, got[i].Data, want[i].Type, want[i].Data)
		}
	}
	recs := rt.RecentRequests()
	if len(recs) != 1 || recs[0].InputTokens != 12 || recs[0].OutputTokens != 5 || !recs[0].Stream || recs[0].Route != ScenarioDefault {
		t.Errorf("record = %+v", recs)
	}
}

func TestAnthropicStreamTruncated(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, strings.Join(strings.SplitAfter(anthropicSSE, "\n\n")[:4], ""))
	})
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(helloBody, `"max_tokens":100`, `"max_tokens":100,"stream":true`, 1)
	w := post(t, rt, "/v1/messages", body, map[string]string{"x-api-key": "client-key"})
	out := w.Body.String()
	if w.Code != 200 || !strings.HasSuffix(out, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream stream ended before completion\"},\"request_id\":\""+w.Header().Get("Request-Id")+"\"}\n\n") {
		t.Errorf("truncated stream ended with %q", out[max(0, len(out)-200):])
	}
	if strings.Contains(out, "message_stop") {
		t.Errorf("a truncated stream must not end with message_stop")
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no key", nil, 401},
		{"wrong x-api-key", map[string]string{"x-api-key": "nope"}, 401},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"x-api-key", map[string]string{"x-api-key": "client-key"}, 200},
		{"bearer", map[string]string{"Authorization": "Bearer client-key"}, 200},
		{"malformed authorization does not shadow a valid x-api-key", map[string]string{"Authorization": "Basic Zm9v", "x-api-key": "client-key"}, 200},
		{"prefix of the key", map[string]string{"x-api-key": "client"}, 401},
	} {
		w := post(t, rt, "/v1/messages", helloBody, tt.hdr)
		if w.Code != tt.status {
			t.Errorf("%s: status %d; want %d (%s)", tt.name, w.Code, tt.status, w.Body)
		}
		if tt.status == 401 {
			var e struct {
				Type  string                `json:"type"`
				Error struct{ Type string } `json:"error"`
			}
			if json.Unmarshal(w.Body.Bytes(), &e); e.Type != "error" || e.Error.Type != "authentication_error" {
				t.Errorf("%s: body %s", tt.name, w.Body)
			}
		}
	}
	// /health is public.
	r := httptest.NewRequest("GET", "/health", nil)
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("/health: %d", w.Code)
	}
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	cfg := anthropicConfig(t, up.URL)
	cfg.MaxRequestBytes = 4096
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"x-api-key": "client-key"}
	for _, tt := range []struct {
		name, path, body string
		status           int
		typ, msg         string
	}{
		{"bad json", "/v1/messages", `{"model":`, 400, "invalid_request_error", "invalid JSON"},
		{"wrong type", "/v1/messages", `{"model":1,"max_tokens":1,"messages":[]}`, 400, "invalid_request_error", "model"},
		{"no messages", "/v1/messages", `{"model":"m","max_tokens":1,"messages":[]}`, 400, "invalid_request_error", "messages"},
		{"too large", "/v1/messages", `{"model":"` + strings.Repeat("x", 5000) + `"}`, 413, "request_too_large", "4096"},
		{"unknown provider", "/v1/messages", `{"model":"ghost,m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error", "ghost"},
		{"unknown path", "/v2/nothing", `{}`, 404, "not_found_error", "no such endpoint"},
	} {
		w := post(t, rt, tt.path, tt.body, key)
		var e struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != tt.status || e.Type != "error" || e.Error.Type != tt.typ || !strings.Contains(e.Error.Message, tt.msg) {
			t.Errorf("%s: %d %s; want %d %s containing %q", tt.name, w.Code, w.Body, tt.status, tt.typ, tt.msg)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.name, w.Header().Get("Content-Type"))
		}
	}
	r := httptest.NewRequest("GET", "/v1/messages", nil)
	r.Header.Set("x-api-key", "client-key")
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)
	if w.Code != 405 || !strings.Contains(w.Body.String(), `"type":"error"`) {
		t.Errorf("GET /v1/messages: %d %s", w.Code, w.Body)
	}
}

func TestUpstreamErrorsKeepTheirStatus(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down; your key sk-upstream-key is busy"}}`)
	})
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, rt, "/v1/messages", helloBody, map[string]string{"x-api-key": "client-key"})
	if w.Code != 429 || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), "rate_limit_error") {
		t.Errorf("429 relayed as %d %v %s", w.Code, w.Header(), w.Body)
	}
	if strings.Contains(w.Body.String(), "sk-upstream-key") {
		t.Errorf("provider key leaked to the client: %s", w.Body)
	}
}

func TestCountTokensNeedsNoModel(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, rt, "/v1/messages/count_tokens?beta=true", `{"messages":[{"role":"user","content":"hello world"}]}`, map[string]string{"x-api-key": "client-key"})
	var got struct {
		InputTokens int `json:"input_tokens"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != 200 || err != nil || got.InputTokens <= 0 {
		t.Errorf("count_tokens: %d %s", w.Code, w.Body)
	}
	if n, _ := up.last(); n != nil {
		t.Errorf("count_tokens called the upstream")
	}
}

func TestModelsList(t *testing.T) {
	t.Parallel()
	rt, err := New(routingConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/models", nil)
	r.Host = "127.0.0.1:3456"
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)
	var got struct {
		Data []ModelInfo `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || len(got.Data) != 5 || got.Data[0].ID != "DeepSeek,deepseek-chat" || got.Data[0].Type != "model" {
		t.Errorf("/v1/models: %d %s", w.Code, w.Body)
	}
}

// Two Routers with different configs in one process, in parallel: no
// shared state between them.
func TestTwoRoutersInParallel(t *testing.T) {
	t.Parallel()
	var routers []*Router
	var ups []*fakeAnthropic
	for i := range 2 {
		i := i
		up := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, strings.Replace(anthropicReply, "hello", fmt.Sprintf("router-%d", i), 1))
		})
		cfg := anthropicConfig(t, up.URL)
		cfg.APIKey = Secret(fmt.Sprintf("key-%d", i))
		rt, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		routers, ups = append(routers, rt), append(ups, up)
	}
	var wg sync.WaitGroup
	for i, rt := range routers {
		for range 20 {
			wg.Go(func() {
				w := post(t, rt, "/v1/messages", helloBody, map[string]string{"x-api-key": fmt.Sprintf("key-%d", i)})
				if w.Code != 200 || !strings.Contains(w.Body.String(), fmt.Sprintf("router-%d", i)) {
					t.Errorf("router %d answered %d %s", i, w.Code, w.Body)
				}
				w = post(t, rt, "/v1/messages", helloBody, map[string]string{"x-api-key": fmt.Sprintf("key-%d", 1-i)})
				if w.Code != 401 {
					t.Errorf("router %d accepted the other router's key: %d", i, w.Code)
				}
			})
		}
	}
	wg.Wait()
	for i, rt := range routers {
		if n := rt.Stats().Total; n != 20 {
			t.Errorf("router %d counted %d requests; want 20", i, n)
		}
	}
}

// A client that goes away cancels the upstream request at once.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	cancelled := make(chan struct{})
	up := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		frames := strings.SplitAfter(anthropicSSE, "\n\n")
		io.WriteString(w, frames[0])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	body := strings.Replace(helloBody, `"max_tokens":100`, `"max_tokens":100,"stream":true`, 1)
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", "client-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request still running 5s after the client left")
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/llm/", http.StripPrefix("/llm", rt))
	w := post(t, mux, "/llm/v1/messages", helloBody, map[string]string{"x-api-key": "client-key"})
	if w.Code != 200 || w.Body.String() != anthropicReply {
		t.Errorf("under /llm: %d %s", w.Code, w.Body)
	}
}

// An upstream that streams although the client did not ask for a stream:
// the client still gets one JSON message.
func TestStreamAnswerToNonStreamRequest(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, anthropicSSE)
	})
	rt, err := New(anthropicConfig(t, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	w := post(t, rt, "/v1/messages", helloBody, map[string]string{"x-api-key": "client-key"})
	var got Response
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if len(got.Content) != 1 || got.Content[0].Text != "hello" || got.StopReason != "end_turn" || got.Usage.InputTokens != 12 || got.Usage.OutputTokens != 5 {
		t.Errorf("collected message = %+v", got)
	}
}

func TestCountTokensUpstream(t *testing.T) {
	t.Parallel()
	var calls int
	var mu sync.Mutex
	up := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		if r.URL.Path != "/v1/messages/count_tokens" || r.Header.Get("X-Api-Key") != "sk-upstream-key" {
			http.Error(w, `{"type":"error","error":{"type":"not_found_error","message":"no"}}`, 404)
			return
		}
		io.WriteString(w, `{"input_tokens":4242}`)
	})
	cfg := anthropicConfig(t, up.URL)
	cfg.Providers[0].CountTokens = "upstream"
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	count := func(model string) string {
		w := post(t, rt, "/v1/messages/count_tokens", `{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`, map[string]string{"x-api-key": "client-key"})
		return w.Body.String()
	}
	if got := count("anthropic,claude-up"); got != `{"input_tokens":4242}` {
		t.Errorf("explicit provider: %s; want the upstream's count", got)
	}
	if got := count("claude-sonnet-4-5"); got == `{"input_tokens":4242}` {
		t.Errorf("routed model asked the upstream: %s", got)
	}
	body, _ := up.last()
	if strings.Contains(string(body), "max_tokens") || !strings.Contains(string(body), `"model":"claude-up"`) {
		t.Errorf("count_tokens body = %s", body)
	}
	if calls != 1 {
		t.Errorf("upstream called %d times; want 1", calls)
	}
}
