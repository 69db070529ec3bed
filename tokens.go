package ccr

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/ccrgo/ccr/internal/bpe"
)

// Estimates used by [TokenCounter]. Text is counted exactly with
// cl100k_base; these cover what has no text.
const (
	// tokensPerMessage is the structure around each message (role and
	// separators).
	tokensPerMessage = 3
	// tokensPerTool is the structure around each tool definition.
	tokensPerTool = 3

	// Images: Anthropic documents about width×height/750 tokens for an
	// image whose long edge is at most 1568 px and whose cost is at most
	// about 1600 tokens; larger images are scaled down to fit both.
	imageMaxEdge      = 1568
	imagePixelsPerTok = 750
	imageMaxTokens    = 1600
	// imageUnknownTokens is charged for an image whose size is unknown: a
	// URL or file reference, or data whose header cannot be read. It is
	// the most an image can cost.
	imageUnknownTokens = imageMaxTokens

	// pdfPageTokens is charged per PDF page: Anthropic documents 1,500 to
	// 3,000 tokens of text per page (2,250 taken) plus the page as an
	// image (the 1,600 cap).
	pdfPageTokens = 2250 + imageMaxTokens

	// defaultTokenCacheEntries is the cache size of NewTokenCounter(0):
	// enough for every block of a few long conversations.
	defaultTokenCacheEntries = 1 << 15
	// minCachedLen is the shortest text worth caching: shorter texts are
	// counted faster than a cache lookup.
	minCachedLen = 64
)

// A TokenCounter counts the input tokens of requests, for the longContext
// route and for count_tokens. It is safe for concurrent use.
//
// Text is counted exactly in OpenAI's cl100k_base encoding, the encoding
// the reference Claude Code Router counts with; Claude's own tokenizer is
// not public, so every count is an estimate of what Anthropic would bill.
// It counts:
//
//   - system text, as a string or blocks, except Claude Code's
//     "x-anthropic-billing-header:" line;
//   - text blocks, thinking text, and redacted thinking (estimated as one
//     token per 4 bytes of its decoded data);
//   - tool_use and server_tool_use blocks: the name and the input as
//     compact JSON;
//   - tool_result content: text as text, images as images, documents as
//     documents; other results, such as web search results, as compact
//     JSON;
//   - images, estimated from their pixel size read from the PNG, JPEG, GIF
//     or WebP header of base64 data (width×height/750 after scaling to a
//     long edge of at most 1568 px, at most 1600 tokens); 1600 for a URL,
//     a file or an unreadable header;
//   - documents: plain text (also base64 text/*) and content documents by
//     their text; PDFs
//     estimated at 3,850 tokens a page (pages counted from the page
//     objects, else from the page tree's /Count, else one per 100 KB);
//     URL and file documents as one page; plus title and context;
//   - tool definitions: name, description and input schema as compact
//     JSON, plus 3 tokens each; Anthropic-defined tools (bash, text editor,
//     computer use, web search, ...) also by their type and options, plus
//     the fixed prompt Anthropic documents for the bash (245), text editor
//     (700) and computer use (735) tools;
//   - 3 tokens per message.
//
// Counting is incremental: the count of each block longer than a few dozen
// bytes is cached under a hash of its bytes, so counting a conversation
// that grew by one message costs a hash of the old blocks and the
// tokenisation of the new one. The cache is bounded and belongs to the
// TokenCounter.
//
// The zero value and a nil *TokenCounter count without a cache.
type TokenCounter struct {
	seed  maphash.Seed
	limit int // entries; 0 disables the cache

	mu       sync.Mutex
	cur, old map[uint64]int32 // two generations: hits in old move to cur
	hits     int              // for tests
	misses   int
}

// NewTokenCounter returns a TokenCounter whose cache holds at most
// cacheEntries block counts (about 40 bytes each). 0 means a default of
// 32768; a negative value disables the cache.
func NewTokenCounter(cacheEntries int) *TokenCounter {
	switch {
	case cacheEntries == 0:
		cacheEntries = defaultTokenCacheEntries
	case cacheEntries < 0:
		cacheEntries = 0
	}
	return &TokenCounter{seed: maphash.MakeSeed(), limit: cacheEntries}
}

// Preload starts loading the cl100k_base encoding (about 10 ms, once per
// process) in a new goroutine and returns at once, so that the first Count
// does not wait for it. The goroutine exits when the encoding is loaded.
func (tc *TokenCounter) Preload() { bpe.Preload() }

// Count returns the estimated input tokens of req. It does not modify req.
// The first call in a process loads the encoding unless [TokenCounter.Preload]
// did.
func (tc *TokenCounter) Count(req *Request) int {
	if req == nil {
		return 0
	}
	c := tokenCount{tc: tc, enc: bpe.CL100kBase()}
	n := 0
	for i := range req.System {
		b := &req.System[i]
		if b.Type == "text" && strings.HasPrefix(b.Text, billingHeaderPrefix) {
			// Claude Code's attribution line is not part of the prompt
			// (see systemPrompt); text after it is.
			if _, rest, ok := strings.Cut(b.Text, "\n"); ok {
				n += c.text(rest)
			}
			continue
		}
		n += c.block(b)
	}
	for i := range req.Messages {
		n += tokensPerMessage
		for j := range req.Messages[i].Content {
			n += c.block(&req.Messages[i].Content[j])
		}
	}
	for i := range req.Tools {
		n += c.tool(&req.Tools[i])
	}
	return n
}

// Cache kinds, mixed into the keys so that the same bytes counted two ways
// do not share an entry.
const (
	kindText uint64 = iota + 1
	kindJSON
	kindBlocks
	kindPDF
	kindBase64Text
)

// tokenCount is one Count call.
type tokenCount struct {
	tc  *TokenCounter
	enc *bpe.Encoding
	buf bytes.Buffer // for JSON compaction
}

func (tc *TokenCounter) caching() bool { return tc != nil && tc.limit > 0 }

func (tc *TokenCounter) key(kind uint64, s string) uint64 {
	return maphash.String(tc.seed, s) ^ kind*0x9E3779B97F4A7C15
}

func (tc *TokenCounter) keyBytes(kind uint64, b []byte) uint64 {
	return maphash.Bytes(tc.seed, b) ^ kind*0x9E3779B97F4A7C15
}

func (tc *TokenCounter) get(k uint64) (int, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	n, ok := tc.cur[k]
	if !ok {
		if n, ok = tc.old[k]; ok {
			tc.putLocked(k, n)
		}
	}
	if ok {
		tc.hits++
	} else {
		tc.misses++
	}
	return int(n), ok
}

func (tc *TokenCounter) put(k uint64, n int) {
	tc.mu.Lock()
	tc.putLocked(k, int32(min(n, 1<<31-1)))
	tc.mu.Unlock()
}

// putLocked stores k in the current generation. When it holds half the
// limit, it becomes the old generation and the previous old one is
// dropped, so at most limit entries are kept, and entries used since the
// last rotation survive the next.
func (tc *TokenCounter) putLocked(k uint64, n int32) {
	if tc.cur == nil {
		tc.cur = make(map[uint64]int32)
	}
	if len(tc.cur) >= max(tc.limit/2, 1) {
		tc.old = nil
		if tc.limit > 1 {
			tc.old = tc.cur
		}
		tc.cur = make(map[uint64]int32, len(tc.cur))
	}
	tc.cur[k] = n
}

// cacheLen returns the number of cached counts.
func (tc *TokenCounter) cacheLen() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return len(tc.cur) + len(tc.old)
}

// text counts s.
func (c *tokenCount) text(s string) int {
	if len(s) < minCachedLen || !c.tc.caching() {
		return c.enc.CountString(s)
	}
	k := c.tc.key(kindText, s)
	if n, ok := c.tc.get(k); ok {
		return n
	}
	n := c.enc.CountString(s)
	c.tc.put(k, n)
	return n
}

// json counts raw as compact JSON.
func (c *tokenCount) json(raw []byte) int {
	if len(raw) == 0 {
		return 0
	}
	var k uint64
	if len(raw) >= minCachedLen && c.tc.caching() {
		k = c.tc.keyBytes(kindJSON, raw)
		if n, ok := c.tc.get(k); ok {
			return n
		}
	}
	c.buf.Reset()
	var n int
	if json.Compact(&c.buf, raw) == nil {
		n = c.enc.Count(c.buf.Bytes())
	} else {
		n = c.enc.Count(raw)
	}
	if k != 0 {
		c.tc.put(k, n)
	}
	return n
}

// blocks counts raw content: a JSON string, or an array of blocks, or
// anything else as JSON.
func (c *tokenCount) blocks(raw json.RawMessage) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0
	}
	var k uint64
	if len(raw) >= minCachedLen && c.tc.caching() {
		k = c.tc.keyBytes(kindBlocks, raw)
		if n, ok := c.tc.get(k); ok {
			return n
		}
	}
	n := 0
	switch raw[0] {
	case '"': // the common tool result: counted here, cached once
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			n = c.json(raw)
			break
		}
		n = c.enc.CountString(s)
	case '[':
		var content Content
		if err := json.Unmarshal(raw, &content); err != nil {
			n = c.json(raw)
			break
		}
		for i := range content {
			n += c.block(&content[i])
		}
	default:
		n = c.json(raw)
	}
	if k != 0 {
		c.tc.put(k, n)
	}
	return n
}

// block counts one content block.
func (c *tokenCount) block(b *ContentBlock) int {
	switch b.Type {
	case "text":
		return c.text(b.Text)
	case "image":
		return imageTokens(b.Source)
	case "document":
		return c.document(b)
	case "tool_use", "server_tool_use":
		return c.text(b.Name) + c.json(b.Input)
	case "tool_result", "mid_conv_system":
		return c.blocks(b.Content)
	case "web_search_tool_result":
		return c.json(b.Content)
	case "thinking":
		return c.text(b.Thinking)
	case "redacted_thinking":
		return base64.StdEncoding.DecodedLen(len(b.Data)) / 4
	}
	if b.Raw != nil {
		return c.json(b.Raw)
	}
	return c.text(b.Text)
}

// document counts a document block.
func (c *tokenCount) document(b *ContentBlock) int {
	n := c.text(b.Title) + c.text(b.Context)
	src := b.Source
	if src == nil {
		return n
	}
	switch src.Type {
	case "text":
		return n + c.text(src.Data)
	case "content":
		return n + c.blocks(src.Content)
	case "base64":
		return n + c.base64Doc(src)
	}
	return n + pdfPageTokens // url, file: size unknown
}

// base64Doc counts a base64 document: text by its text, anything else as
// a PDF, from its page count.
func (c *tokenCount) base64Doc(src *Source) int {
	kind := kindPDF
	text := strings.HasPrefix(src.MediaType, "text/")
	if text {
		kind = kindBase64Text
	}
	var k uint64
	if c.tc.caching() {
		k = c.tc.key(kind, src.Data)
		if n, ok := c.tc.get(k); ok {
			return n
		}
	}
	var n int
	if text {
		n = c.enc.Count(decodeBase64(src.Data))
	} else {
		n = pdfPages(decodeBase64(src.Data)) * pdfPageTokens
	}
	if k != 0 {
		c.tc.put(k, n)
	}
	return n
}

// tool counts a tool definition.
func (c *tokenCount) tool(t *Tool) int {
	n := tokensPerTool + c.text(t.Name) + c.text(t.Description) + c.json(t.InputSchema)
	if t.IsServerTool() {
		n += c.text(t.Type) + serverToolTokens(t.Type)
	}
	for _, v := range t.Extra {
		n += c.json(v)
	}
	return n
}

// serverToolTokens returns the fixed prompt Anthropic documents for an
// Anthropic-defined tool type, or 0.
func serverToolTokens(typ string) int {
	switch {
	case strings.HasPrefix(typ, "bash_"):
		return 245
	case strings.HasPrefix(typ, "text_editor_"):
		return 700
	case strings.HasPrefix(typ, "computer_"):
		return 735
	}
	return 0
}

// decodeBase64 decodes standard base64 data, with or without padding,
// newlines or a data: URL prefix. It returns what decodes.
func decodeBase64(data string) []byte {
	data = trimDataURL(data)
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(data))) // >= StdEncoding's
	n, err := base64.StdEncoding.Decode(out, []byte(data))
	if err != nil {
		n, _ = base64.RawStdEncoding.Decode(out, []byte(strings.TrimRight(data, "=")))
	}
	return out[:n]
}

// trimDataURL removes a "data:<type>;base64," prefix.
func trimDataURL(data string) string {
	if strings.HasPrefix(data, "data:") {
		if i := strings.Index(data, ","); i >= 0 {
			return data[i+1:]
		}
	}
	return data
}

// pdfPages estimates the pages of a PDF: its /Type /Page objects, or else
// the largest /Count of its page tree (both may sit in compressed object
// streams), or else one page per 100 KB.
func pdfPages(pdf []byte) int {
	pages := 0
	for rest := pdf; ; {
		i := bytes.Index(rest, []byte("/Type"))
		if i < 0 {
			break
		}
		rest = rest[i+len("/Type"):]
		v := bytes.TrimLeft(rest, " \t\r\n")
		if bytes.HasPrefix(v, []byte("/Page")) && (len(v) == 5 || !isPDFNameChar(v[5])) {
			pages++
		}
	}
	if pages > 0 {
		return pages
	}
	for rest := pdf; ; {
		i := bytes.Index(rest, []byte("/Count"))
		if i < 0 {
			break
		}
		rest = rest[i+len("/Count"):]
		v := bytes.TrimLeft(rest, " \t\r\n")
		j := 0
		for j < len(v) && j < 7 && v[j] >= '0' && v[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(string(v[:j])); err == nil {
			pages = max(pages, n)
		}
	}
	if pages > 0 {
		return pages
	}
	return max(1, (len(pdf)+100<<10-1)/(100<<10))
}

func isPDFNameChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune("/[]<>(){}%", rune(c))
}

// imageTokens estimates an image block.
func imageTokens(src *Source) int {
	if src == nil || src.Type != "base64" {
		return imageUnknownTokens
	}
	w, h, ok := imageSize(newBase64At(trimDataURL(src.Data)))
	if !ok {
		return imageUnknownTokens
	}
	return imageSizeTokens(w, h)
}

// imageSizeTokens is Anthropic's estimate for a w×h image.
func imageSizeTokens(w, h int) int {
	if w <= 0 || h <= 0 {
		return imageUnknownTokens
	}
	fw, fh := float64(w), float64(h)
	if long := max(fw, fh); long > imageMaxEdge {
		fw, fh = fw*imageMaxEdge/long, fh*imageMaxEdge/long
	}
	t := fw * fh / imagePixelsPerTok
	if t >= imageMaxTokens {
		return imageMaxTokens
	}
	return max(1, int(math.Ceil(t)))
}

// byteReader gives random access to the bytes of an image.
type byteReader interface {
	// at returns the n bytes at off, or false if they are not there.
	at(off, n int) ([]byte, bool)
}

// plainBytes is a byteReader over decoded bytes.
type plainBytes []byte

func (p plainBytes) at(off, n int) ([]byte, bool) {
	if off < 0 || n < 0 || off > len(p) || n > len(p)-off {
		return nil, false
	}
	return p[off : off+n], true
}

// base64At decodes only the groups of base64 data that are read, so that
// a JPEG's size can be found past its metadata without decoding the image.
// Data that is not plain standard base64 (newlines, URL alphabet) is
// decoded up to its first 256 KiB instead.
type base64At struct {
	s     string
	plain plainBytes // set when s is not plain base64
	buf   [64]byte
}

func newBase64At(s string) *base64At {
	r := &base64At{s: strings.TrimRight(s, "=")}
	if i := strings.IndexFunc(r.s[:min(len(r.s), 4096)], func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/')
	}); i >= 0 {
		prefix := s[:min(len(s), 256<<10*4/3)]
		prefix = strings.NewReplacer("\r", "", "\n", "", " ", "", "-", "+", "_", "/").Replace(prefix)
		r.plain = plainBytes(decodeBase64(prefix))
	}
	return r
}

func (r *base64At) at(off, n int) ([]byte, bool) {
	if r.plain != nil {
		return r.plain.at(off, n)
	}
	if off < 0 || n < 0 || n > 48 {
		return nil, false
	}
	g0, g1 := off/3, (off+n+2)/3 // groups of 4 characters and 3 bytes
	if g0*4 >= len(r.s) {
		return nil, false
	}
	chars := r.s[g0*4 : min(g1*4, len(r.s))]
	m, err := base64.RawStdEncoding.Decode(r.buf[:], []byte(chars))
	if err != nil {
		return nil, false
	}
	skip := off - g0*3
	if skip+n > m {
		return nil, false
	}
	return r.buf[skip : skip+n], true
}

// imageSize reads the pixel size from a PNG, GIF, WebP or JPEG header.
func imageSize(r byteReader) (w, h int, ok bool) {
	head, ok := r.at(0, 12)
	if !ok {
		return 0, 0, false
	}
	be16 := binary.BigEndian.Uint16
	le16 := binary.LittleEndian.Uint16
	switch {
	case string(head[:8]) == "\x89PNG\r\n\x1a\n":
		b, ok := r.at(12, 12) // IHDR: type, width, height
		if !ok || string(b[:4]) != "IHDR" {
			return 0, 0, false
		}
		return int(binary.BigEndian.Uint32(b[4:])), int(binary.BigEndian.Uint32(b[8:])), true
	case string(head[:6]) == "GIF87a" || string(head[:6]) == "GIF89a":
		return int(le16(head[6:])), int(le16(head[8:])), true
	case string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return webpSize(r)
	case head[0] == 0xFF && head[1] == 0xD8:
		off := 2
		for range 4096 { // segments before the frame header
			b, ok := r.at(off, 4)
			if !ok || b[0] != 0xFF {
				return 0, 0, false
			}
			switch m := b[1]; {
			case m == 0xFF: // fill byte
				off++
			case m == 0x01 || m >= 0xD0 && m <= 0xD8: // no length
				off += 2
			case m == 0xD9 || m == 0xDA: // end of image or scan before a frame
				return 0, 0, false
			case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC: // start of frame
				f, ok := r.at(off+5, 4)
				if !ok {
					return 0, 0, false
				}
				return int(be16(f[2:])), int(be16(f[:2])), true
			default:
				off += 2 + int(be16(b[2:]))
			}
		}
	}
	return 0, 0, false
}

// webpSize reads the canvas size of a WebP image: lossy (VP8), lossless
// (VP8L) or extended (VP8X).
func webpSize(r byteReader) (w, h int, ok bool) {
	chunk, ok := r.at(12, 4) // then the chunk size, then the chunk at 20
	if !ok {
		return 0, 0, false
	}
	le16 := binary.LittleEndian.Uint16
	le24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	switch string(chunk) {
	case "VP8 ": // frame tag (3 bytes), start code, 14-bit width and height
		d, ok := r.at(20, 10)
		if !ok || d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A {
			return 0, 0, false
		}
		return int(le16(d[6:]) & 0x3FFF), int(le16(d[8:]) & 0x3FFF), true
	case "VP8L": // signature, then width-1 and height-1 in 14 bits each
		d, ok := r.at(20, 5)
		if !ok || d[0] != 0x2F {
			return 0, 0, false
		}
		v := binary.LittleEndian.Uint32(d[1:])
		return int(v&0x3FFF) + 1, int(v>>14&0x3FFF) + 1, true
	case "VP8X": // flags, reserved, then width-1 and height-1 in 24 bits each
		d, ok := r.at(20, 10)
		if !ok {
			return 0, 0, false
		}
		return le24(d[4:]) + 1, le24(d[7:]) + 1, true
	}
	return 0, 0, false
}
