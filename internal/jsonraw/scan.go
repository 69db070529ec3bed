package jsonraw

import (
	"encoding/binary"
	"math/bits"
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

// shortEscape marks the letters of the two-byte escapes AppendString
// writes, which scanners take inline.
var shortEscape = [256]bool{'"': true, '\\': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

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

// nextSpecial returns the offset of the first byte at or after i that a
// string cannot hold as it is (see strPlain), or len(b): eight bytes at a
// time while they can.
func nextSpecial(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && strPlain[b[i]] {
		i++
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
		if i = nextSpecial(b, i); i >= len(b) {
			return 0, false, ErrSyntax
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain, nil
		case c == '\\':
			plain = false
			if i+1 < len(b) && shortEscape[b[i+1]] {
				i += 2
				continue
			}
			n, _ := escape(b, i)
			if n == 0 {
				return 0, false, ErrSyntax
			}
			i += n
		case c < 0x20:
			return 0, false, ErrSyntax
		default: // ≥ 0x80
			plain = false
			for i++; i < len(b) && b[i] >= 0x80; i++ {
			}
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

// special flags the bytes of x (eight bytes of a string, the first in the
// low byte) that need a look: '"', '\\', control characters and bytes
// ≥ 0x80. It is 0 when there is none; else its lowest set bit is the high
// bit of the first such byte (bits above it mean nothing), since no byte
// before it borrows. Flagging bytes ≥ 0x80 is what makes the three
// subtractions exact without masking each.
func special(x uint64) uint64 {
	q := x ^ (lo * '"')
	bs := x ^ (lo * '\\')
	return ((q - lo) | (bs - lo) | (x - lo*0x20) | x) & hi
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Skip returns the offset just past the value that starts at b[i] (no
// leading whitespace), checking it strictly.
func Skip(b []byte, i int) (int, error) {
	end, _, err := scanValue(b, i)
	return end, err
}

// scanValue is Skip that also reports whether whitespace separates any of
// the value's tokens. It keeps a stack of the open containers instead of
// recursing: most of a schema or a tool input is short keys and strings,
// where calls would cost more than the bytes.
func scanValue(b []byte, i int) (end int, spaced bool, err error) {
	var buf [32]byte
	closers := buf[:0] // '}' or ']' for each open container
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return 0, false, ErrSyntax
		}
		switch c := b[i]; c {
		case '"':
			if i, err = skipStr(b, i); err != nil {
				return 0, false, err
			}
		case '{', '[':
			if len(closers) >= MaxDepth {
				return 0, false, ErrSyntax
			}
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			j := SkipWS(b, i+1)
			spaced = spaced || j != i+1
			if j < len(b) && b[j] == closer {
				i = j + 1
				break
			}
			closers = append(closers, closer)
			if c == '{' {
				if j, err = skipKey(b, j, &spaced); err != nil {
					return 0, false, err
				}
			}
			i = j
			continue
		case 't':
			i, err = literal(b, i, "true")
		case 'f':
			i, err = literal(b, i, "false")
		case 'n':
			i, err = literal(b, i, "null")
		default:
			i, err = ScanNumber(b, i)
		}
		if err != nil {
			return 0, false, err
		}
		// After a value: close containers, or go on to the next element.
		for {
			if len(closers) == 0 {
				return i, spaced, nil
			}
			j := SkipWS(b, i)
			spaced = spaced || j != i
			if j >= len(b) {
				return 0, false, ErrSyntax
			}
			closer := closers[len(closers)-1]
			if b[j] == closer {
				closers = closers[:len(closers)-1]
				i = j + 1
				continue
			}
			if b[j] != ',' {
				return 0, false, ErrSyntax
			}
			i = SkipWS(b, j+1)
			spaced = spaced || i != j+1
			if closer == '}' {
				if i, err = skipKey(b, i, &spaced); err != nil {
					return 0, false, err
				}
			}
			break
		}
	}
}

// skipKey skips a member's key and colon, and the whitespace after them,
// returning the offset of the value.
func skipKey(b []byte, i int, spaced *bool) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, ErrSyntax
	}
	e, err := skipStr(b, i)
	if err != nil {
		return 0, err
	}
	i = SkipWS(b, e)
	if i >= len(b) || b[i] != ':' {
		return 0, ErrSyntax
	}
	j := SkipWS(b, i+1)
	*spaced = *spaced || i != e || j != i+1
	return j, nil
}

// skipStr returns the offset just past the string that starts with the
// quote at b[i], checking its escapes.
func skipStr(b []byte, i int) (int, error) {
	i++
	for {
		if i = nextSpecial(b, i); i >= len(b) {
			return 0, ErrSyntax
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 < len(b) && shortEscape[b[i+1]] {
				i += 2
				continue
			}
			n, _ := escape(b, i)
			if n == 0 {
				return 0, ErrSyntax
			}
			i += n
		case c < 0x20:
			return 0, ErrSyntax
		default: // ≥ 0x80: any bytes will do
			for i++; i < len(b) && b[i] >= 0x80; i++ {
			}
		}
	}
}

// escape returns the length of the escape sequence at b[i] (a backslash),
// 0 if it is malformed, and whether it is how AppendString writes the
// character it stands for.
func escape(b []byte, i int) (n int, canonical bool) {
	if i+1 >= len(b) {
		return 0, false
	}
	switch b[i+1] {
	case '"', '\\', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case '/':
		return 2, false
	case 'u':
		if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
			return 0, false
		}
		h := b[i+2 : i+6]
		switch {
		case h[0] == '0' && h[1] == '0' && h[2] == '1':
			return 6, '0' <= h[3] && h[3] <= '9' || 'a' <= h[3] && h[3] <= 'f'
		case h[0] == '0' && h[1] == '0' && h[2] == '0':
			// \b \t \n \f \r have short forms.
			switch h[3] {
			case '8', '9', 'a', 'c', 'd':
				return 6, false
			}
			return 6, '0' <= h[3] && h[3] <= '9' || 'a' <= h[3] && h[3] <= 'f'
		}
		return 6, h[0] == '2' && h[1] == '0' && h[2] == '2' && (h[3] == '8' || h[3] == '9')
	}
	return 0, false
}

// ScanCanonical returns the offset just past the string that starts with
// the quote at b[i], as ScanString does. canonical reports that the string
// is exactly how AppendString writes its value (valid UTF-8 without
// U+2028 or U+2029, and only the escapes AppendString writes), so that it
// can be copied instead of decoded and encoded again.
func ScanCanonical(b []byte, i int) (end int, canonical bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, ErrSyntax
	}
	i++
	canonical = true
	for {
		if i = nextSpecial(b, i); i >= len(b) {
			return 0, false, ErrSyntax
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, canonical, nil
		case c == '\\':
			if i+1 < len(b) && shortEscape[b[i+1]] {
				i += 2
				continue
			}
			n, ok := escape(b, i)
			if n == 0 {
				return 0, false, ErrSyntax
			}
			canonical = canonical && ok
			i += n
		case c < 0x20:
			return 0, false, ErrSyntax
		default:
			n := seqLen(b, i)
			if n == 0 {
				// A 4-byte sequence, or one AppendString changes.
				r, size := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
					canonical = false
				}
				n = size
			}
			i += n
		}
	}
}

// seqLen returns the length of the 2- or 3-byte UTF-8 sequence that
// starts at s[i] (a byte ≥ 0x80) when it is valid and is neither U+2028
// nor U+2029, which AppendString escapes; else 0.
func seqLen[T string | []byte](s T, i int) int {
	c := s[i]
	if c < 0xE0 {
		if c >= 0xC2 && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			return 2
		}
		return 0
	}
	if c >= 0xF0 || i+2 >= len(s) {
		return 0
	}
	c1, c2 := s[i+1], s[i+2]
	lo, hi := byte(0x80), byte(0xBF)
	switch c {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F // no surrogates
	case 0xE2:
		if c1 == 0x80 && c2&^1 == 0xA8 {
			return 0
		}
	}
	if lo <= c1 && c1 <= hi && c2&0xC0 == 0x80 {
		return 3
	}
	return 0
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
	// One allocation: the builder's bytes become the string.
	var out strings.Builder
	out.Grow(len(s))
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time up to a backslash or a byte ≥ 0x80 (the
		// token has no quote or control character); the lowest flag is
		// exact as in special.
		if i+8 <= len(s) {
			x := binary.LittleEndian.Uint64(s[i:])
			m := ((x ^ (lo * '\\')) - lo | x) & hi
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(s) && s[i] != '\\' && s[i] < utf8.RuneSelf {
				i++
			}
			if i == len(s) {
				break
			}
		}
		if s[i] >= utf8.RuneSelf {
			if n := seqLen(s, i); n > 0 {
				i += n
				continue
			}
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				out.Write(s[start:i])
				out.WriteString("\uFFFD")
				start = i + 1
			}
			i += size
			continue
		}
		out.Write(s[start:i])
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
						start = i
						continue
					}
				}
				r = utf8.RuneError
			}
			out.WriteRune(r)
			start = i
			continue
		default: // '"', '\\', '/'
			out.WriteByte(s[i+1])
		}
		i += 2
		start = i
	}
	out.Write(s[start:])
	return out.String()
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
