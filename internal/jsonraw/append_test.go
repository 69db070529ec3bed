package jsonraw

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"
)

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

var stringCases = []string{"", "plain", `q"b\s`, "<html> & é ü 😀", "\b\f\n\r\t\x00\x01\x1f\x7f", "\u2028\u2029", "a\xffb\xc3", "\xed\xa0\x80", "\xef\xbf\xbd"}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range stringCases {
		want, _ := marshalNoEscape(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s; want %s", s, got, want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, 1, -1, 0.7, 1e-7, 1.5e-9, 1e21, 123456789e15, 1e20, -2.5e-7, math.SmallestNonzeroFloat64, math.MaxFloat64, 0.000001} {
		want, _ := marshalNoEscape(f)
		if got, ok := AppendFloat(nil, f); !ok || !bytes.Equal(got, want) {
			t.Errorf("AppendFloat(%v) = %s; want %s", f, got, want)
		}
	}
	if _, ok := AppendFloat(nil, math.NaN()); ok {
		t.Error("AppendFloat(NaN) ok")
	}
}

func TestAppendCompact(t *testing.T) {
	t.Parallel()
	for _, c := range append(scanCases, ` {"a" : [ 1 , "x y" ] } `, "{\n\t\"k\": \"v\\n\"\n}") {
		checkCompact(t, []byte(c))
	}
}

func checkCompact(t *testing.T, raw []byte) {
	t.Helper()
	want, werr := marshalNoEscape(json.RawMessage(raw))
	got, ok := AppendCompact(nil, raw)
	if ok != (werr == nil) {
		t.Fatalf("AppendCompact(%q) ok = %v; encoding/json error %v", raw, ok, werr)
	}
	if ok && !bytes.Equal(got, want) {
		t.Fatalf("AppendCompact(%q) = %q; want %q", raw, got, want)
	}
	if got, ok := Compact(raw); ok != (werr == nil) || ok && !bytes.Equal(got, want) {
		t.Fatalf("Compact(%q) = %q, %v; want %q, %v", raw, got, ok, want, werr)
	}
}

// FuzzAppend pins the encoders to encoding/json.
func FuzzAppend(f *testing.F) {
	for _, s := range stringCases {
		f.Add([]byte(s), 0.5)
	}
	for _, c := range scanCases {
		f.Add([]byte(c), 1e-7)
	}
	f.Fuzz(func(t *testing.T, b []byte, x float64) {
		want, _ := marshalNoEscape(string(b))
		if got := AppendString(nil, string(b)); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s; want %s", b, got, want)
		}
		// What encoding/json writes for valid UTF-8 is canonical.
		if _, canonical, err := ScanCanonical(want, 0); err != nil || canonical != utf8.Valid(b) {
			t.Fatalf("ScanCanonical(%s) = %v, %v for what encoding/json writes", want, canonical, err)
		}
		checkCompact(t, b)
		want, werr := marshalNoEscape(x)
		got, ok := AppendFloat(nil, x)
		if ok != (werr == nil) || ok && !bytes.Equal(got, want) {
			t.Fatalf("AppendFloat(%v) = %s, %v; want %s, %v", x, got, ok, want, werr)
		}
	})
}
