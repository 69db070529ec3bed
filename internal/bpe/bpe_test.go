package bpe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// reference is tiktoken-go's cl100k_base with the same embedded ranks.
var reference = sync.OnceValues(func() (*tiktoken.Tiktoken, error) {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	return tiktoken.GetEncoding(tiktoken.MODEL_CL100K_BASE)
})

func ref(t testing.TB) *tiktoken.Tiktoken {
	t.Helper()
	tk, err := reference()
	if err != nil {
		t.Fatalf("tiktoken-go: %v", err)
	}
	return tk
}

// checkSame fails if Encode, Count and CountString disagree with
// tiktoken-go on b.
func checkSame(t testing.TB, tk *tiktoken.Tiktoken, b []byte) {
	t.Helper()
	e := CL100kBase()
	want := tk.EncodeOrdinary(string(b))
	got := e.Encode(b)
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(%s) mismatch:\n%s", quoteShort(b), diffTokens(e, got, want))
	}
	if n := e.Count(b); n != len(want) {
		t.Fatalf("Count(%s) = %d; want %d", quoteShort(b), n, len(want))
	}
	if n := e.CountString(string(b)); n != len(want) {
		t.Fatalf("CountString(%s) = %d; want %d", quoteShort(b), n, len(want))
	}
}

func quoteShort(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// diffTokens shows the tokens around the first difference as strings.
func diffTokens(e *Encoding, got, want []int) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	show := func(ts []int) string {
		from, to := max(0, i-3), min(len(ts), i+5)
		var parts []string
		for k, tok := range ts[from:to] {
			s := fmt.Sprintf("%q", e.Decode([]int{tok}))
			if from+k == i {
				s = ">" + s
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("first difference at token %d\n got: %s\nwant: %s", i, show(got), show(want))
}

func TestLoad(t *testing.T) {
	e := CL100kBase()
	if n := e.Len(); n != 100256 {
		t.Errorf("Len() = %d; want 100256", n)
	}
	if e.maxLen < 64 || e.maxLen > 256 {
		t.Errorf("maxLen = %d; want a value in [64, 256]", e.maxLen)
	}
	// Every token is found under its own rank.
	for r := range e.Len() {
		tok := e.arena[e.offs[r]:e.offs[r+1]]
		if got, ok := lookup(e, tok); !ok || got != uint32(r) {
			t.Fatalf("lookup(%q) = %d, %v; want %d, true", tok, got, ok, r)
		}
		if got, ok := lookup(e, string(tok)); !ok || got != uint32(r) {
			t.Fatalf("lookup(string %q) = %d, %v; want %d, true", tok, got, ok, r)
		}
	}
	for _, s := range []string{"", "xqzxqzxqz", "\x00\x00\x00"} {
		if r, ok := lookup(e, s); ok {
			t.Errorf("lookup(%q) = %d, true; want not found", s, r)
		}
	}
}

func TestKnownTokens(t *testing.T) {
	// Fixed ids and counts, checked against tiktoken (Python) and
	// tiktoken-go.
	tests := []struct {
		in   string
		want []int
	}{
		{"hello world", []int{15339, 1917}},
		{"Hello, world!", []int{9906, 11, 1917, 0}},
		{"tiktoken is great!", []int{83, 1609, 5963, 374, 2294, 0}},
		{"", nil},
	}
	for _, tt := range tests {
		got := Encode([]byte(tt.in))
		if !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q) = %v; want %v", tt.in, got, tt.want)
		}
		if n := CountString(tt.in); n != len(tt.want) {
			t.Errorf("CountString(%q) = %d; want %d", tt.in, n, len(tt.want))
		}
	}
}

func TestClassTable(t *testing.T) {
	e := CL100kBase()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		var want uint8
		switch {
		case r == '\r' || r == '\n':
			want = clsNewline
		case unicode.IsLetter(r):
			want = clsLetter
		case unicode.IsNumber(r):
			want = clsNumber
		case unicode.IsSpace(r):
			want = clsSpace
		}
		var got uint8
		if r < 1<<16 {
			got = e.class[r]
		} else {
			got = classOf(r)
		}
		if got != want {
			t.Fatalf("class of %U = %d; want %d", r, got, want)
		}
		if !utf8.ValidRune(r) {
			continue
		}
		b := utf8.AppendRune(nil, r)
		if c, n := classAt(e, b, 0); c != want || n != len(b) {
			t.Fatalf("classAt(%U) = %d, %d; want %d, %d", r, c, n, want, len(b))
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, s := range []string{
		"", "abc", "\xff", "a\xffb", "\xe4\xb8", "\xe4\xb8\xad", "\xed\xa0\x80", "\xf0\x9f\x98",
		"\xc0\x80", "\xf4\x90\x80\x80", "\xef\xbf\xbd", "\x80\x80\x80",
	} {
		got := string(sanitize([]byte(s)))
		want := string([]rune(s))
		if got != want {
			t.Errorf("sanitize(%q) = %q; want %q", s, got, want)
		}
	}
}

// edgeCases are inputs that exercise each alternative of the pattern and
// the boundaries between them.
var edgeCases = []string{
	"", " ", "  ", "   ", "\n", "\r\n", "\n\n\n", " \n", "\n ", " \n ", "\t\n\t", "a  b", "a   b", "a \n b",
	"   a", "\n   a", "\t\ta", " \u00a0a", "\u3000x", "\u00a0\u00a0", "x\u2028y", "\u0085\u0085x",
	"it's", "IT'S", "we'Ll", "they'RE", "I'm", "I'D", "you've", "'s", "'", "''", "'sup", "'llama", "'l", "'r",
	"don't", "'S'T'RE'VE'M'LL'D", "x'", "'\n", "' s", "'123", "'é", "'ßx",
	"123", "1234", "12345678", "1 2 3", " 123", "١٢٣٤", "½¼", "x²³", "Ⅻ", "3.14159", "-42", "1e10",
	"a1b2c3", "abc123def", "(abc)", "((()))", "!!!", "?!\n", "...\n\n", " ...\r\n", "--\n\nx",
	"é", "e\u0301", "cafe\u0301s", "\u0301\u0301", "a\u0300b", "ñ", "Ωμέγα", "Привет, мир!",
	"日本語のテキスト", "中文，句子。", "한국어 텍스트", "混合mixed文本", "🙂", "🙂🙂🙂", "👨‍👩‍👧‍👦", "a🙂b",
	"🇺🇸", "\U0001F600x", "x\U0001D400y", "𝟘𝟙", "\U00010400\U00010428",
	"\xff", "\xff\xfe", "a\xffb", "\xe4\xb8", "\xe4\xb8a", "\xed\xa0\x80", "\xc0\x80", " \xff", "\xff ",
	"\x00", "\x00\x01\x02", "\x7f", "<|endoftext|>", "<|fim_prefix|>x<|fim_suffix|>",
	"func main() {\n\tfmt.Println(\"hi\")\n}\n", `{"a": [1, 2, 3], "b": null}`, "    return x\n",
	"http://example.com/path?q=1&r=2", "user@example.com", "C:\\Windows\\System32", "#!/bin/sh\n",
	"\r\r\r", "\r \n", " \r", "x \r\n\r\n y", "\v\f", "a\v\fb", "\t\t\t\tx", "    \n    \n    x",
}

func TestEdgeCases(t *testing.T) {
	tk := ref(t)
	for _, s := range edgeCases {
		checkSame(t, tk, []byte(s))
	}
}

func TestLongPieces(t *testing.T) {
	tk := ref(t)
	cases := map[string]string{
		"spaces":      strings.Repeat(" ", 3000) + "x",
		"spaces-end":  strings.Repeat(" ", 2000),
		"newlines":    strings.Repeat("\n", 1000),
		"tabs":        strings.Repeat("\t", 500) + "y",
		"mixed-ws":    strings.Repeat(" \t", 400) + "\n" + strings.Repeat(" ", 300) + "z",
		"letters":     strings.Repeat("abcdefghij", 100),
		"one-letter":  strings.Repeat("a", 1500),
		"base64":      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg" + strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 20),
		"punct":       strings.Repeat("=-", 500),
		"dots":        strings.Repeat(".", 999),
		"cjk":         strings.Repeat("的一是不了人我在有他这为之大来以个中上们", 30),
		"hiragana":    strings.Repeat("あいうえおかきくけこ", 40),
		"emoji":       strings.Repeat("🙂🎉🚀", 100),
		"combining":   strings.Repeat("e\u0301", 200),
		"invalid":     strings.Repeat("\xff", 300),
		"invalid-mix": strings.Repeat("a\xe4\xb8", 200),
		"digits":      strings.Repeat("0123456789", 100),
	}
	for _, name := range sortedNames(cases) {
		t.Run(name, func(t *testing.T) {
			checkSame(t, tk, []byte(cases[name]))
		})
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// TestMatchesTiktoken compares a large varied generated text with
// tiktoken-go, chunk by chunk so that a failure names a small input.
func TestMatchesTiktoken(t *testing.T) {
	tk := ref(t)
	size := 1 << 20
	if testing.Short() {
		size = 128 << 10
	}
	text := generate(rand.New(rand.NewPCG(1, 2)), size)
	total := 0
	for len(text) > 0 {
		n := min(len(text), 4096)
		checkSame(t, tk, text[:n])
		total += e0().Count(text[:n])
		text = text[n:]
	}
	t.Logf("%d tokens matched", total)
}

func e0() *Encoding { return CL100kBase() }

// generate returns about size bytes of varied text: prose, code, JSON,
// numbers, whitespace layouts, several scripts, emoji, combining marks,
// contractions in odd cases and invalid UTF-8.
func generate(r *rand.Rand, size int) []byte {
	words := strings.Fields(`the of and to in is you that it he was for on are as with his they I at be this
		have from or one had by word but not what all were we when your can said there use an each which she do
		how their if will up other about out many then them these so some her would make like him into time has
		look two more write go see number no way could people my than first water been call who oil its now find
		Tokenization counting router provider transformer streaming concurrency Anthropic OpenAI Gemini
		naïve café résumé Zürich straße façade coöperate Ωμέγα Привет мир Ελληνικά עברית العربية हिन्दी ไทย
		日本語 中文 한국어 東京 北京 서울 テキスト ひらがな カタカナ 漢字`)
	contractions := []string{"'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'Re", "'rE", "'VE", "'M", "'Ll", "'lL", "'D", "'x", "'"}
	punct := []string{".", ",", "!", "?", ";", ":", "...", "—", "–", "-", "(", ")", "[", "]", "{", "}", "\"", "'", "`",
		"``", "```", "/", "\\", "*", "**", "_", "#", "##", "@", "$", "%", "^", "&", "|", "~", "<", ">", "=", "==", "=>",
		"->", "::", "//", "/*", "*/", "«", "»", "“", "”", "…", "，", "。", "、", "！", "？"}
	spaces := []string{" ", " ", " ", " ", "  ", "   ", "    ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\n    ",
		"\u00a0", "\u3000", "\u2003", "\u0085", "\v", "\f", "\n\n\n", " \t \n\t"}
	odd := []string{"🙂", "🎉", "👍🏽", "👨‍💻", "🇯🇵", "❤️", "\u0301", "\u0308", "e\u0301", "\u200b", "\u200d", "\ufeff",
		"\xff", "\xfe", "\xe4\xb8", "\xed\xa0\x80", "\xc0\xaf", "\x00", "\x1b[31m", "\U0001D400", "𝔘𝔫𝔦", "½", "²", "Ⅻ", "٣",
		"<|endoftext|>", "\ufffd"}
	snippets := []string{
		"func (tc *TokenCounter) Count(req *Request) int {\n\treturn tc.count(req)\n}\n",
		"if err != nil {\n\t\treturn nil, fmt.Errorf(\"decode: %w\", err)\n\t}\n",
		`{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"Bash","input":{"command":"ls -la /tmp"}}`,
		"    def __init__(self, x: int = 0) -> None:\n        self.x = x\n",
		"SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;\n",
		"<div class=\"container\">\n  <p>Hello&nbsp;world</p>\n</div>\n",
		"diff --git a/main.go b/main.go\n@@ -1,3 +1,4 @@\n+import \"os\"\n-\n",
		"| col1 | col2 |\n|------|------|\n| 1    | 2    |\n",
		"     1\tpackage main\n     2\t\n     3\timport \"fmt\"\n",
	}
	var b bytes.Buffer
	for b.Len() < size {
		switch k := r.IntN(100); {
		case k < 45:
			w := words[r.IntN(len(words))]
			switch r.IntN(6) {
			case 0:
				w = strings.ToUpper(w)
			case 1:
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
		case k < 55:
			b.WriteString(spaces[r.IntN(len(spaces))])
		case k < 65:
			b.WriteString(punct[r.IntN(len(punct))])
		case k < 72:
			switch r.IntN(4) {
			case 0:
				fmt.Fprintf(&b, "%d", r.IntN(100))
			case 1:
				fmt.Fprintf(&b, "%d", r.Uint64())
			case 2:
				fmt.Fprintf(&b, "%.3f", r.Float64()*1000)
			default:
				fmt.Fprintf(&b, "0x%x", r.Uint32())
			}
		case k < 77:
			b.WriteString(contractions[r.IntN(len(contractions))])
		case k < 82:
			b.WriteString(odd[r.IntN(len(odd))])
		case k < 85:
			b.WriteString(snippets[r.IntN(len(snippets))])
		case k < 86:
			b.WriteString(strings.Repeat(spaces[r.IntN(4)], r.IntN(80)))
		case k < 87:
			b.WriteString(strings.Repeat(punct[r.IntN(len(punct))], r.IntN(40)))
		default:
			b.WriteByte(' ')
		}
	}
	return b.Bytes()
}

func FuzzEncode(f *testing.F) {
	for _, s := range edgeCases {
		f.Add([]byte(s))
	}
	tk := ref(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4<<10 {
			return // tiktoken-go is quadratic on long pieces; TestLongPieces covers those
		}
		checkSame(t, tk, b)
	})
}

func ExampleCount() {
	fmt.Println(Count([]byte("Hello, world!")))
	fmt.Println(Encode([]byte("hello world")))
	// Output:
	// 4
	// [15339 1917]
}

// TestConcurrent encodes different texts from several goroutines, which
// share the pooled scratch memory and memo.
func TestConcurrent(t *testing.T) {
	e := CL100kBase()
	texts := make([][]byte, 4)
	want := make([][]int, len(texts))
	for i := range texts {
		texts[i] = generate(rand.New(rand.NewPCG(uint64(i), 9)), 16<<10)
		want[i] = e.Encode(texts[i])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 10 {
				i := (g + k) % len(texts)
				if got := e.Encode(texts[i]); !slices.Equal(got, want[i]) {
					t.Errorf("goroutine %d: Encode(texts[%d]) differs from a sequential run", g, i)
				}
				if n := e.Count(texts[i]); n != len(want[i]) {
					t.Errorf("goroutine %d: Count(texts[%d]) = %d; want %d", g, i, n, len(want[i]))
				}
			}
		})
	}
	wg.Wait()
}
