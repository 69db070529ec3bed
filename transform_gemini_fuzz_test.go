package ccr

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzGeminiStream feeds arbitrary upstream bytes to the Gemini stream
// converter: it must not panic or loop, must end with io.EOF or an error,
// and what it emits must satisfy the Anthropic stream invariants. The
// committed corpus is in testdata/fuzz/FuzzGeminiStream.
func FuzzGeminiStream(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/gemini/stream/*/upstream.sse")
	for _, p := range dirs {
		if b, err := os.ReadFile(p); err == nil && len(b) < 4096 {
			f.Add(b)
			f.Add(toCRLF(b))
		}
	}
	g := newGemini(GeminiOptions{}, "gemini")
	req := &Request{Model: "gemini-2.5-flash", ClientModel: "gemini,gemini-2.5-flash",
		Tools: []Tool{{Name: "a b"}, {Name: "read"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := readEvents(g.TransformStream(t.Context(), req, upstreamSSE(bytes.NewReader(data))))
		if len(evs) > 10*len(data)+10 {
			t.Fatalf("%d events from %d bytes: more than the input allows", len(evs), len(data))
		}
		if perr := (streamRules{}).problems(evs, err); perr != nil {
			t.Fatalf("%v\n%s", perr, eventsSSE(evs))
		}
		// Gemini has no pings, and no citations to stream.
		for _, ev := range evs {
			var d struct {
				Delta struct {
					Type string `json:"type"`
				} `json:"delta"`
			}
			json.Unmarshal(ev.Data, &d)
			if ev.Type == "ping" || d.Delta.Type == "citations_delta" {
				t.Fatalf("unexpected %s", ev.Data)
			}
		}
	})
}

// FuzzGeminiSchema feeds arbitrary JSON schemas to both sanitisers: they
// must not panic, must return valid JSON, and an openapi result must pass
// Gemini's rules.
func FuzzGeminiSchema(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"type":["string","null"]}}}`))
	f.Add([]byte(`{"type":"object","properties":{"n":{"$ref":"#"},"m":{"anyOf":[{"type":"null"},{"const":"x"}]}}}`))
	f.Add([]byte(`{"allOf":[{"properties":{"x":{"type":"integer","exclusiveMinimum":1.5}}},{"required":["x"]}]}`))
	if b, err := os.ReadFile("testdata/gemini/schema/claude_code_tools.json"); err == nil {
		var tools []struct {
			InputSchema json.RawMessage `json:"input_schema"`
		}
		json.Unmarshal(b, &tools)
		for _, t := range tools {
			f.Add([]byte(t.InputSchema))
		}
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		if !json.Valid(schema) {
			return
		}
		out, err := geminiSchemaOpenAPI(schema)
		if err == nil && out != nil {
			if !json.Valid(out) {
				t.Fatalf("openapi output is not JSON: %s", out)
			}
			n, err := gjParse(out)
			if err != nil {
				t.Fatal(err)
			}
			checkOpenAPISchema(t, "parameters", n, true)
		}
		out, err = geminiSchemaJSON(schema)
		if err == nil && out != nil && !json.Valid(out) {
			t.Fatalf("jsonschema output is not JSON: %s", out)
		}
	})
}
