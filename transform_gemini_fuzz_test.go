package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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
			f.Add(crlf(b))
		}
	}
	g := newGemini(GeminiOptions{}, "gemini")
	req := &Request{Model: "gemini-2.5-flash", ClientModel: "gemini,gemini-2.5-flash",
		Tools: []Tool{{Name: "a b"}, {Name: "read"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := g.TransformStream(t.Context(), req, sseReaderFor(bytes.NewReader(data)))
		var evs []Event
		for i := 0; ; i++ {
			if i > 10*len(data)+10 {
				t.Fatalf("more events than input bytes allow")
			}
			ev, err := out.ReadEvent()
			if err == io.EOF {
				checkStreamInvariants(t, evs, true)
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("error %v is neither an *Error nor ErrTruncated", err)
				}
				checkStreamInvariants(t, evs, false)
				return
			}
			evs = append(evs, ev)
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
