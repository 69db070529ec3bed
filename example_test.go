package ccr_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ccrgo/ccr"
)

// ExampleNew mounts a Router under a prefix in an existing mux, in front of
// an Anthropic-format upstream.
func ExampleNew() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello from upstream"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}`)
	}))
	defer upstream.Close()

	rt, err := ccr.New(ccr.Config{
		Providers: []ccr.ProviderConfig{{
			Name:    "anthropic",
			BaseURL: upstream.URL + "/v1/messages",
			APIKeys: []ccr.Secret{"sk-ant-example"},
			Use:     []ccr.TransformerUse{{Name: "Anthropic"}},
		}},
		Router: ccr.Routes{Default: "anthropic,claude-sonnet-4-5"},
		APIKey: "client-secret",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	mux := http.NewServeMux()
	mux.Handle("/llm/", http.StripPrefix("/llm", rt))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/llm/v1/messages",
		strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`))
	req.Header.Set("x-api-key", "client-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Contains(string(body), "Hello from upstream"))
	// Output: 200 true
}

// ExampleSSEReader reads server-sent events.
func ExampleSSEReader() {
	r := ccr.NewSSEReader(strings.NewReader("event: ping\ndata: {}\n\n: comment\ndata: line one\r\ndata: line two\n\n"))
	for {
		ev, err := r.ReadEvent()
		if err != nil {
			break
		}
		fmt.Printf("%q %q\n", ev.Type, ev.Data)
	}
	// Output:
	// "ping" "{}"
	// "" "line one\nline two"
}

// ExampleParseConfig loads a reference config.json, JSON5 and all.
func ExampleParseConfig() {
	src := `{
	  // comments and trailing commas are fine
	  Providers: [
	    { name: "ollama", api_base_url: "http://127.0.0.1:11434/v1/chat/completions", api_key: "", models: ["qwen2.5-coder"], },
	  ],
	  Router: { default: "ollama,qwen2.5-coder" },
	  StatusLine: { enabled: true },
	}`
	cfg, warnings, err := ccr.ParseConfig(strings.NewReader(src), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Providers[0].Name, cfg.Router.Default)
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	// Output:
	// ollama ollama,qwen2.5-coder
	// warning: StatusLine: the status line is not supported
}
