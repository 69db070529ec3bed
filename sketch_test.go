package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSketch(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name string
		body string
		ok   bool
		want sketch // the facts compared when ok
	}{
		{"plain", `{"model":"m","max_tokens":5,` + msgs + `}`, true, sketch{model: "m", maxTokens: 5, messages: 1}},
		{"escaped model", `{"model":"caf\u00e9","max_tokens":5,"stream":true,` + msgs + `}`, true, sketch{model: "café", maxTokens: 5, stream: true, messages: 1}},
		{"unknown members", `{"model":"m","max_tokens":5,"temperature":0.5,"x":[1,{"a":"\"}"}],` + msgs + `}`, true, sketch{model: "m", maxTokens: 5, messages: 1}},
		{"image in last user", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}`,
			true, sketch{model: "m", maxTokens: 5, messages: 1, lastUserImage: true, media: true}},
		{"image in a tool result", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{}}]}]}]}`,
			true, sketch{model: "m", maxTokens: 5, messages: 2, lastUserImage: true, media: true}},
		{"image in an earlier turn", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image"}]},{"role":"assistant","content":"x"},{"role":"user","content":"y"}]}`,
			true, sketch{model: "m", maxTokens: 5, messages: 3, media: true}},
		{"document", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"d"}}]}]}`,
			true, sketch{model: "m", maxTokens: 5, messages: 1, media: true}},
		{"tools", `{"model":"m","max_tokens":5,` + msgs + `,"tools":[{"name":"a","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"},{"type":"bash_20250124","name":"bash"}]}`,
			true, sketch{model: "m", maxTokens: 5, messages: 1, webSearch: true, serverPrompt: true}},
		{"thinking signature", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"abc"}]}]}`,
			true, sketch{model: "m", maxTokens: 5, messages: 1}},

		{"router thinking", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"rtr.x"}]}]}`, false, sketch{}},
		{"subagent tag", `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"<CCR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-MODEL>hi"}],` + msgs + `}`, false, sketch{}},
		{"escape in system", `{"model":"m","max_tokens":5,"system":"\u003cCCR-SUBAGENT-MODEL>p,m</CCR-SUBAGENT-MODEL>",` + msgs + `}`, false, sketch{}},
		{"folded key", `{"Model":"m","max_tokens":5,` + msgs + `}`, false, sketch{}},
		{"folded type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"TYPE":"image"}]}]}`, false, sketch{}},
		{"escaped key", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"typ\u0065":"image"}]}]}`, false, sketch{}},
		{"escaped type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"imag\u0065"}]}]}`, false, sketch{}},
		{"duplicate model", `{"model":"m","model":"n","max_tokens":5,` + msgs + `}`, false, sketch{}},
		{"duplicate type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","type":"image"}]}]}`, false, sketch{}},
		{"no max_tokens", `{"model":"m",` + msgs + `}`, false, sketch{}},
		{"no model", `{"max_tokens":5,` + msgs + `}`, false, sketch{}},
		{"no messages", `{"model":"m","max_tokens":5,"messages":[]}`, false, sketch{}},
		{"bad role", `{"model":"m","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}`, false, sketch{}},
		{"no role", `{"model":"m","max_tokens":5,"messages":[{"content":"x"}]}`, false, sketch{}},
		{"model not a string", `{"model":5,"max_tokens":5,` + msgs + `}`, false, sketch{}},
		{"trailing bytes", `{"model":"m","max_tokens":5,` + msgs + `}x`, false, sketch{}},
		{"truncated", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi`, false, sketch{}},
		{"not an object", `[1]`, false, sketch{}},
		{"empty", ``, false, sketch{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sketchRequest([]byte(tt.body))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			got.modelSpan, got.thinking, got.metadata = rawSpan{}, nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sketch = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

// TestSketchTokenBound checks the bound the long-context rule relies on for
// the long Claude Code request and for text with invalid UTF-8, whose
// bytes decode to three each.
func TestSketchTokenBound(t *testing.T) {
	t.Parallel()
	bench, err := os.ReadFile("testdata/bench/claude_code_request.json")
	if err != nil {
		t.Fatal(err)
	}
	routers := sketchRouters(t)
	for _, body := range [][]byte{
		bench,
		[]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("\xff\xfe", 40) + `"}]}`),
		[]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("日本語", 40) + `"}]}`),
	} {
		checkSketch(t, routers, body)
		sk, _ := sketchRequest(body)
		req, _ := parseMessages(body, false)
		n := NewTokenCounter(-1).Count(req)
		if !sk.tokensAtMost(body, 3*len(body)) || !sk.tokensAtMost(body, len(body)+2*highBytes(body)) {
			t.Errorf("%.40q: no bound at %d bytes", body, len(body))
		}
		if sk.tokensAtMost(body, n-1) {
			t.Errorf("%.40q: bound below the count %d", body, n)
		}
	}
}

// FuzzSketch pins the sketch to the full path: whenever the sketch takes a
// body that the full path accepts, its facts are the decoded request's, its
// token bound holds, and routing it decides as routing the decoded request
// does.
func FuzzSketch(f *testing.F) {
	for _, p := range []string{"testdata/openai/request/*.in.json", "testdata/bench/claude_code_request.json"} {
		m, _ := filepath.Glob(p)
		for i, file := range m {
			if i%4 != 0 {
				continue
			}
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"model":"claude-3-haiku","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`))
	f.Add([]byte(`{"model":"p,m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":10},"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"TYPE":"imag\u0065","source":{"type":"url","url":"u"}}]}]}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"tools":[{"type":"computer_20250124","name":"computer","display_width_px":1,"display_height_px":1}],"messages":[{"role":"user","content":"hi"}]}`))
	routers := sketchRouters(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSketch(t, routers, b)
	})
}

func checkSketch(t *testing.T, routers []*state, body []byte) {
	t.Helper()
	req, err := parseMessages(body, false)
	if err != nil {
		return // the passthrough leaves content validation to Anthropic
	}
	count := NewTokenCounter(-1).Count(req)
	if count > 0 && !mayHoldMedia(req) && bodyTokensAtMost(body, count-1) {
		t.Fatalf("decoded request: token bound below the count %d (%d bytes)", count, len(body))
	}
	for _, st := range routers {
		hr := httptest.NewRequest(http.MethodPost, "/v1/messages", nil)
		want, werr := st.route(context.Background(), hr, req.Clone(), "")
		got, gerr := st.routeInput(context.Background(), hr, &routeInput{req: req.Clone(), body: body}, "")
		if (werr == nil) != (gerr == nil) || got.scenario != want.scenario || got.model != want.model {
			t.Fatalf("threshold %d: with the bound, routes to %s %s (%v); counting, to %s %s (%v)", st.cfg.Router.LongContextThreshold,
				got.scenario, got.model, gerr, want.scenario, want.model, werr)
		}
	}
	sk, ok := sketchRequest(body)
	if !ok {
		return
	}
	if sk.model != req.Model || sk.maxTokens != req.MaxTokens || sk.stream != req.Stream || sk.messages != len(req.Messages) {
		t.Fatalf("sketch %+v, decoded model %q max_tokens %d stream %v messages %d", sk, req.Model, req.MaxTokens, req.Stream, len(req.Messages))
	}
	if !bytes.Equal(sk.metadata, req.Metadata) || !jsonEqual(sk.thinking, req.Thinking) {
		t.Fatalf("metadata %s thinking %+v, decoded %s %+v", sk.metadata, sk.thinking, req.Metadata, req.Thinking)
	}
	var model string
	if err := json.Unmarshal(body[sk.modelSpan.start:sk.modelSpan.end], &model); err != nil || model != req.Model {
		t.Fatalf("model span %q", body[sk.modelSpan.start:sk.modelSpan.end])
	}
	if lastUserHasImage(req) && !sk.lastUserImage {
		t.Fatal("sketch missed an image in the last user message")
	}
	web, prompt := false, false
	for i := range req.Tools {
		web = web || req.Tools[i].IsWebSearch()
		prompt = prompt || req.Tools[i].IsServerTool() && serverToolTokens(req.Tools[i].Type) > 0
	}
	if web != sk.webSearch || prompt != sk.serverPrompt {
		t.Fatalf("webSearch %v serverPrompt %v, decoded %v %v", sk.webSearch, sk.serverPrompt, web, prompt)
	}
	if hasRouterThinking(req) || extractSubagentTag(req.Clone()) != "" {
		t.Fatal("sketch took a request the passthrough cannot forward as is")
	}
	if count > 0 && sk.tokensAtMost(body, count-1) {
		t.Fatalf("token bound below the count %d (%d bytes)", count, len(body))
	}
	// Routing the sketch decides as routing the decoded request.
	for _, st := range routers {
		hr := httptest.NewRequest(http.MethodPost, "/v1/messages", nil)
		want, werr := st.route(context.Background(), hr, req.Clone(), "")
		shallow := sk.request(body)
		got, gerr := st.routeInput(context.Background(), hr, &routeInput{req: shallow, sk: &sk, body: body}, "")
		if (werr == nil) != (gerr == nil) || got.scenario != want.scenario || got.provider != want.provider || got.model != want.model {
			t.Fatalf("threshold %d: sketch routes to %s %s,%s (%v); decoded to %s %s,%s (%v)", st.cfg.Router.LongContextThreshold,
				got.scenario, providerName(got.provider), got.model, gerr, want.scenario, providerName(want.provider), want.model, werr)
		}
	}
}

func providerName(p *provider) string {
	if p == nil {
		return ""
	}
	return p.name
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// sketchRouters returns Router states with every routing rule set, each
// to its own model, and long-context thresholds of 1, 200 and 1 MiB
// tokens.
func sketchRouters(tb testing.TB) []*state {
	tb.Helper()
	var sts []*state
	for _, threshold := range []int{1, 200, 1 << 20} {
		rt, err := New(Config{
			Providers: []ProviderConfig{{Name: "p", BaseURL: "http://127.0.0.1:1/v1/messages", Use: []TransformerUse{{Name: "Anthropic"}},
				Models: []string{"default", "background", "think", "long", "web", "image", "m"}}},
			Router: Routes{Default: "p,default", Background: "p,background", Think: "p,think", LongContext: "p,long",
				LongContextThreshold: threshold, WebSearch: "p,web", Image: "p,image"},
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { rt.Close() })
		sts = append(sts, rt.state.Load())
	}
	return sts
}

// BenchmarkSketch sketches the 45 KB Claude Code request.
func BenchmarkSketch(b *testing.B) {
	body := benchBody(b, false)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := sketchRequest(body); !ok {
			b.Fatal("no sketch")
		}
	}
}

// TestPassthroughLeavesContentToUpstream checks the two paths of a request
// with an unanswered tool_use: the Anthropic passthrough forwards it as it
// came, model aside, for the upstream to judge; a conversion decodes it,
// and validation answers 400 without calling the upstream.
func TestPassthroughLeavesContentToUpstream(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	cfg := anthropicConfig(t, up.URL)
	cfg.Providers = append(cfg.Providers, ProviderConfig{Name: "oa", BaseURL: up.URL + "/v1/chat/completions", Models: []string{"m"}})
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"model":"MODEL","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":"no result"}]}`
	key := map[string]string{"x-api-key": "client-key"}

	w := post(t, rt, "/v1/messages", strings.Replace(body, "MODEL", "anthropic,claude-up", 1), key)
	got, _ := up.last()
	if w.Code != http.StatusOK || string(got) != strings.Replace(body, "MODEL", "claude-up", 1) {
		t.Errorf("passthrough: %d %s; upstream got %s", w.Code, w.Body, got)
	}

	w = post(t, rt, "/v1/messages", strings.Replace(body, "MODEL", "oa,m", 1), key)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "tool_use") {
		t.Errorf("conversion: %d %s; want 400 about the tool_use", w.Code, w.Body)
	}
	up.mu.Lock()
	calls := len(up.bodies)
	up.mu.Unlock()
	if calls != 1 {
		t.Errorf("upstream called %d times; want once, for the passthrough", calls)
	}
}

// FuzzPassthroughUsage pins the usage the passthrough reads of a relayed
// answer to the full decoder's: when both take a body, they agree, and the
// passthrough takes only valid JSON.
func FuzzPassthroughUsage(f *testing.F) {
	if b, err := os.ReadFile("testdata/bench/anthropic_message.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"usage":{"input_tokens":3,"output_tokens":4,"cache_read_input_tokens":5},"content":[]}`))
	f.Add([]byte(`{"Usage":{"input_tokens":3},"usage":null}`))
	f.Add([]byte(`{"usage":{"input_tokens":3},"usage":{"input_tokens":4}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, ok := passthroughUsage(b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("took invalid JSON %q", b)
		}
		var resp Response
		if err := decodeResponse(b, &resp); err == nil && resp.Usage != u {
			t.Fatalf("usage %+v; decoder %+v", u, resp.Usage)
		}
	})
}

func TestHighBytes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "é", strings.Repeat("a", 31) + "é", strings.Repeat("ü", 40) + "x", strings.Repeat("abc\xff", 23)} {
		want := 0
		for _, c := range []byte(s) {
			if c >= 0x80 {
				want++
			}
		}
		if got := highBytes([]byte(s)); got != want {
			t.Errorf("highBytes(%q) = %d; want %d", s, got, want)
		}
	}
}
