package ccr

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestRequestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi <b>"},{"role":"assistant","content":[{"type":"text","text":"x"},{"type":"tool_use","id":"t1","name":"f","input":{"b":1,"a":[2]}},{"type":"future_block","z":{"k":1}}]}],"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"name":"f","input_schema":{"type":"object"}}],"context_management":{"edits":[]},"service_tier":"auto"}`
	var r Request
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.Messages[0].Content[0].Text != "hi <b>" || string(r.Messages[1].Content[1].Input) != `{"b":1,"a":[2]}` {
		t.Errorf("decoded = %+v", r.Messages)
	}
	if r.Messages[1].Content[2].Raw == nil {
		t.Errorf("unknown block type not kept verbatim")
	}
	if string(r.Tools[0].Extra["max_uses"]) != "5" || string(r.Extra["service_tier"]) != `"auto"` {
		t.Errorf("extras lost: %v %v", r.Tools[0].Extra, r.Extra)
	}
	out, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal([]byte(in), &a)
	json.Unmarshal(out, &b)
	// Content strings become block arrays; everything else survives.
	am := a.(map[string]any)
	am["messages"].([]any)[0].(map[string]any)["content"] = []any{map[string]any{"type": "text", "text": "hi <b>"}}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip changed the request:\n in %s\nout %s", in, out)
	}
}

func TestRequestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"model":`, `[]`, `{"messages":"x"}`, `{"max_tokens":"5"}`, `{"tools":[{"name":1}]}`} {
		var r Request
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", in)
		}
	}
}
