package jsonraw

import (
	"encoding/json"
	"os"
	"testing"
)

// valid reports whether Skip accepts doc as one JSON value.
func valid(doc []byte) bool {
	i := SkipWS(doc, 0)
	end, err := Skip(doc, i)
	return err == nil && SkipWS(doc, end) == len(doc)
}

var scanCases = []string{
	`""`, `"a"`, `"\u00e9\n\t\"\\\/"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`,
	"\"\xff\xfe\"", "\"\xed\xa0\x80\"", "\"caf\xc3\xa9\"", "\"\xef\xbf\xbd\"", `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `"abc`,
	`0`, `-0`, `01`, `1.`, `1.5`, `-1.5e+10`, `1E5`, `1e`, `-`, `+1`, `.5`, `1.5e-`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`,
	`{}`, `[]`, ` { "a" : [ 1 , 2 , { } ] } `, `{"a":1,}`, `[1,]`, `{"a"}`, `{1:2}`, `[1 2]`, `{"a":1 "b":2}`,
	`[[[[]]]]`, `{"a":{"b":{"c":[null,true,false,"x",-1.25e3]}}}`, "\t[ ]\r\n", `[] []`, ``, ` `,
}

func TestSkipMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range scanCases {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("valid(%q) = %v; json.Valid says %v", c, got, want)
		}
	}
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range scanCases {
		checkUnquote(t, []byte(c))
	}
}

func checkUnquote(t *testing.T, tok []byte) {
	t.Helper()
	if len(tok) == 0 || tok[0] != '"' {
		return
	}
	end, plain, err := ScanString(tok, 0)
	if err != nil || end != len(tok) {
		return
	}
	var want string
	if err := json.Unmarshal(tok, &want); err != nil {
		t.Fatalf("ScanString accepted %q, which encoding/json rejects: %v", tok, err)
	}
	if got := Unquote(tok); got != want {
		t.Errorf("Unquote(%q) = %q; want %q", tok, got, want)
	}
	if plain && string(tok[1:len(tok)-1]) != want {
		t.Errorf("ScanString(%q) reported a plain string that decodes to %q", tok, want)
	}
}

func TestSkipDepth(t *testing.T) {
	t.Parallel()
	deep := func(n int) []byte {
		b := make([]byte, 0, 2*n)
		for range n {
			b = append(b, '[')
		}
		for range n {
			b = append(b, ']')
		}
		return b
	}
	if !valid(deep(MaxDepth)) {
		t.Errorf("nesting of %d rejected", MaxDepth)
	}
	if valid(deep(MaxDepth + 1)) {
		t.Errorf("nesting of %d accepted; encoding/json rejects it", MaxDepth+1)
	}
}

// FuzzScan pins the strict scanner to encoding/json: the same documents
// are valid, and strings decode to the same text.
func FuzzScan(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := valid(doc), json.Valid(doc); got != want {
			t.Fatalf("valid(%q) = %v; json.Valid says %v", doc, got, want)
		}
		checkUnquote(t, doc)
	})
}

func BenchmarkSkip(b *testing.B) {
	doc, err := os.ReadFile("../../testdata/bench/claude_code_request.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if !valid(doc) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkSet(b *testing.B) {
	doc, err := os.ReadFile("../../testdata/bench/claude_code_request.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Set(doc, "model", []byte(`"bench-model"`)); err != nil {
			b.Fatal(err)
		}
	}
}
