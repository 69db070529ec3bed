package jsonraw

import (
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// This file encodes JSON exactly as encoding/json does with HTML escaping
// off (json.Encoder.SetEscapeHTML(false)), for hand-written encoders that
// must produce the same bytes.

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: '"' and '\\' escaped, control
// characters as \b, \f, \n, \r, \t or \u00XX, invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendEscaped(dst, s)
	return append(dst, '"')
}

// AppendEscaped appends s escaped as AppendString escapes it, without the
// quotes. Escaping goes character by character (and invalid byte by
// invalid byte), so that texts can be escaped one by one and joined:
// escaping a+b appends the same bytes as escaping a, then b, when a is
// valid UTF-8 or b starts with an ASCII character.
func AppendEscaped(dst []byte, s string) []byte {
	start, i := 0, 0
	for i < len(s) {
		// Eight bytes at a time up to the first that needs a look.
		for i+8 <= len(s) {
			x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if m := special(x); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(s) && strPlain[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		if n := seqLen(s, i); n > 0 {
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// AppendFloat appends f as encoding/json formats a float64; ok is false
// for NaN and infinities, which it cannot encode.
func AppendFloat(dst []byte, f float64) (_ []byte, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// AppendCompact appends the JSON value raw without insignificant
// whitespace, as encoding/json writes a json.RawMessage. ok is false when
// raw is not exactly one valid JSON value, which encoding/json refuses.
func AppendCompact(dst, raw []byte) (_ []byte, ok bool) {
	i := SkipWS(raw, 0)
	end, spaced, err := scanValue(raw, i)
	if err != nil || SkipWS(raw, end) != len(raw) {
		return dst, false
	}
	if !spaced {
		return append(dst, raw[i:end]...), true
	}
	return appendCompact(dst, raw[i:end]), true
}

// Compact returns raw as AppendCompact writes it: raw itself, without its
// surrounding whitespace, when it has none between its tokens.
func Compact(raw []byte) (_ []byte, ok bool) {
	i := SkipWS(raw, 0)
	end, spaced, err := scanValue(raw, i)
	if err != nil || SkipWS(raw, end) != len(raw) {
		return nil, false
	}
	if !spaced {
		return raw[i:end], true
	}
	return appendCompact(make([]byte, 0, end-i), raw[i:end]), true
}

// appendCompact appends the valid JSON value raw without whitespace.
func appendCompact(dst, raw []byte) []byte {
	for j := 0; j < len(raw); {
		switch c := raw[j]; c {
		case ' ', '\t', '\n', '\r':
			j++
		case '"':
			e, _ := skipStr(raw, j)
			dst = append(dst, raw[j:e]...)
			j = e
		default:
			dst = append(dst, c)
			j++
		}
	}
	return dst
}
