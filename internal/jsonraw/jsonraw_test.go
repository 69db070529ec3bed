package jsonraw

import (
	"encoding/json"
	"testing"
)

func TestSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, key, value, want string
	}{
		{`{"model":"a","x":[1,{"model":"inner"}]}`, "model", `"b"`, `{"model":"b","x":[1,{"model":"inner"}]}`},
		{`{ "x" : { "y":"}" } , "model" :"a" }`, "model", `"b"`, `{ "x" : { "y":"}" } , "model" :"b" }`},
		{`{"a":1}`, "model", `"m"`, `{"a":1,"model":"m"}`},
		{`{}`, "model", `"m"`, `{"model":"m"}`},
		{`{"s":"a\"b\\","model":1.5e3}`, "model", `"z"`, `{"s":"a\"b\\","model":"z"}`},
		{`{"mod\u0065l":"a"}`, "model", `"b"`, `{"mod\u0065l":"b"}`},
	}
	for _, tt := range tests {
		got, err := Set([]byte(tt.doc), tt.key, []byte(tt.value))
		if err != nil {
			t.Errorf("Set(%s) error: %v", tt.doc, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Set(%s, %s, %s) = %s; want %s", tt.doc, tt.key, tt.value, got, tt.want)
		}
	}
}

func TestMembersErrors(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{``, `[]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"x}`, `{"a":1`, `{"a":[1,2}`} {
		if _, err := Members([]byte(doc)); err == nil {
			t.Errorf("Members(%q) succeeded; want an error", doc)
		}
	}
}

func FuzzSet(f *testing.F) {
	f.Add([]byte(`{"model":"a","b":[1,2,{"c":null}]}`))
	f.Add([]byte(`{"x":"\"}"}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := Set(doc, "model", []byte(`"routed"`))
		if err != nil {
			return
		}
		if !json.Valid(doc) {
			return // garbage accepted by the skipper need not stay valid
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("Set(%q) = %q: not valid JSON: %v", doc, out, err)
		}
		if string(m["model"]) != `"routed"` {
			t.Fatalf("Set(%q) = %q: model = %s", doc, out, m["model"])
		}
	})
}
