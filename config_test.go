package ccr

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func problemPaths(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Path)
	}
	sort.Strings(out)
	return out
}

func TestParseConfigReferenceExample(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/config/reference-example.json5")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{"CCR_KEY": "k-ccr", "OPENROUTER_API_KEY": "k-or", "DEEPSEEK_API_KEY": "k-ds",
		"GEMINI_API_KEY": "k-gem", "MS_KEY": "k-ms", "ANTHROPIC_API_KEY": "k-ant"}
	cfg, warnings, err := ParseConfig(f, envMap(vars))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	// Only the keys that need JavaScript or are not supported warn.
	want := []string{"CUSTOM_ROUTER_PATH", "StatusLine", "plugins", "transformers"}
	if got := problemPaths(warnings); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings at %v; want %v\n%v", got, want, warnings)
	}
	if cfg.APIKey != "k-ccr" || cfg.Host != "0.0.0.0" || cfg.Port != 3456 || !cfg.Log || cfg.LogLevel != "info" {
		t.Errorf("server keys = %q %q %d %v %q", string(cfg.APIKey), cfg.Host, cfg.Port, cfg.Log, cfg.LogLevel)
	}
	if cfg.APITimeout != 600*time.Second || cfg.ProxyURL != "http://127.0.0.1:7890" || cfg.ClaudePath != "/usr/local/bin/claude" {
		t.Errorf("APITimeout %v, ProxyURL %q, ClaudePath %q", cfg.APITimeout, cfg.ProxyURL, cfg.ClaudePath)
	}
	if len(cfg.Providers) != 6 {
		t.Fatalf("%d providers; want 6", len(cfg.Providers))
	}
	or := cfg.Providers[0]
	if or.Name != "openrouter" || string(or.APIKeys[0]) != "k-or" || len(or.Models) != 3 {
		t.Errorf("provider 0 = %+v", or)
	}
	if len(or.Use) != 1 || or.Use[0].Name != "openrouter" {
		t.Errorf("openrouter use = %+v", or.Use)
	}
	kimi := or.ModelUse["moonshotai/kimi-k2"]
	if len(kimi) != 1 || kimi[0].Name != "openrouter" || string(kimi[0].Options) != `{"provider":{"only":["moonshotai/fp8"]}}` {
		t.Errorf("kimi model use = %+v", kimi)
	}
	ms := cfg.Providers[3]
	if len(ms.Use) != 2 || ms.Use[0].Name != "maxtoken" || string(ms.Use[0].Options) != `{"max_tokens":65536}` || ms.Use[1].Name != "enhancetool" {
		t.Errorf("modelscope use = %+v", ms.Use)
	}
	ollama := cfg.Providers[5]
	if string(ollama.APIKeys[0]) != "ollama" || ollama.Use != nil {
		t.Errorf("ollama = %+v", ollama)
	}
	r := cfg.Router
	if r.Default != "deepseek,deepseek-chat" || r.LongContext != "gemini,gemini-2.5-pro" || r.LongContextThreshold != 60000 || r.Image != "gemini,gemini-2.5-flash" {
		t.Errorf("Router = %+v", r)
	}
	if got := cfg.Fallback["default"]; len(got) != 1 || got[0] != "openrouter,anthropic/claude-sonnet-4" {
		t.Errorf("fallback = %v", cfg.Fallback)
	}
	// Every transformer the file names exists: the Router builds.
	rt, err := New(cfg)
	if err != nil {
		t.Fatalf("New(reference example): %v", err)
	}
	rt.Close()
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	src := `{
		// a broken file: every problem must be reported at once
		PORT: "eighty",
		LOG: "maybe",
		LOG_LEVEL: 'loud',
		Providers: [
			{ name: "a", api_base_url: 42, api_key: ["k1", 7], models: "m" },
			"not an object",
			{ name: "b", api_base_url: "http://x", transformer: { use: "deepseek" } },
		],
		Router: { default: 5, longContextThreshold: -3 },
		fallback: [],
	}`
	_, _, err := ParseConfig(strings.NewReader(src), nil)
	ce, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("ParseConfig error = %v; want *ConfigError", err)
	}
	want := []string{"LOG", "LOG_LEVEL", "PORT", "Providers[0].api_base_url", "Providers[0].api_key[1]",
		"Providers[0].models", "Providers[1]", "Providers[2].transformer.use", "Router.default",
		"Router.longContextThreshold", "fallback"}
	if got := problemPaths(ce.Problems); !reflect.DeepEqual(got, want) {
		t.Errorf("problems at %v\nwant %v\n%v", got, want, err)
	}
}

func TestParseConfigSyntaxError(t *testing.T) {
	t.Parallel()
	_, _, err := ParseConfig(strings.NewReader("{\n  \"a\": 1\n  \"b\": 2\n}"), nil)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("ParseConfig error = %v; want a syntax error on line 3", err)
	}
}

func TestParseConfigEnv(t *testing.T) {
	t.Parallel()
	src := `{"Providers":[{"name":"local","api_base_url":"http://127.0.0.1:11434/v1/chat/completions","api_key":"$UNSET_KEY"},
		{"name":"x","api_base_url":"${BASE}/v1/chat/completions","api_key":"pre-${PART}-post"}],
		"Router":{"default":"local,qwen"}}`
	cfg, warnings, err := ParseConfig(strings.NewReader(src), envMap(map[string]string{"BASE": "https://api.example.com", "PART": "s3cr3t"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers[0].APIKeys) != 0 {
		t.Errorf("unset variable gave keys %v; want none", cfg.Providers[0].APIKeys)
	}
	if cfg.Providers[1].BaseURL != "https://api.example.com/v1/chat/completions" || string(cfg.Providers[1].APIKeys[0]) != "pre-s3cr3t-post" {
		t.Errorf("expansion: %q %q", cfg.Providers[1].BaseURL, string(cfg.Providers[1].APIKeys[0]))
	}
	if len(warnings) != 1 || warnings[0].Path != "Providers[0].api_key" || !strings.Contains(warnings[0].Message, "UNSET_KEY") {
		t.Errorf("warnings = %v; want one naming UNSET_KEY", warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w.Message, "s3cr3t") {
			t.Errorf("warning leaks a value: %v", w)
		}
	}
}

func TestParseConfigAPIKeyFromUnsetVariableIsAnError(t *testing.T) {
	t.Parallel()
	_, _, err := ParseConfig(strings.NewReader(`{"APIKEY":"$CCR_KEY"}`), nil)
	if err == nil || !strings.Contains(err.Error(), "APIKEY") {
		t.Errorf("ParseConfig error = %v; want an APIKEY error", err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Providers: []ProviderConfig{
			{Name: "a", BaseURL: "ftp://x"},
			{Name: "a", BaseURL: "http://x"},
			{Name: "", BaseURL: "http://y"},
			{Name: "c", BaseURL: "http://z", Use: []TransformerUse{{Name: "nope"}}},
		},
		Router:   Routes{Default: "missing,m", Think: "no-comma"},
		Fallback: map[string][]string{"default": {"ghost,m"}},
	}
	_, err := New(cfg)
	ce, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("New error = %v; want *ConfigError", err)
	}
	want := []string{"Providers[0].api_base_url", "Providers[1].name", "Providers[2].name",
		"Providers[3].transformer.use[0]", "Router.default", "Router.think", "fallback.default[0]"}
	if got := problemPaths(ce.Problems); !reflect.DeepEqual(got, want) {
		t.Errorf("problems at %v\nwant %v\n%v", got, want, err)
	}
}

func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	s := Secret("sk-live-123")
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if got != "REDACTED" {
			t.Errorf("Secret printed as %q", got)
		}
	}
	b, _ := s.MarshalJSON()
	if string(b) != `"REDACTED"` {
		t.Errorf("Secret JSON = %s", b)
	}
}
