package ccr

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// refTiktoken is tiktoken-go's cl100k_base, the reference for text counts.
var refTiktoken = sync.OnceValues(func() (*tiktoken.Tiktoken, error) {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	return tiktoken.GetEncoding(tiktoken.MODEL_CL100K_BASE)
})

func tiktokenCount(t testing.TB, s string) int {
	t.Helper()
	tk, err := refTiktoken()
	if err != nil {
		t.Fatalf("tiktoken-go: %v", err)
	}
	return len(tk.EncodeOrdinary(s))
}

// refCount counts req by the rules of TokenCounter, independently: text
// with tiktoken-go, no cache, tool results decoded as blocks.
func refCount(t testing.TB, req *Request) int {
	t.Helper()
	text := func(s string) int { return tiktokenCount(t, s) }
	jsonText := func(raw []byte) int {
		if len(raw) == 0 {
			return 0
		}
		return text(compactJSON(t, raw))
	}
	var block func(b *ContentBlock) int
	blocks := func(raw json.RawMessage) int {
		if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
			return 0
		}
		var c Content
		if err := json.Unmarshal(raw, &c); err != nil {
			return jsonText(raw)
		}
		n := 0
		for i := range c {
			n += block(&c[i])
		}
		return n
	}
	block = func(b *ContentBlock) int {
		switch b.Type {
		case "text":
			return text(b.Text)
		case "image":
			return imageTokens(b.Source)
		case "document":
			n := text(b.Title) + text(b.Context)
			switch b.Source.Type {
			case "text":
				return n + text(b.Source.Data)
			case "content":
				return n + blocks(b.Source.Content)
			case "base64":
				if strings.HasPrefix(b.Source.MediaType, "text/") {
					return n + text(string(decodeBase64(b.Source.Data)))
				}
				return n + pdfPages(decodeBase64(b.Source.Data))*pdfPageTokens
			}
			return n + pdfPageTokens
		case "tool_use", "server_tool_use":
			return text(b.Name) + jsonText(b.Input)
		case "tool_result", "mid_conv_system":
			return blocks(b.Content)
		case "web_search_tool_result":
			return jsonText(b.Content)
		case "thinking":
			return text(b.Thinking)
		case "redacted_thinking":
			return base64.StdEncoding.DecodedLen(len(b.Data)) / 4
		}
		if b.Raw != nil {
			return jsonText(b.Raw)
		}
		return text(b.Text)
	}
	n := 0
	for i := range req.System {
		if txt, ok := strings.CutPrefix(req.System[i].Text, "x-anthropic-billing-header:"); ok {
			if _, rest, ok := strings.Cut(txt, "\n"); ok {
				n += text(rest)
			}
			continue
		}
		n += block(&req.System[i])
	}
	for _, m := range req.Messages {
		n += 3
		for i := range m.Content {
			n += block(&m.Content[i])
		}
	}
	for _, tool := range req.Tools {
		n += 3 + text(tool.Name) + text(tool.Description) + jsonText(tool.InputSchema)
		if tool.IsServerTool() {
			n += text(tool.Type) + serverToolTokens(tool.Type)
		}
		for _, v := range tool.Extra {
			n += jsonText(v)
		}
	}
	return n
}

func parseRequest(t testing.TB, body string) *Request {
	t.Helper()
	var req Request
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decode request: %v\n%s", err, body)
	}
	return &req
}

// testPDF is a minimal PDF with two pages.
const testPDF = "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
	"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n" +
	"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj <</Type/Page/Parent 2 0 R>> endobj\ntrailer\n%%EOF\n"

func TestTokenCounterCount(t *testing.T) {
	png1x1 := genPNG(100, 50)
	tk := func(s string) int { return tiktokenCount(t, s) }
	tests := []struct {
		name string
		body string
		want func() int
	}{{
		name: "fixed: string system and message",
		body: `{"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Hello, world!"}]}`,
		want: func() int { return 6 + 3 + 4 }, // "You| are| a| helpful| assistant|." and "Hello|,| world|!"
	}, {
		name: "fixed: two messages",
		body: `{"messages":[{"role":"user","content":"hello world"},{"role":"assistant","content":[{"type":"text","text":"tiktoken is great!"}]}]}`,
		want: func() int { return 3 + 2 + 3 + 6 },
	}, {
		name: "system blocks without the billing header",
		body: `{"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.0.14; cc_entrypoint=cli;"},
			{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."},
			{"type":"text","text":"Be concise.","cache_control":{"type":"ephemeral"}}],"messages":[]}`,
		want: func() int { return tk("You are Claude Code, Anthropic's official CLI for Claude.") + tk("Be concise.") },
	}, {
		name: "billing header line followed by prompt text",
		body: `{"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.0.14;\nYou are Claude Code."}],"messages":[]}`,
		want: func() int { return tk("You are Claude Code.") },
	}, {
		name: "tool_use name and compact input",
		body: `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash",
			"input":{ "command" : "ls -la",  "timeout": 120000 }}]}]}`,
		want: func() int { return 3 + tk("Bash") + tk(`{"command":"ls -la","timeout":120000}`) },
	}, {
		name: "tool_result string",
		body: `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"total 0\ndrwxr-xr-x  2 user staff 64 Nov 1 12:00 ."}]}]}`,
		want: func() int { return 3 + tk("total 0\ndrwxr-xr-x  2 user staff 64 Nov 1 12:00 .") },
	}, {
		name: "tool_result with an image counts pixels, not base64",
		body: `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[
			{"type":"text","text":"Screenshot taken"},
			{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png1x1 + `"}}]}]}]}`,
		want: func() int { return 3 + tk("Screenshot taken") + 7 }, // 100×50/750 = 6.7
	}, {
		name: "image by URL",
		body: `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},{"type":"text","text":"What is this?"}]}]}`,
		want: func() int { return 3 + 1600 + tk("What is this?") },
	}, {
		name: "thinking and redacted thinking",
		body: `{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"Let me think about the user's request.","signature":"abc"},
			{"type":"redacted_thinking","data":"` + strings.Repeat("QUJD", 100) + `"},{"type":"text","text":"Done."}]}]}`,
		want: func() int { return 3 + tk("Let me think about the user's request.") + 300/4 + tk("Done.") },
	}, {
		name: "text document with title and context",
		body: `{"messages":[{"role":"user","content":[{"type":"document","title":"Notes","context":"From the meeting",
			"source":{"type":"text","media_type":"text/plain","data":"The grass is green. The sky is blue."}}]}]}`,
		want: func() int {
			return 3 + tk("Notes") + tk("From the meeting") + tk("The grass is green. The sky is blue.")
		},
	}, {
		name: "content document",
		body: `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"text","text":"First chunk"},{"type":"text","text":"Second chunk"}]}}]}]}`,
		want: func() int { return 3 + tk("First chunk") + tk("Second chunk") },
	}, {
		name: "pdf document by pages",
		body: `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` +
			base64.StdEncoding.EncodeToString([]byte(testPDF)) + `"}}]}]}`,
		want: func() int { return 3 + 2*pdfPageTokens },
	}, {
		name: "base64 text document",
		body: `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"text/plain","data":"` +
			base64.StdEncoding.EncodeToString([]byte("Plain text, in base64.")) + `"}}]}]}`,
		want: func() int { return 3 + tk("Plain text, in base64.") },
	}, {
		name: "custom tool",
		body: `{"messages":[],"tools":[{"name":"get_weather","description":"Get the current weather in a given location",
			"input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]}`,
		want: func() int {
			return 3 + tk("get_weather") + tk("Get the current weather in a given location") +
				tk(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)
		},
	}, {
		name: "server tools",
		body: `{"messages":[],"tools":[{"type":"bash_20250124","name":"bash"},
			{"type":"web_search_20250305","name":"web_search","max_uses":5,"allowed_domains":["example.com"]}]}`,
		want: func() int {
			return 3 + tk("bash") + tk("bash_20250124") + 245 +
				3 + tk("web_search") + tk("web_search_20250305") + tk("5") + tk(`["example.com"]`)
		},
	}, {
		name: "unknown block type counted as JSON",
		body: `{"messages":[{"role":"user","content":[{"type":"container_upload", "file_id":"file_011CNha8iCJcU1wXNR6q4V8w"}]}]}`,
		want: func() int { return 3 + tk(`{"type":"container_upload","file_id":"file_011CNha8iCJcU1wXNR6q4V8w"}`) },
	}, {
		name: "empty",
		body: `{"messages":[]}`,
		want: func() int { return 0 },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseRequest(t, tt.body)
			want := tt.want()
			for _, tc := range []*TokenCounter{NewTokenCounter(0), NewTokenCounter(-1), nil, {}} {
				if got := tc.Count(req); got != want {
					t.Errorf("Count = %d; want %d", got, want)
				}
			}
			if got := refCount(t, req); got != want {
				t.Errorf("refCount = %d; want %d (test helper disagrees)", got, want)
			}
		})
	}
}

func TestTokenCounterNilRequest(t *testing.T) {
	if n := NewTokenCounter(0).Count(nil); n != 0 {
		t.Errorf("Count(nil) = %d; want 0", n)
	}
}

// TestTokenCounterIncremental checks that cached counts equal fresh ones
// and that a grown conversation only counts its new blocks.
func TestTokenCounterIncremental(t *testing.T) {
	req := genConversation(3, 200<<10)
	want := NewTokenCounter(-1).Count(req)
	if ref := refCount(t, req); ref != want {
		t.Fatalf("Count = %d; tiktoken-go reference = %d", want, ref)
	}
	tc := NewTokenCounter(0)
	if got := tc.Count(req); got != want {
		t.Fatalf("first Count = %d; want %d", got, want)
	}
	misses := tc.misses
	if got := tc.Count(req); got != want {
		t.Fatalf("second Count = %d; want %d", got, want)
	}
	if tc.misses != misses {
		t.Errorf("second Count missed the cache %d times; want 0", tc.misses-misses)
	}

	// One more turn: only its blocks are new.
	grown := *req
	grown.Messages = append(append([]Message(nil), req.Messages...),
		Message{Role: "assistant", Content: Content{{Type: "text", Text: strings.Repeat("A new answer with new words. ", 10)}}},
		Message{Role: "user", Content: Content{{Type: "tool_result", ToolUseID: "toolu_x", Content: json.RawMessage(`"` + strings.Repeat("fresh output line\\n", 20) + `"`)}}})
	misses = tc.misses
	got := tc.Count(&grown)
	if want := NewTokenCounter(-1).Count(&grown); got != want {
		t.Fatalf("grown Count = %d; want %d", got, want)
	}
	if n := tc.misses - misses; n != 2 { // the text and the tool result
		t.Errorf("grown Count missed the cache %d times; want 2", n)
	}
}

func TestTokenCounterBounded(t *testing.T) {
	req := genConversation(4, 100<<10)
	want := NewTokenCounter(-1).Count(req)
	for _, limit := range []int{1, 2, 10, 100} {
		tc := NewTokenCounter(limit)
		for range 3 {
			if got := tc.Count(req); got != want {
				t.Fatalf("limit %d: Count = %d; want %d", limit, got, want)
			}
			if n := tc.cacheLen(); n > limit {
				t.Fatalf("limit %d: cache holds %d entries", limit, n)
			}
		}
	}
}

func TestTokenCounterConcurrent(t *testing.T) {
	reqs := []*Request{genConversation(5, 40<<10), genConversation(6, 40<<10), genConversation(5, 40<<10)}
	want := make([]int, len(reqs))
	for i, r := range reqs {
		want[i] = NewTokenCounter(-1).Count(r)
	}
	tc := NewTokenCounter(50)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for k := range 5 {
				i := (g + k) % len(reqs)
				if got := tc.Count(reqs[i]); got != want[i] {
					t.Errorf("goroutine %d: Count(reqs[%d]) = %d; want %d", g, i, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

// TestTokenCountGolden counts the committed Claude Code request and checks
// the result against the golden count and the tiktoken-go reference.
func TestTokenCountGolden(t *testing.T) {
	dir := filepath.Join("testdata", "tokens")
	if *update {
		writeTokenTestdata(t, dir)
	}
	var golden map[string]int
	readJSONFile(t, filepath.Join(dir, "counts.golden.json"), &golden)
	for _, name := range []string{"claude-code.json"} {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		req := parseRequest(t, string(body))
		got := NewTokenCounter(0).Count(req)
		if got != golden[name] {
			t.Errorf("%s: Count = %d; golden %d (run with -update if the rules changed)", name, got, golden[name])
		}
		if ref := refCount(t, req); got != ref {
			t.Errorf("%s: Count = %d; tiktoken-go reference = %d", name, got, ref)
		}
	}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// writeTokenTestdata regenerates the committed inputs: a Claude Code
// request, the plain text of a longer conversation (the fresh-text input of
// internal/bpe's benchmarks), and the golden counts.
func writeTokenTestdata(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	req := genConversation(7, 64<<10)
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("claude-code.json", body)

	var text bytes.Buffer
	long := genConversation(9, 300<<10)
	for _, b := range long.System {
		text.WriteString(b.Text + "\n")
	}
	for _, m := range long.Messages {
		for _, b := range m.Content {
			switch b.Type {
			case "text":
				text.WriteString(b.Text)
			case "thinking":
				text.WriteString(b.Thinking)
			case "tool_use":
				text.Write(b.Input)
			case "tool_result":
				var s string
				if json.Unmarshal(b.Content, &s) == nil {
					text.WriteString(s)
				}
			}
			text.WriteString("\n")
		}
	}
	write("conversation.txt", text.Bytes())

	golden, _ := json.MarshalIndent(map[string]int{"claude-code.json": NewTokenCounter(-1).Count(parseRequest(t, string(body)))}, "", "  ")
	write("counts.golden.json", append(golden, '\n'))
}

func TestImageSizeTokens(t *testing.T) {
	tests := []struct{ w, h, want int }{
		{1, 1, 1},
		{100, 100, 14},     // 13.3
		{1000, 1000, 1334}, // 1333.3
		{1092, 1092, 1590},
		{200, 7500, 88},    // scaled to 41.8×1568: 87.4
		{3000, 1000, 1093}, // scaled to 1568×522.7: 1092.7
		{1568, 1568, 1600}, // 3278, capped
		{8000, 8000, 1600},
		{0, 10, imageUnknownTokens},
	}
	for _, tt := range tests {
		if got := imageSizeTokens(tt.w, tt.h); got != tt.want {
			t.Errorf("imageSizeTokens(%d, %d) = %d; want %d", tt.w, tt.h, got, tt.want)
		}
	}
}

func encodeImage(t testing.TB, format string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 50})
	case "gif": // paletted, so that the encoder does not quantise
		pal := image.NewPaletted(img.Rect, palette.Plan9)
		err = gif.Encode(&buf, pal, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withAPPSegments inserts metadata segments after a JPEG's SOI marker, as
// cameras do (EXIF with a thumbnail, ICC profile), plus fill bytes.
func withAPPSegments(jpg []byte, sizes ...int) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for i, n := range sizes {
		seg := make([]byte, 4+n)
		seg[0], seg[1] = 0xFF, byte(0xE1+i%14)
		binary.BigEndian.PutUint16(seg[2:], uint16(n+2))
		for k := range n {
			seg[4+k] = byte(k)
		}
		out = append(out, seg...)
	}
	out = append(out, 0xFF) // a fill byte before the next marker
	return append(out, jpg[2:]...)
}

func webpVP8(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8 \x0a\x00\x00\x00\x10\x02\x00\x9d\x01\x2a\x00\x00\x00\x00")
	binary.LittleEndian.PutUint16(b[26:], uint16(w)|2<<14) // top bits are the scale
	binary.LittleEndian.PutUint16(b[28:], uint16(h))
	return b
}

func webpVP8L(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2f\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(b[21:], uint32(w-1)|uint32(h-1)<<14)
	return b
}

func webpVP8X(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	b[24], b[25], b[26] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	b[27], b[28], b[29] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	return b
}

func TestImageSize(t *testing.T) {
	type img struct {
		name string
		data []byte
		w, h int
	}
	var imgs []img
	for _, f := range []string{"png", "jpeg", "gif"} {
		for _, sz := range [][2]int{{1, 1}, {37, 11}, {640, 480}, {300, 2000}} {
			imgs = append(imgs, img{fmt.Sprintf("%s-%dx%d", f, sz[0], sz[1]), encodeImage(t, f, sz[0], sz[1]), sz[0], sz[1]})
		}
	}
	jpg := encodeImage(t, "jpeg", 123, 45)
	imgs = append(imgs,
		img{"jpeg-exif", withAPPSegments(jpg, 60000, 3000, 10), 123, 45},
		img{"webp-vp8", webpVP8(1920, 1080), 1920, 1080},
		img{"webp-vp8l", webpVP8L(16383, 1), 16383, 1},
		img{"webp-vp8x", webpVP8X(20000, 3), 20000, 3},
	)
	for _, tt := range imgs {
		t.Run(tt.name, func(t *testing.T) {
			b64 := base64.StdEncoding.EncodeToString(tt.data)
			readers := map[string]byteReader{
				"plain":    plainBytes(tt.data),
				"base64":   newBase64At(b64),
				"unpadded": newBase64At(strings.TrimRight(b64, "=")),
				"dataurl":  newBase64At(trimDataURL("data:image/x;base64," + b64)),
				"mime":     newBase64At(wrapLines(b64, 76)),
				"urlsafe":  newBase64At(base64.URLEncoding.EncodeToString(tt.data)),
			}
			for name, r := range readers {
				w, h, ok := imageSize(r)
				if !ok || w != tt.w || h != tt.h {
					t.Errorf("%s: imageSize = %d, %d, %v; want %d, %d, true", name, w, h, ok, tt.w, tt.h)
				}
			}
			want := imageSizeTokens(tt.w, tt.h)
			if got := imageTokens(&Source{Type: "base64", Data: b64}); got != want {
				t.Errorf("imageTokens = %d; want %d", got, want)
			}
		})
	}
}

func wrapLines(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

func TestImageSizeInvalid(t *testing.T) {
	png := encodeImage(t, "png", 10, 10)
	jpg := encodeImage(t, "jpeg", 10, 10)
	for name, data := range map[string][]byte{
		"empty":          nil,
		"short":          []byte("\x89PNG"),
		"png-truncated":  png[:20],
		"png-no-ihdr":    append(append([]byte(nil), png[:12]...), "IDATxxxxxxxx"...),
		"jpeg-truncated": jpg[:10],
		"jpeg-sos-first": {0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0, 0, 0, 0, 0, 0},
		"jpeg-garbage":   {0xFF, 0xD8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0},
		"webp-unknown":   []byte("RIFF\x00\x00\x00\x00WEBPABCD\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"webp-bad-vp8":   append(webpVP8(10, 10)[:23], 0, 0, 0, 0, 0, 0, 0),
		"webp-short":     webpVP8L(10, 10)[:22],
		"text":           []byte("hello, this is not an image at all"),
	} {
		if w, h, ok := imageSize(plainBytes(data)); ok {
			t.Errorf("%s: imageSize = %d, %d, true; want false", name, w, h)
		}
		if w, h, ok := imageSize(newBase64At(base64.StdEncoding.EncodeToString(data))); ok {
			t.Errorf("%s (base64): imageSize = %d, %d, true; want false", name, w, h)
		}
	}
	for _, src := range []*Source{nil, {Type: "url", URL: "https://example.com/x.png"}, {Type: "file", FileID: "file_1"},
		{Type: "base64", Data: "not base64 at all!"}, {Type: "base64", Data: ""}} {
		if got := imageTokens(src); got != imageUnknownTokens {
			t.Errorf("imageTokens(%+v) = %d; want %d", src, got, imageUnknownTokens)
		}
	}
}

func TestPDFPages(t *testing.T) {
	tests := []struct {
		name string
		pdf  string
		want int
	}{
		{"page objects", testPDF, 2},
		{"count only", "%PDF-1.5\n<< /Type/ObjStm >> stream ... /Count 12 ... /Count 5", 12},
		{"nothing", "%PDF-1.5\n" + strings.Repeat("x", 250<<10), 3},
		{"pages name is not page", "<< /Type /Pages >> << /Type /PageLabel >>", 1},
	}
	for _, tt := range tests {
		if got := pdfPages([]byte(tt.pdf)); got != tt.want {
			t.Errorf("%s: pdfPages = %d; want %d", tt.name, got, tt.want)
		}
	}
}

// FuzzCountTokens checks that counting never panics: the input is read as
// a request, and as image data behind each reader, which must agree.
func FuzzCountTokens(f *testing.F) {
	f.Add([]byte(`{"system":"hi","messages":[{"role":"user","content":"Hello"}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","data":"iVBORw0KGgo="}}]}]}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","data":"JVBERi0="}}]}],"tools":[{"name":"x","type":"bash_20250124"}]}`))
	f.Add(encodeImage(f, "png", 3, 2))
	f.Add(withAPPSegments(encodeImage(f, "jpeg", 3, 2), 20))
	f.Add(webpVP8X(5, 7))
	f.Add([]byte(testPDF))
	tc := NewTokenCounter(64)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req Request
		if json.Unmarshal(data, &req) == nil {
			n := tc.Count(&req)
			if m := NewTokenCounter(-1).Count(&req); n != m || n < 0 {
				t.Fatalf("Count = %d cached, %d uncached", n, m)
			}
		}
		w, h, ok := imageSize(plainBytes(data))
		w2, h2, ok2 := imageSize(newBase64At(base64.StdEncoding.EncodeToString(data)))
		if w != w2 || h != h2 || ok != ok2 {
			t.Fatalf("imageSize = %d, %d, %v plain; %d, %d, %v from base64", w, h, ok, w2, h2, ok2)
		}
		if n := imageSizeTokens(w, h); n < 1 || n > imageMaxTokens {
			t.Fatalf("imageSizeTokens(%d, %d) = %d", w, h, n)
		}
		pdfPages(data)
	})
}

func ExampleTokenCounter() {
	tc := NewTokenCounter(0)
	tc.Preload() // optional: load the encoding before the first request

	var req Request
	body := `{"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Hello, world!"}]}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		log.Fatal(err)
	}
	fmt.Println(tc.Count(&req)) // 6 for the system prompt, 3 for the message, 4 for its text
	// Output: 13
}
