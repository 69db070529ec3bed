package ccr

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestOpenAIRequestGolden converts every testdata/openai/request case:
// <case>.in.json is the client's Anthropic request, the optional
// <case>.options.json the "openai" transformer options, and
// <case>.golden.json the upstream body or the error the client gets.
func TestOpenAIRequestGolden(t *testing.T) {
	forEachCase(t, "testdata/openai/request/*.in.json", func(t *testing.T, in string) {
		base := strings.TrimSuffix(in, ".in.json")
		tr := testOpenAI(t, readOptional(t, base+".options.json"))
		checkGolden(t, base+".golden.json", convertRequest(t, tr, readFile(t, in)))
	})
}

// convertRequest runs what the router runs for one client body:
// decode, validate, route, convert. It fails the test if the conversion
// modifies the request or produces a body that is not compact JSON.
func convertRequest(t *testing.T, tr *openAI, raw []byte) []byte {
	t.Helper()
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatalf("decode request: %v", err)
	}
	if err := ValidateRequest(&req); err != nil {
		return errorGolden(t, err)
	}
	routeRequest(&req)
	before, err := json.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	up, err := tr.TransformRequest(t.Context(), &req)
	if err != nil {
		return errorGolden(t, err)
	}
	after, _ := json.Marshal(&req)
	if !bytes.Equal(before, after) {
		t.Errorf("TransformRequest modified the request\nbefore %s\nafter  %s", before, after)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, up.Body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, up.Body)
	}
	if !bytes.Equal(compact.Bytes(), up.Body) {
		t.Errorf("body is not compact JSON")
	}
	if up.Stream != req.Stream || up.Path != "" || up.URL != "" || up.Header.Get("Content-Type") != "application/json" {
		t.Errorf("UpstreamRequest = {Path %q URL %q Stream %v Header %v}; want {\"\" \"\" %v application/json}", up.Path, up.URL, up.Stream, up.Header, req.Stream)
	}
	for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`} {
		if bytes.Contains(up.Body, []byte(esc)) && !bytes.Contains(raw, []byte(esc)) {
			t.Errorf("body has HTML escape %s the client did not send", esc)
		}
	}
	return indentJSON(t, up.Body)
}

func TestOpenAITransformerDef(t *testing.T) {
	def, ok := DefaultTransformers()["openai"]
	if !ok || def.Endpoint != "/v1/chat/completions" || def.Apply == nil || def.Description == "" {
		t.Fatalf("openai def = %+v", def)
	}
	documented := map[string]bool{}
	for _, o := range def.Options {
		documented[o.Name] = true
	}
	typ := reflect.TypeOf(openAIOptionsJSON{})
	for i := 0; i < typ.NumField(); i++ {
		if name := typ.Field(i).Tag.Get("json"); !documented[name] {
			t.Errorf("option %q is accepted but not documented in Options", name)
		}
	}
	if len(def.Options) != typ.NumField() {
		t.Errorf("%d options documented, %d accepted", len(def.Options), typ.NumField())
	}

	tests := []struct {
		options string
		want    OpenAIOptions
		err     string
	}{
		{``, OpenAIOptions{}, ""},
		{`null`, OpenAIOptions{}, ""},
		{`{"max_completion_tokens":true,"include_usage":false,"reasoning":"reasoning_effort","max_stop_sequences":4}`,
			OpenAIOptions{MaxCompletionTokens: true, NoStreamOptions: true, Reasoning: "effort", MaxStopSequences: 4}, ""},
		{`{"reasoning":"deepseek_thinking","reasoning_passback":true}`, OpenAIOptions{Reasoning: "deepseek", ReasoningPassback: true}, ""},
		{`{"reasoning":"magic"}`, OpenAIOptions{}, "unknown value"},
		{`{"max_tokens":5}`, OpenAIOptions{}, "unknown field"},
		{`{"max_stop_sequences":-1}`, OpenAIOptions{}, "negative"},
		{`[1]`, OpenAIOptions{}, "cannot unmarshal"},
	}
	for _, tt := range tests {
		c := Chain{Format: NewOpenAI(OpenAIOptions{})} // an earlier format entry
		err := def.Apply(&c, json.RawMessage(tt.options))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Apply(%s) error = %v, want %q", tt.options, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(c.OpenAI, tt.want) || c.Format != nil {
			t.Errorf("Apply(%s) = %+v, Format %v, err %v; want %+v, nil Format", tt.options, c.OpenAI, c.Format, err, tt.want)
		}
	}
}
