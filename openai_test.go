package ccr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testOpenAI builds the OpenAI transformer the way a config would: through
// the "openai" TransformerDef with options (nil for none), with ids from
// a counter so goldens are stable.
func testOpenAI(t testing.TB, options json.RawMessage) *openAI {
	t.Helper()
	def, ok := DefaultTransformers()["openai"]
	if !ok {
		t.Fatal(`DefaultTransformers has no "openai"`)
	}
	var c Chain
	if err := def.Apply(&c, options); err != nil {
		t.Fatalf("apply options %s: %v", options, err)
	}
	if c.Format != nil {
		t.Fatal("openai Apply set a Format; want nil (OpenAI from c.OpenAI)")
	}
	tr := newOpenAI(c.OpenAI)
	tr.newID = countingIDs()
	return tr
}

// routeRequest does what the router does before a transformer sees the
// request: the client's model is kept in ClientModel and a
// "provider,model" string is split.
func routeRequest(req *Request) {
	req.ClientModel = req.Model
	if _, m, ok := strings.Cut(req.Model, ","); ok {
		req.Model = strings.TrimSpace(m)
	}
}

// errorGolden renders an error for a golden file.
func errorGolden(t *testing.T, err error) []byte {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not an *Error: %T %v", err, err)
	}
	b, mErr := marshalNoEscape(struct {
		Status  int               `json:"status"`
		Type    string            `json:"type"`
		Message string            `json:"message"`
		Header  map[string]string `json:"header,omitempty"`
	}{e.status(), e.typ(), e.Message, flatHeader(e.Header)})
	if mErr != nil {
		t.Fatal(mErr)
	}
	return indentJSON(t, b)
}

func flatHeader(h map[string][]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[k] = strings.Join(v, ", ")
	}
	return m
}

// renderEvents writes events and a final error the way the router does:
// an error before any event is an HTTP status (noted as a comment line),
// after that an event: error frame.
func renderEvents(evs []Event, err error) []byte {
	var out []byte
	if err != nil && len(evs) == 0 {
		out = fmt.Appendf(out, ": http %d\n", asError(err).status())
	}
	for _, ev := range evs {
		out = AppendEvent(out, ev)
	}
	if err != nil {
		out = AppendEvent(out, errorEvent(asError(err)))
	}
	return out
}
