// Command embed shows ccr imported into a Go service: the configuration is
// built in Go, a RouteFunc picks a provider by a header of the service's
// own, and a Hook clamps max_tokens for every request.
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/ccrgo/ccr"
)

func main() {
	rt, err := newRouter(os.Getenv("DEEPSEEK_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", rt))
}

// newRouter builds the service's router.
func newRouter(deepseekKey string) (*ccr.Router, error) {
	return ccr.New(ccr.Config{
		Providers: []ccr.ProviderConfig{
			{
				Name:    "deepseek",
				BaseURL: "https://api.deepseek.com/chat/completions",
				APIKeys: []ccr.Secret{ccr.Secret(deepseekKey)},
				Models:  []string{"deepseek-chat", "deepseek-reasoner"},
			},
			{
				Name:    "local",
				BaseURL: "http://127.0.0.1:11434/v1/chat/completions",
				Models:  []string{"qwen2.5-coder:latest"},
			},
		},
		Router: ccr.Routes{Default: "deepseek,deepseek-chat", Background: "local,qwen2.5-coder:latest"},
		// Requests from the service's batch jobs go to the local model.
		RouteFunc: func(ctx context.Context, rr *ccr.RouteRequest) (string, error) {
			if rr.Header.Get("X-Job-Class") == "batch" {
				return "local,qwen2.5-coder:latest", nil
			}
			return "", nil // let the built-in rules decide
		},
		Hooks: []ccr.Hook{{
			Name: "cap-output",
			Request: func(ctx context.Context, req *ccr.Request) error {
				req.MaxTokens = min(req.MaxTokens, 8192)
				return nil
			},
		}},
	})
}
