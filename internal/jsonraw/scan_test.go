package jsonraw

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
	"unicode/utf8"
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

// checkCanonical pins ScanCanonical to ScanString for the end and the
// errors, and to AppendString for canonical: a canonical string is one
// that decoding and encoding again leaves as it is.
func checkCanonical(t *testing.T, b []byte) {
	t.Helper()
	end, canonical, err := ScanCanonical(b, 0)
	wantEnd, _, wantErr := ScanString(b, 0)
	if end != wantEnd || (err == nil) != (wantErr == nil) {
		t.Fatalf("ScanCanonical(%q) = %d, %v; ScanString says %d, %v", b, end, err, wantEnd, wantErr)
	}
	if err != nil {
		return
	}
	tok := b[:end]
	again := AppendString(nil, Unquote(tok))
	if want := bytes.Equal(again, tok); canonical != want {
		t.Fatalf("ScanCanonical(%q) canonical = %v; encoding the value again gives %q", tok, canonical, again)
	}
}

var canonicalCases = []string{
	`"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u0008"`, `"\u0009"`, `"\u000a"`, `"\u000b"`, `"\u000c"`,
	`"\u000d"`, `"\u000e"`, `"\u001f"`, `"\u001F"`, `"\u0000"`, `"\u0020"`, `"\u007f"`, `"\u003c"`, `"\u00e9"`,
	`"\u2028\u2029"`, `"\u202a"`, `"\u2027"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ufffd"`, "\"\u2028\"", "\"\u2029\"",
	"\"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80 \xe4\xb8\xad\"", "\"\xc3\"", "\"\xe2\x86\"", "\"\xed\xa0\x80\"", "\"\xe0\x80\x80\"",
	"\"\xc0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xef\xbf\xbd\"", "\"\x7f\"", `"unterminated`, `"a\u12"`, `"\q"`,
	"\"0123456789abcdef\\n0123456789abcdef\xe2\x86\x92 0123456789abcdef\\\"0123456789\"",
}

func TestScanCanonical(t *testing.T) {
	t.Parallel()
	for _, c := range append(canonicalCases, scanCases...) {
		checkCanonical(t, []byte(c))
	}
	for _, s := range stringCases {
		// Invalid UTF-8 is written \ufffd, which decodes to U+FFFD itself.
		if _, canonical, _ := ScanCanonical(AppendString(nil, s), 0); canonical != utf8.ValidString(s) {
			t.Errorf("ScanCanonical(AppendString(%q)) is not canonical", s)
		}
	}
}

// TestStringsRandom feeds the eight-bytes-at-a-time scanners strings with
// the bytes they look for at every offset of a word.
func TestStringsRandom(t *testing.T) {
	t.Parallel()
	pieces := []string{"a", "bcdefgh", `"`, `\`, `\"`, `\\`, `\n`, `\/`, `\u00e9`, `\u001f`, `\u000a`, `\ud83d`, `\ude00`,
		`\u2028`, `\u12`, "\x01", "\x1f", "\x7f", "\xff", "\xc3", "\xc3\xa9", "\xe2\x86\x92", "\xe2\x80\xa8", "\xed\xa0\x80",
		"\xf0\x9f\x98\x80", " ", "\t", "{", "}", "[", "]", ":", ",", "1"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b []byte
		b = append(b, '"')
		for range rng.IntN(24) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		if rng.IntN(8) > 0 {
			b = append(b, '"')
		}
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v; json.Valid says %v", b, got, want)
		}
		checkUnquote(t, b)
		checkCanonical(t, b)
		checkCompact(t, append(append([]byte(`{"k" : [`), b...), ']', '}'))
		want, _ := marshalNoEscape(string(b))
		if got := AppendString(nil, string(b)); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s; want %s", b, got, want)
		}
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
	for _, c := range append(canonicalCases, scanCases...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := valid(doc), json.Valid(doc); got != want {
			t.Fatalf("valid(%q) = %v; json.Valid says %v", doc, got, want)
		}
		checkUnquote(t, doc)
		checkCanonical(t, doc)
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
