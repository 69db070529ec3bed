// Command mount shows ccr mounted in an existing mux under /llm/, next to
// the application's own routes, with the config read from a
// claude-code-router config.json.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/ccrgo/ccr"
)

func main() {
	home, _ := os.UserHomeDir()
	mux, err := newMux(ccr.DefaultConfigPath(home), os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// newMux mounts a Router built from the config file at path.
func newMux(path string, getenv func(string) string) (*http.ServeMux, error) {
	cfg, warnings, err := ccr.LoadConfig(path, getenv)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Println("config:", w)
	}
	rt, err := ccr.New(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// Clients use ANTHROPIC_BASE_URL=http://127.0.0.1:8080/llm
	mux.Handle("/llm/", http.StripPrefix("/llm", rt))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the application's own page")
	})
	return mux, nil
}
