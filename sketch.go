package ccr

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// This file is the routing-only read of a Messages request. Routing needs
// a few top-level members and some facts about the messages and tools,
// never their text, and the Anthropic passthrough forwards the body as it
// came. sketchRequest finds those in one pass that skips strings without
// decoding them, so that a passthrough request is never decoded in full
// and its tokens are not counted unless the long-context rule needs them.
//
// The sketch gives up on anything unusual: a key that encoding/json would
// match only case-insensitively or that is escaped, a duplicate member, a
// model, max_tokens, role or message of the wrong shape, a missing member
// that validation would report, a routing tag, a thinking signature the
// router made up. The request then takes the full path (decode, validate,
// route) exactly as if there were no sketch. So the sketch needs to be
// right only about plain requests, and FuzzSketch checks it against the
// full path on those.

// sketch is what routing reads of a request body.
type sketch struct {
	model     string
	modelSpan rawSpan
	maxTokens int
	stream    bool
	thinking  *Thinking
	metadata  json.RawMessage
	messages  int // how many

	// lastUserImage: the last user message may hold an image. When false
	// it certainly holds none.
	lastUserImage bool
	// media: an image or a document may be somewhere in the body, whose
	// token estimate is not bounded by its size.
	media bool
	// serverPrompt: a tool whose fixed prompt Anthropic documents (bash,
	// text editor, computer use) is declared.
	serverPrompt bool
	// webSearch: a web search tool is declared.
	webSearch bool
}

// request returns the shallow request of a sketch: the members routing
// and the passthrough read, without messages, system or tools.
func (sk *sketch) request(body []byte) *Request {
	return &Request{Model: sk.model, MaxTokens: sk.maxTokens, Stream: sk.stream, Thinking: sk.thinking,
		Metadata: sk.metadata, Raw: body, rawModel: sk.modelSpan}
}

// tokensAtMost reports whether the token count of the sketched body (see
// [TokenCounter.Count]) is certainly at most n. It cannot be sure when an
// image, a document or a tool with a fixed prompt is present: those are
// estimated regardless of their size. Otherwise every counted text and
// JSON value is a part of the body that decodes to at most as many bytes,
// except that an invalid UTF-8 byte decodes to three; every token is at
// least one byte; and the members around each message and tool take more
// bytes than the 3 tokens charged for them.
func (sk *sketch) tokensAtMost(body []byte, n int) bool {
	return !sk.media && !sk.serverPrompt && bodyTokensAtMost(body, n)
}

// bodyTokensAtMost reports whether the token count of a request whose
// body is body, and which holds no image, document or tool with a fixed
// prompt, is certainly at most n (see sketch.tokensAtMost).
func bodyTokensAtMost(body []byte, n int) bool {
	switch {
	case len(body) > n:
		return false
	case 3*len(body) <= n:
		return true
	}
	return len(body)+2*highBytes(body) <= n
}

// mayHoldMedia reports whether a decoded request may hold what the token
// count estimates regardless of its size, as sketch.media and
// sketch.serverPrompt do for a sketch: an image or a document block, in a
// message, the system prompt or a tool result (whose raw content is
// suspected on any mention of one, or any \u escape, which could spell
// one), or a tool with a fixed prompt.
func mayHoldMedia(req *Request) bool {
	blocks := func(c Content) bool {
		for i := range c {
			b := &c[i]
			switch b.Type {
			case "image", "document":
				return true
			}
			if r := bytes.TrimSpace(b.Content); len(r) > 0 && r[0] != '"' &&
				(bytes.Contains(r, []byte(`"image"`)) || bytes.Contains(r, []byte(`"document"`)) || bytes.Contains(r, []byte(`\u`))) {
				return true
			}
		}
		return false
	}
	if blocks(req.System) {
		return true
	}
	for i := range req.Messages {
		if blocks(req.Messages[i].Content) {
			return true
		}
	}
	for i := range req.Tools {
		if t := &req.Tools[i]; t.IsServerTool() && serverToolTokens(t.Type) > 0 {
			return true
		}
	}
	return false
}

// highBytes counts the bytes ≥ 0x80 of b.
func highBytes(b []byte) int {
	n := 0
	for len(b) >= 32 { // mostly ASCII: four words at a time, counted only when one has a high byte
		x0, x1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		x2, x3 := binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])
		if (x0|x1|x2|x3)&swarHi != 0 {
			n += bits.OnesCount64(x0&swarHi) + bits.OnesCount64(x1&swarHi) + bits.OnesCount64(x2&swarHi) + bits.OnesCount64(x3&swarHi)
		}
		b = b[32:]
	}
	for len(b) >= 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b) & swarHi)
		b = b[8:]
	}
	for _, c := range b {
		n += int(c >> 7)
	}
	return n
}

// sketchRequest sketches a Messages request body. ok is false when the
// request must take the full path.
func sketchRequest(body []byte) (sk sketch, ok bool) {
	s := sketcher{b: body, sk: &sk}
	end, err := s.top(jsonraw.SkipWS(body, 0))
	if err != nil || jsonraw.SkipWS(body, end) != len(body) {
		return sketch{}, false
	}
	if sk.model == "" || sk.maxTokens <= 0 || sk.messages == 0 {
		return sketch{}, false // for validation to report
	}
	return sk, true
}

type sketcher struct {
	b     []byte
	sk    *sketch
	image bool // an object of type "image" was seen since the last reset
}

func (s *sketcher) top(i int) (int, error) {
	b := s.b
	var dup seen
	return members(b, i, func(key []byte, vs int) (int, error) {
		k, err := field(key, requestFields)
		if err != nil {
			return 0, err
		}
		if k < 0 {
			return s.value(vs, 1)
		}
		if err := dup.add(k); err != nil {
			return 0, err
		}
		switch requestFields[k] {
		case "model":
			if b[vs] != '"' {
				return 0, errSlow
			}
			ve, err := str(b, vs, &s.sk.model)
			s.sk.modelSpan = rawSpan{doc: b, start: vs, end: ve}
			return ve, err
		case "max_tokens":
			return integer(b, vs, &s.sk.maxTokens)
		case "messages":
			return s.messages(vs)
		case "system":
			ve, err := s.value(vs, 1)
			if err != nil {
				return 0, err
			}
			if sys := b[vs:ve]; bytes.Contains(sys, []byte(subagentOpen[1:len(subagentOpen)-1])) || bytes.Contains(sys, []byte(`\u`)) {
				return 0, errSlow // a routing tag, maybe escaped
			}
			return ve, nil
		case "tools":
			return s.tools(vs)
		case "stream":
			return boolean(b, vs, &s.sk.stream)
		case "thinking":
			return small(b, vs, &s.sk.thinking)
		case "metadata":
			ve, err := s.value(vs, 1)
			if err == nil && string(b[vs:ve]) != "null" {
				s.sk.metadata = raw(b, vs, ve)
			}
			return ve, err
		}
		return s.value(vs, 1)
	})
}

var messageRoles = []string{"user", "assistant", "system"}

func (s *sketcher) messages(i int) (int, error) {
	b := s.b
	if b[i] != '[' {
		return 0, errSlow
	}
	return elements(b, i, func(vs int) (int, error) {
		var role string
		var image bool
		var dup seen
		end, err := members(b, vs, func(key []byte, vs int) (int, error) {
			k, err := field(key, messageFields)
			if err != nil {
				return 0, err
			}
			if k < 0 {
				return s.value(vs, 3)
			}
			if err := dup.add(k); err != nil {
				return 0, err
			}
			if k == 0 {
				ve, v, err := s.plainString(vs)
				for _, r := range messageRoles {
					if string(v) == r {
						role = r
					}
				}
				return ve, err
			}
			s.image = false
			ve, err := s.value(vs, 3)
			image = s.image
			return ve, err
		})
		if err != nil {
			return 0, err
		}
		if role == "" {
			return 0, errSlow
		}
		if role == "user" {
			s.sk.lastUserImage = image
		}
		s.sk.messages++
		return end, nil
	})
}

func (s *sketcher) tools(i int) (int, error) {
	b := s.b
	if b[i] == 'n' {
		return s.value(i, 1)
	}
	if b[i] != '[' {
		return 0, errSlow
	}
	return elements(b, i, func(vs int) (int, error) {
		if vs >= len(b) || b[vs] != '{' {
			return 0, errSlow
		}
		end, typ, err := s.object(vs, 2, true)
		t := Tool{Type: string(typ)}
		s.sk.webSearch = s.sk.webSearch || t.IsWebSearch()
		s.sk.serverPrompt = s.sk.serverPrompt || t.IsServerTool() && serverToolTokens(t.Type) > 0
		return end, err
	})
}

// plainString returns the end of the string at b[i] and its content,
// which must have no escapes.
func (s *sketcher) plainString(i int) (int, []byte, error) {
	b := s.b
	if b[i] != '"' {
		return 0, nil, errSlow
	}
	end, err := skipString(b, i)
	if err != nil {
		return 0, nil, err
	}
	v := b[i+1 : end-1]
	if bytes.IndexByte(v, '\\') >= 0 {
		return 0, nil, errSlow
	}
	return end, v, nil
}

// value skips the value at b[i], noting the types of its objects.
func (s *sketcher) value(i, depth int) (int, error) {
	b := s.b
	if i >= len(b) {
		return 0, errSlow
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{':
		end, _, err := s.object(i, depth, false)
		return end, err
	case '[':
		return s.array(i, depth)
	}
	return skipLiteral(b, i)
}

// object skips the object at b[i] and returns its "type" when that is a
// string. An object of type image or document sets the media facts; a
// thinking signature the router made up gives up. Members are skipped
// without looking into them when shallow is set, and always for a tool
// call's input: neither holds content blocks.
func (s *sketcher) object(i, depth int, shallow bool) (end int, typ []byte, err error) {
	if depth > jsonraw.MaxDepth {
		return 0, nil, errSlow
	}
	b := s.b
	i = jsonraw.SkipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil, nil
	}
	var seenType, seenSig bool
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, nil, errSlow
		}
		ke, err := skipString(b, i)
		if err != nil {
			return 0, nil, err
		}
		key := b[i+1 : ke-1]
		for _, c := range key {
			if c == '\\' || c >= 0x80 {
				return 0, nil, errSlow // escaped or folded spellings of "type"
			}
		}
		i = jsonraw.SkipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, nil, errSlow
		}
		vs := jsonraw.SkipWS(b, i+1)
		if vs >= len(b) {
			return 0, nil, errSlow
		}
		var ve int
		switch {
		case string(key) == "type" && b[vs] == '"':
			if seenType {
				return 0, nil, errSlow
			}
			seenType = true
			if ve, typ, err = s.plainString(vs); err != nil {
				return 0, nil, err
			}
			switch string(typ) {
			case "image":
				s.image, s.sk.media = true, true
			case "document":
				s.sk.media = true
			}
		case string(key) == "signature" && b[vs] == '"':
			if seenSig {
				return 0, nil, errSlow
			}
			seenSig = true
			var sig []byte
			if ve, sig, err = s.plainString(vs); err != nil {
				return 0, nil, err
			}
			if bytes.HasPrefix(sig, []byte(routerSignaturePrefix)) {
				return 0, nil, errSlow // the passthrough must drop its block
			}
		case string(key) == "type" || string(key) == "signature":
			if ve, err = s.value(vs, depth+1); err != nil {
				return 0, nil, err
			}
			if string(key) == "type" {
				if seenType {
					return 0, nil, errSlow
				}
				seenType = true
			} else {
				if seenSig {
					return 0, nil, errSlow
				}
				seenSig = true
			}
		case equalFoldASCII(key, "type") || equalFoldASCII(key, "signature"):
			return 0, nil, errSlow
		case shallow || string(key) == "input":
			if ve, err = skipValue(b, vs); err != nil {
				return 0, nil, err
			}
		default:
			if ve, err = s.value(vs, depth+1); err != nil {
				return 0, nil, err
			}
		}
		i = jsonraw.SkipWS(b, ve)
		if i >= len(b) {
			return 0, nil, errSlow
		}
		switch b[i] {
		case '}':
			return i + 1, typ, nil
		case ',':
			i = jsonraw.SkipWS(b, i+1)
		default:
			return 0, nil, errSlow
		}
	}
}

func (s *sketcher) array(i, depth int) (int, error) {
	if depth > jsonraw.MaxDepth {
		return 0, errSlow
	}
	b := s.b
	i = jsonraw.SkipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		e, err := s.value(i, depth+1)
		if err != nil {
			return 0, err
		}
		i = jsonraw.SkipWS(b, e)
		if i >= len(b) {
			return 0, errSlow
		}
		switch b[i] {
		case ']':
			return i + 1, nil
		case ',':
			i = jsonraw.SkipWS(b, i+1)
		default:
			return 0, errSlow
		}
	}
}

// skipString returns the offset past the string that starts with the
// quote at b[i]. It looks only for the closing quote: the content is not
// checked, which the upstream of a passthrough does, and the full path
// does for everything else. Short strings (keys, names, schema words) are
// scanned eight bytes at a time; the rest of a long one with IndexByte.
func skipString(b []byte, i int) (int, error) {
	i++
	for n := 0; n < 4 && i+8 <= len(b); n++ {
		x := binary.LittleEndian.Uint64(b[i:])
		q, e := x^(swarLo*'"'), x^(swarLo*'\\')
		m := ((q-swarLo)&^q | (e-swarLo)&^e) & swarHi // the lowest is a quote or backslash
		if m == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(m) / 8
		if b[i] == '"' {
			return i + 1, nil
		}
		i += 2 // an escape: its second byte is never the end
		break
	}
	for {
		q := bytes.IndexByte(b[min(i, len(b)):], '"')
		if q < 0 {
			return 0, errSlow
		}
		j := i + q
		k := j
		for k > i && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j + 1, nil
		}
		i = j + 1
	}
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// skipValue skips the value at b[i] without looking into it: only strings
// and brackets are followed, not the members' keys.
func skipValue(b []byte, i int) (int, error) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			e, err := skipString(b, i)
			if err != nil {
				return 0, err
			}
			if depth == 0 {
				return e, nil
			}
			i = e
			continue
		case '{', '[':
			if depth++; depth > jsonraw.MaxDepth {
				return 0, errSlow
			}
		case '}', ']':
			if depth--; depth <= 0 {
				if depth < 0 {
					return 0, errSlow
				}
				return i + 1, nil
			}
		default:
			if depth == 0 {
				return skipLiteral(b, i)
			}
		}
		i++
	}
	return 0, errSlow
}

// skipLiteral skips a number, true, false or null.
func skipLiteral(b []byte, i int) (int, error) {
	j := i
	for j < len(b) && strings.IndexByte("0123456789+-.eEtruefalsn", b[j]) >= 0 {
		j++
	}
	if j == i {
		return 0, errSlow
	}
	return j, nil
}
