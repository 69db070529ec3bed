package benchdata

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/bench")

// dir is the module's testdata/bench, where the generated inputs are
// committed for the root package's benchmarks.
const dir = "../../../testdata/bench"

func files() map[string][]byte {
	return map[string][]byte{
		"claude_code_request.json": Request(true),
		"anthropic_200.sse":        bytes.Join(AnthropicStream("bench-model", 200), nil),
		"openai_200.sse":           bytes.Join(OpenAIStream("bench-model", 200), nil),
		"anthropic_message.json":   AnthropicMessage("bench-model"),
		"openai_message.json":      OpenAIMessage("bench-model"),
	}
}

// TestCommitted checks that the committed copies match the generator; run
// with -update to rewrite them.
func TestCommitted(t *testing.T) {
	for name, want := range files() {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator; run go test ./bench/internal/benchdata -update", path)
		}
	}
}

func TestRequest(t *testing.T) {
	for _, stream := range []bool{false, true} {
		b := Request(stream)
		if !bytes.Equal(b, Request(stream)) {
			t.Fatal("Request is not deterministic")
		}
		if n := len(b); n < 40<<10 || n > 50<<10 {
			t.Errorf("Request(%v) is %d bytes; want about 45 KB", stream, n)
		}
		var v struct {
			Model    string
			Stream   bool
			Tools    []json.RawMessage
			Messages []struct {
				Role    string
				Content []struct{ Type string }
			}
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if v.Stream != stream || len(v.Tools) != 15 || v.Model != ClientModel {
			t.Errorf("Request(%v): stream %v, %d tools, model %q", stream, v.Stream, len(v.Tools), v.Model)
		}
		kinds := map[string]int{}
		for _, m := range v.Messages {
			for _, c := range m.Content {
				kinds[c.Type]++
			}
		}
		if kinds["tool_use"] < 5 || kinds["tool_use"] != kinds["tool_result"] {
			t.Errorf("content blocks %v; want matching tool_use and tool_result turns", kinds)
		}
		// The load benchmark's upstream recognises streams by this text.
		if got := bytes.Count(b, []byte(`"stream":true`)); got != map[bool]int{false: 0, true: 1}[stream] {
			t.Errorf(`Request(%v) has %d "stream":true`, stream, got)
		}
	}
	if n := len(CountTokensRequest()); n < 40<<10 {
		t.Errorf("CountTokensRequest is %d bytes", n)
	}
}

func TestStreams(t *testing.T) {
	for _, n := range []int{20, 200} {
		an := AnthropicStream("m", n)
		if got := bytes.Count(bytes.Join(an, nil), []byte("event: content_block_delta")); got != n {
			t.Errorf("AnthropicStream(%d) has %d deltas", n, got)
		}
		oa := OpenAIStream("m", n)
		if got := len(oa) - 4; got != n { // role, finish, usage, [DONE]
			t.Errorf("OpenAIStream(%d) has %d content chunks", n, got)
		}
		// The tool arguments survive the split.
		var args bytes.Buffer
		for _, f := range an {
			var ev struct {
				Delta struct {
					PartialJSON string `json:"partial_json"`
				}
			}
			if i := bytes.Index(f, []byte("data: ")); i >= 0 && json.Unmarshal(f[i+6:], &ev) == nil {
				args.WriteString(ev.Delta.PartialJSON)
			}
		}
		if !json.Valid(args.Bytes()) || !bytes.Equal(args.Bytes(), answerArgs) {
			t.Errorf("AnthropicStream(%d) tool arguments do not join up: %q", n, args.Bytes())
		}
	}
	for _, b := range [][]byte{AnthropicMessage("m"), OpenAIMessage("m")} {
		if !json.Valid(b) {
			t.Errorf("invalid JSON %s", b)
		}
	}
}
