package jsonraw

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a strict scanner: it accepts exactly the documents
// encoding/json accepts (RFC 8259, any bytes ≥ 0x80 inside strings), so
// that a decoder built on it can trust what it skipped, and decodes strings
// exactly as encoding/json decodes them into a Go string.

// MaxDepth is the deepest nesting Skip accepts, encoding/json's limit.
const MaxDepth = 10000

// strPlain marks the bytes a string may contain as they are: not '"', not
// '\\', not a control character, and not ≥ 0x80 (which needs a UTF-8 check
// when decoding).
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// SkipWS returns the offset of the first byte at or after i that is not
// JSON whitespace.
func SkipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

// ScanString returns the offset just past the string that starts with the
// quote at b[i]. plain reports that it has no escapes and only ASCII, so
// that its content b[i+1:end-1] is its value.
func ScanString(b []byte, i int) (end int, plain bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, ErrSyntax
	}
	i++
	plain = true
	for {
		// Eight bytes at a time while none needs a look: the masks flag
		// '"', '\\', control characters and, while the string is still
		// plain, bytes ≥ 0x80.
		high := uint64(hi)
		if !plain {
			high = 0
		}
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if (hasZero(x^(lo*'"'))|hasZero(x^(lo*'\\'))|hasLess(x, 0x20))&hi|x&high != 0 {
				break
			}
			i += 8
		}
		for i < len(b) && (strPlain[b[i]] || !plain && b[i] >= 0x80) {
			i++
		}
		if i >= len(b) {
			return 0, false, ErrSyntax
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain, nil
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return 0, false, ErrSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, false, ErrSyntax
				}
				i += 6
			default:
				return 0, false, ErrSyntax
			}
		case c < 0x20:
			return 0, false, ErrSyntax
		default: // ≥ 0x80
			plain = false
			i++
		}
	}
}

const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// hasZero has the high bit set in the lowest zero byte of x (and maybe in
// higher bytes above it); it is 0 if no byte of x is zero.
func hasZero(x uint64) uint64 { return (x - lo) &^ x & hi }

// hasLess is non-zero if a byte of x is less than n (n ≤ 128); bytes ≥ 0x80
// count only through the borrow of a lower byte that is less than n.
func hasLess(x uint64, n uint64) uint64 { return (x - lo*n) &^ x & hi }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Skip returns the offset just past the value that starts at b[i] (no
// leading whitespace), checking it strictly.
func Skip(b []byte, i int) (int, error) {
	return skipStrict(b, i, 0)
}

func skipStrict(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, ErrSyntax
	}
	switch c := b[i]; c {
	case '"':
		end, _, err := ScanString(b, i)
		return end, err
	case '{', '[':
		if depth >= MaxDepth {
			return 0, ErrSyntax
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = SkipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				e, _, err := ScanString(b, i)
				if err != nil {
					return 0, err
				}
				i = SkipWS(b, e)
				if i >= len(b) || b[i] != ':' {
					return 0, ErrSyntax
				}
				i = SkipWS(b, i+1)
			}
			e, err := skipStrict(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = SkipWS(b, e)
			if i >= len(b) {
				return 0, ErrSyntax
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, ErrSyntax
			}
			i = SkipWS(b, i+1)
		}
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	default:
		return ScanNumber(b, i)
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, ErrSyntax
	}
	return i + len(lit), nil
}

// ScanNumber returns the offset just past the number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func ScanNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, ErrSyntax
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return 0, ErrSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, ErrSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, ErrSyntax
		}
	}
	return i, nil
}

// Unquote decodes the string token s (quotes included, already checked
// by ScanString) as encoding/json decodes it into a Go string: escapes
// resolved, a lone or mismatched UTF-16 surrogate and each byte of invalid
// UTF-8 replaced by U+FFFD.
func Unquote(s []byte) string {
	s = s[1 : len(s)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	// One allocation: the builder's bytes become the string.
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); {
		// The run up to the next escape, copied whole when it is valid
		// UTF-8.
		j := bytes.IndexByte(s[i:], '\\')
		if j < 0 {
			j = len(s) - i
		}
		writeUTF8(&out, s[i:i+j])
		i += j
		if i == len(s) {
			break
		}
		switch s[i+1] {
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(s[i+2:])); r2 != utf8.RuneError {
						out.WriteRune(r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out.WriteRune(r)
			continue
		default: // '"', '\\', '/'
			out.WriteByte(s[i+1])
		}
		i += 2
	}
	return out.String()
}

// writeUTF8 writes p with each byte of invalid UTF-8 replaced by U+FFFD.
func writeUTF8(out *strings.Builder, p []byte) {
	if utf8.Valid(p) {
		out.Write(p)
		return
	}
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			out.WriteRune(utf8.RuneError)
		} else {
			out.Write(p[:size])
		}
		p = p[size:]
	}
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
