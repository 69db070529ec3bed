package json5

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestToJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", `{"a":1,"b":[true,false,null],"c":"x"}`, `{"a":1,"b":[true,false,null],"c":"x"}`},
		{"comments", "{\n// line\n\"a\": 1, /* block */ \"b\": 2\n}", `{"a":1,"b":2}`},
		{"trailing commas", `{"a":[1,2,],"b":{"c":3,},}`, `{"a":[1,2],"b":{"c":3}}`},
		{"unquoted keys", `{a: 1, $b_2: 2, ünï: 3}`, `{"a":1,"$b_2":2,"ünï":3}`},
		{"single quotes", `{'a': 'it\'s "x"'}`, `{"a":"it's \"x\""}`},
		{"escapes", `{"a":'\x41\u00e9\n\t'}`, `{"a":"Aé\n\t"}`},
		{"line continuation", "{\"a\":\"x\\\ny\"}", `{"a":"xy"}`},
		{"hex", `{"a":0x1F,"b":-0x10}`, `{"a":31,"b":-16}`},
		{"decimal points", `{"a":.5,"b":5.,"c":+3}`, `{"a":0.5,"b":5,"c":3}`},
		{"big int kept", `{"a":123456789012345678901234567890}`, `{"a":123456789012345678901234567890}`},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, `{"a":"😀"}`},
		{"empty containers", `{"a":{},"b":[],}`, `{"a":{},"b":[]}`},
		{"bom and nbsp", "\ufeff{\u00a0\"a\":1}", `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ToJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("ToJSON(%q) error: %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("ToJSON(%q) = %s; want %s", tt.in, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("ToJSON(%q) = %s is not valid JSON", tt.in, got)
			}
		})
	}
}

func TestToJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		line, col int
	}{
		{"", 1, 1},
		{"{\n  \"a\": 1\n  \"b\": 2}", 3, 3},
		{`{"a": Infinity}`, 1, 7},
		{`{"a": "x`, 1, 9},
		{`{"a": 1} x`, 1, 10},
		{"/* open", 1, 1},
		{`[1,,2]`, 1, 4},
		{`{"a" 1}`, 1, 6},
	}
	for _, tt := range tests {
		_, err := ToJSON([]byte(tt.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ToJSON(%q) error = %v; want a *SyntaxError", tt.in, err)
			continue
		}
		if se.Line != tt.line || se.Col != tt.col {
			t.Errorf("ToJSON(%q) error at %d:%d (%v); want %d:%d", tt.in, se.Line, se.Col, se.Msg, tt.line, tt.col)
		}
	}
}

func FuzzToJSON(f *testing.F) {
	for _, s := range []string{`{a:1,}`, `['x',"y",/*c*/]`, `{"a":{"b":[0x10,.5]}}`, "// c\n{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := ToJSON(in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("ToJSON(%q) = %q, not valid JSON", in, out)
		}
		// Standard JSON is JSON5: converting again changes nothing.
		again, err := ToJSON(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("ToJSON(ToJSON(%q)) = %q, %v; want %q", in, again, err, out)
		}
	})
}
