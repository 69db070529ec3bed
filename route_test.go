package ccr

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func routingConfig() Config {
	return Config{
		Providers: []ProviderConfig{
			{Name: "DeepSeek", BaseURL: "http://127.0.0.1:1/chat/completions", Models: []string{"deepseek-chat", "deepseek-Reasoner"}},
			{Name: "gemini", BaseURL: "http://127.0.0.1:1/v1beta/models/", Models: []string{"gemini-2.5-pro", "gemini-2.5-flash"}, Use: []TransformerUse{{Name: "Anthropic"}}},
			{Name: "ollama", BaseURL: "http://127.0.0.1:1/v1/chat/completions", Models: []string{"qwen"}},
		},
		Router: Routes{
			Default:              "DeepSeek,deepseek-chat",
			Background:           "ollama,qwen",
			Think:                "DeepSeek,deepseek-Reasoner",
			LongContext:          "gemini,gemini-2.5-pro",
			LongContextThreshold: 1000,
			WebSearch:            "gemini,gemini-2.5-flash",
			Image:                "gemini,gemini-2.5-flash",
		},
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	rt, err := New(routingConfig())
	if err != nil {
		t.Fatal(err)
	}
	st := rt.state.Load()
	long := strings.Repeat("lorem ipsum dolor sit amet ", 1500)
	img := `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}}`
	tests := []struct {
		name     string
		body     string
		header   map[string]string
		scenario string
		target   string // provider,model
		system0  string // expected text of system[0] after routing, if set
	}{
		{"default", `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioDefault, "DeepSeek,deepseek-chat", ""},
		{"claude code 2.x adaptive thinking goes to default",
			`{"model":"claude-opus-4-5","max_tokens":32000,"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"medium"},"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioDefault, "DeepSeek,deepseek-chat", ""},
		{"disabled thinking is not think", `{"model":"m","max_tokens":10,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioDefault, "DeepSeek,deepseek-chat", ""},
		{"explicit extended thinking", `{"model":"m","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":4000},"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioThink, "DeepSeek,deepseek-Reasoner", ""},
		{"background haiku", `{"model":"claude-3-5-Haiku-20241022","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioBackground, "ollama,qwen", ""},
		{"web search beats think", `{"model":"m","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":4000},"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}],"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioWebSearch, "gemini,gemini-2.5-flash", ""},
		{"background beats web search", `{"model":"claude-haiku-4-5","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioBackground, "ollama,qwen", ""},
		{"explicit provider,model with case restored", `{"model":"deepseek,deepseek-reasoner","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioExplicit, "DeepSeek,deepseek-Reasoner", ""},
		{"explicit unknown model forwarded", `{"model":"ollama,llama3","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioExplicit, "ollama,llama3", ""},
		{"long context", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"` + long + `"}]}`,
			nil, ScenarioLongContext, "gemini,gemini-2.5-pro", ""},
		{"explicit beats long context", `{"model":"ollama,qwen","max_tokens":10,"messages":[{"role":"user","content":"` + long + `"}]}`,
			nil, ScenarioExplicit, "ollama,qwen", ""},
		{"subagent tag in a later system block", `{"model":"claude-sonnet-4-5","max_tokens":10,"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2"},{"type":"text","text":"<CCR-SUBAGENT-MODEL>ollama,qwen</CCR-SUBAGENT-MODEL>You are a subagent."}],"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioSubagent, "ollama,qwen", ""},
		{"subagent tag in the first block", `{"model":"claude-haiku-4-5","max_tokens":10,"system":[{"type":"text","text":"<CCR-SUBAGENT-MODEL>DeepSeek,deepseek-chat</CCR-SUBAGENT-MODEL>Agent"}],"messages":[{"role":"user","content":"hi"}]}`,
			nil, ScenarioSubagent, "DeepSeek,deepseek-chat", "Agent"},
		{"long context beats subagent", `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"<CCR-SUBAGENT-MODEL>ollama,qwen</CCR-SUBAGENT-MODEL>Agent"}],"messages":[{"role":"user","content":"` + long + `"}]}`,
			nil, ScenarioLongContext, "gemini,gemini-2.5-pro", "Agent"},
		{"image in the last user message", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[` + img + `,{"type":"text","text":"what is this"}]}]}`,
			nil, ScenarioImage, "gemini,gemini-2.5-flash", ""},
		{"image inside a tool_result", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"read it"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[` + img + `]}]}]}`,
			nil, ScenarioImage, "gemini,gemini-2.5-flash", ""},
		{"image beats explicit", `{"model":"ollama,qwen","max_tokens":10,"messages":[{"role":"user","content":[` + img + `]}]}`,
			nil, ScenarioImage, "gemini,gemini-2.5-flash", ""},
		{"image only in an earlier turn", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[` + img + `]},{"role":"assistant","content":"a cat"},{"role":"user","content":"thanks"}]}`,
			nil, ScenarioDefault, "DeepSeek,deepseek-chat", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := parseMessages([]byte(tt.body), false)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(tt.body))
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			dec, err := st.route(r.Context(), r, req, sessionID(r, req))
			if err != nil {
				t.Fatalf("route: %v", err)
			}
			if got := dec.provider.name + "," + dec.model; dec.scenario != tt.scenario || got != tt.target {
				t.Errorf("route = %s %s; want %s %s", dec.scenario, got, tt.scenario, tt.target)
			}
			if tt.system0 != "" {
				var texts []string
				for _, b := range req.System {
					texts = append(texts, b.Text)
				}
				joined := strings.Join(texts, "|")
				if strings.Contains(joined, "CCR-SUBAGENT-MODEL") || !strings.Contains(joined, tt.system0) {
					t.Errorf("system after routing = %q; want the tag removed and %q kept", joined, tt.system0)
				}
				if req.Raw != nil {
					t.Errorf("Raw kept after the prompt changed")
				}
			}
		})
	}
}

func TestRouteLongContextFromSessionUsage(t *testing.T) {
	t.Parallel()
	cfg := routingConfig()
	cfg.Router.LongContextThreshold = 60000
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := rt.state.Load()
	// Over 20000 tokens now, and the session's last turn used 70000.
	body := `{"model":"m","max_tokens":10,"metadata":{"user_id":"user_ab_account_cd_session_s-1"},"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum dolor sit amet ", 5000) + `"}]}`
	route := func(hdr string) string {
		req, err := parseMessages([]byte(body), false)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/v1/messages", nil)
		if hdr != "" {
			r.Header.Set("X-Claude-Code-Session-Id", hdr)
		}
		dec, err := st.route(r.Context(), r, req, sessionID(r, req))
		if err != nil {
			t.Fatal(err)
		}
		return dec.scenario
	}
	if got := route(""); got != ScenarioDefault {
		t.Fatalf("before usage: %s", got)
	}
	rt.d.sessions.store("s-1", 70000)
	if got := route(""); got != ScenarioLongContext {
		t.Errorf("metadata session with large last usage: %s; want longContext", got)
	}
	rt.d.sessions.store("hdr-session", 70000)
	if got := route("hdr-session"); got != ScenarioLongContext {
		t.Errorf("header session with large last usage: %s; want longContext", got)
	}
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	cfg := routingConfig()
	cfg.Router = Routes{}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := rt.state.Load()
	for _, tt := range []struct {
		model  string
		status int
		msg    string
	}{
		{"claude-sonnet-4-5", 400, "Router.default"},
		{"nobody,model", 404, `provider "nobody" not found`},
		{",model", 400, `expected "<provider>,<model>"`},
	} {
		req, err := parseMessages([]byte(`{"model":"`+tt.model+`","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), false)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/v1/messages", nil)
		_, err = st.route(r.Context(), r, req, "")
		e := asError(err)
		if e.status() != tt.status || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("route(%q) = %d %q; want %d containing %q", tt.model, e.status(), e.Message, tt.status, tt.msg)
		}
	}
}
