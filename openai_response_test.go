package ccr

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// responseCase is a testdata/openai/response/<case>.in.json file: an
// upstream answer to a request.
type responseCase struct {
	Request  json.RawMessage   `json:"request"`  // the client's request; a default if absent
	Options  json.RawMessage   `json:"options"`  // "openai" transformer options
	Provider string            `json:"provider"` // OpenAIOptions.Provider
	Status   int               `json:"status"`   // 0 means 200
	Header   map[string]string `json:"header"`
	Body     json.RawMessage   `json:"body"` // a JSON body, or a JSON string holding a non-JSON body
}

// TestOpenAIResponseGolden converts every testdata/openai/response case:
// 2xx bodies through TransformResponse, others through TransformError.
func TestOpenAIResponseGolden(t *testing.T) {
	forEachCase(t, "testdata/openai/response/*.in.json", func(t *testing.T, in string) {
		var c responseCase
		if err := json.Unmarshal(readFile(t, in), &c); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		checkGolden(t, strings.TrimSuffix(in, ".in.json")+".golden.json", convertResponse(t, c))
	})
}

func convertResponse(t *testing.T, c responseCase) []byte {
	t.Helper()
	tr := testOpenAI(t, c.Options)
	tr.opts.Provider = c.Provider
	req := Request{Model: "openai,gpt-4o", MaxTokens: 1024, Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "q"}}}}}
	if len(c.Request) > 0 {
		req = Request{}
		if err := json.Unmarshal(c.Request, &req); err != nil {
			t.Fatalf("request: %v", err)
		}
	}
	routeRequest(&req)
	body := []byte(c.Body)
	if s, ok := jsonString(c.Body); ok {
		body = []byte(s)
	}
	status := c.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status/100 != 2 {
		h := http.Header{}
		for k, v := range c.Header {
			h.Set(k, v)
		}
		e := tr.TransformError(status, h, body)
		if len(e.Message) > maxErrorMessage+len("…")+len("prompt is too long: ")+len("upstream : ")+len(c.Provider) {
			t.Errorf("message is %d bytes, over the 2 KiB bound", len(e.Message))
		}
		return errorGolden(t, e)
	}
	resp, err := tr.TransformResponse(t.Context(), &req, body)
	if err != nil {
		return errorGolden(t, err)
	}
	b, err := marshalNoEscape(resp)
	if err != nil {
		t.Fatal(err)
	}
	return indentJSON(t, b)
}
