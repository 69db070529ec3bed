// Package json5 converts the JSON5 found in hand-written configuration
// files into standard JSON: comments, trailing commas, unquoted keys,
// single-quoted strings, hexadecimal numbers, leading or trailing decimal
// points and explicit plus signs. Infinity and NaN are rejected, since JSON
// cannot carry them.
package json5

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SyntaxError reports a JSON5 syntax error with its position.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// ToJSON returns the standard JSON equivalent of the JSON5 document src.
func ToJSON(src []byte) ([]byte, error) {
	p := &parser{src: src, out: make([]byte, 0, len(src))}
	p.skip()
	if p.err != nil {
		return nil, p.err
	}
	if p.pos >= len(p.src) {
		return nil, p.errorf("empty document")
	}
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skip()
	if p.err != nil {
		return nil, p.err
	}
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q after the document", p.peekRune())
	}
	return p.out, nil
}

type parser struct {
	src []byte
	pos int
	out []byte
	err error
}

const maxDepth = 512

func (p *parser) errorf(format string, args ...any) error {
	line, col := 1, 1
	for i := 0; i < p.pos && i < len(p.src); i++ {
		if p.src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peekRune() rune {
	r, _ := utf8.DecodeRune(p.src[p.pos:])
	return r
}

// skip passes over white space and comments.
func (p *parser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '/':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '*':
			end := strings.Index(string(p.src[p.pos+2:]), "*/")
			if end < 0 {
				p.err = p.errorf("unterminated comment")
				p.pos = len(p.src)
				return
			}
			p.pos += end + 4
		case c >= 0x80:
			r, n := utf8.DecodeRune(p.src[p.pos:])
			if r == '\u00a0' || r == '\ufeff' || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Zs, r) {
				p.pos += n
				continue
			}
			return
		default:
			return
		}
	}
}

func (p *parser) value(depth int) error {
	if depth > maxDepth {
		return p.errorf("nesting too deep")
	}
	if p.err != nil {
		return p.err
	}
	if p.pos >= len(p.src) {
		return p.errorf("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"' || c == '\'':
		return p.str()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if p.hasWord(lit) {
				p.out = append(p.out, lit...)
				p.pos += len(lit)
				return nil
			}
		}
		if p.hasWord("Infinity") || p.hasWord("NaN") {
			return p.errorf("Infinity and NaN are not supported")
		}
		return p.errorf("unexpected %q", p.peekRune())
	}
}

func (p *parser) hasWord(w string) bool {
	if !strings.HasPrefix(string(p.src[p.pos:min(len(p.src), p.pos+len(w))]), w) {
		return false
	}
	end := p.pos + len(w)
	return end >= len(p.src) || !isIdentPart(rune(p.src[end]))
}

func (p *parser) object(depth int) error {
	return p.container('{', '}', "object", func() error {
		if err := p.key(); err != nil {
			return err
		}
		p.skip()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return p.errorf("expected ':' after object key")
		}
		p.pos++
		p.out = append(p.out, ':')
		p.skip()
		return p.value(depth + 1)
	})
}

// container converts an object or an array: the opening byte, then items
// written by item and separated by commas (a trailing comma is dropped),
// then the closing byte.
func (p *parser) container(open, close byte, what string, item func() error) error {
	p.pos++ // open
	p.out = append(p.out, open)
	first := true
	for {
		p.skip()
		if p.err != nil {
			return p.err
		}
		if p.pos >= len(p.src) {
			return p.errorf("unterminated %s", what)
		}
		if p.src[p.pos] == close {
			p.pos++
			p.out = append(p.out, close)
			return nil
		}
		if !first {
			return p.errorf("expected ',' or '%c' in %s, found %q", close, what, p.peekRune())
		}
		if err := item(); err != nil {
			return err
		}
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			p.skip()
			if p.pos < len(p.src) && p.src[p.pos] != close {
				p.out = append(p.out, ',')
			}
			continue
		}
		first = false
	}
}

func (p *parser) key() error {
	if p.src[p.pos] == '"' || p.src[p.pos] == '\'' {
		return p.str()
	}
	start := p.pos
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRune(p.src[p.pos:])
		if p.pos == start && !isIdentStart(r) || p.pos > start && !isIdentPart(r) {
			break
		}
		p.pos += n
	}
	if p.pos == start {
		return p.errorf("expected an object key, found %q", p.peekRune())
	}
	p.out = strconv.AppendQuote(p.out, string(p.src[start:p.pos]))
	return nil
}

func isIdentStart(r rune) bool { return r == '_' || r == '$' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return isIdentStart(r) || unicode.IsDigit(r) }

func (p *parser) array(depth int) error {
	return p.container('[', ']', "array", func() error { return p.value(depth + 1) })
}

// str converts a single- or double-quoted string to a JSON string.
func (p *parser) str() error {
	quote := p.src[p.pos]
	p.pos++
	var sb strings.Builder
	for {
		if p.pos >= len(p.src) {
			return p.errorf("unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == quote:
			p.pos++
			p.out = appendJSONString(p.out, sb.String())
			return nil
		case c == '\n' || c == '\r':
			return p.errorf("newline in string")
		case c == '\\':
			p.pos++
			if p.pos >= len(p.src) {
				return p.errorf("unterminated string")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'v':
				sb.WriteByte('\v')
			case '0':
				sb.WriteByte(0)
			case '\n': // line continuation
			case '\r':
				if p.pos < len(p.src) && p.src[p.pos] == '\n' {
					p.pos++
				}
			case 'x':
				if p.pos+2 > len(p.src) {
					return p.errorf("bad \\x escape")
				}
				v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+2]), 16, 8)
				if err != nil {
					return p.errorf("bad \\x escape")
				}
				sb.WriteRune(rune(v))
				p.pos += 2
			case 'u':
				if p.pos+4 > len(p.src) {
					return p.errorf("bad \\u escape")
				}
				v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+4]), 16, 16)
				if err != nil {
					return p.errorf("bad \\u escape")
				}
				p.pos += 4
				r := rune(v)
				if r >= 0xD800 && r < 0xDC00 && p.pos+6 <= len(p.src) && p.src[p.pos] == '\\' && p.src[p.pos+1] == 'u' {
					if lo, err := strconv.ParseUint(string(p.src[p.pos+2:p.pos+6]), 16, 16); err == nil && lo >= 0xDC00 && lo < 0xE000 {
						r = (r-0xD800)<<10 + (rune(lo) - 0xDC00) + 0x10000
						p.pos += 6
					}
				}
				sb.WriteRune(r)
			default:
				r, n := utf8.DecodeRune(p.src[p.pos-1:])
				sb.WriteRune(r)
				p.pos += n - 1
			}
		default:
			sb.WriteByte(c)
			p.pos++
		}
	}
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

func (p *parser) number() error {
	start := p.pos
	neg := false
	if c := p.src[p.pos]; c == '+' || c == '-' {
		neg = c == '-'
		p.pos++
	}
	if p.hasWord("Infinity") || p.hasWord("NaN") {
		return p.errorf("Infinity and NaN are not supported")
	}
	if p.pos+1 < len(p.src) && p.src[p.pos] == '0' && (p.src[p.pos+1] == 'x' || p.src[p.pos+1] == 'X') {
		p.pos += 2
		hs := p.pos
		for p.pos < len(p.src) && isHex(p.src[p.pos]) {
			p.pos++
		}
		v, err := strconv.ParseUint(string(p.src[hs:p.pos]), 16, 64)
		if err != nil {
			return p.errorf("bad hexadecimal number")
		}
		if neg {
			p.out = append(p.out, '-')
		}
		p.out = strconv.AppendUint(p.out, v, 10)
		return nil
	}
	ds := p.pos
	for p.pos < len(p.src) && strings.IndexByte("0123456789.eE+-", p.src[p.pos]) >= 0 {
		p.pos++
	}
	lit := string(p.src[ds:p.pos])
	if lit == "" || lit[0] == '+' || lit[0] == '-' {
		return p.errorf("bad number %q", string(p.src[start:p.pos]))
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return p.errorf("bad number %q", string(p.src[start:p.pos]))
	}
	if neg {
		p.out = append(p.out, '-')
	}
	// Keep integers exactly as written; normalise other forms (.5, 5.).
	if isPlainJSONNumber(lit) {
		p.out = append(p.out, lit...)
	} else {
		p.out = strconv.AppendFloat(p.out, f, 'g', -1, 64)
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isPlainJSONNumber reports whether s (without sign) is valid JSON number syntax.
func isPlainJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '0' {
		i++
	} else {
		if i >= len(s) || s[i] < '1' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}
