package main

import (
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
)

func Example() {
	dir, err := os.MkdirTemp("", "ccr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte(`{
	  "Providers": [{"name": "ollama", "api_base_url": "http://127.0.0.1:11434/v1/chat/completions", "api_key": "", "models": ["qwen"]}],
	  "Router": {"default": "ollama,qwen"},
	}`), 0o600)
	mux, err := newMux(path, func(string) string { return "" })
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/llm/v1/models", nil)
	r.Host = "127.0.0.1:8080"
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `"id":"ollama,qwen"`))
	// Output: 200 true
}
