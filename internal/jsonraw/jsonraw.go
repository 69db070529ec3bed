// Package jsonraw edits JSON documents at the byte level: it finds and
// replaces top-level object members without decoding or re-encoding the
// rest, so that everything else passes through byte for byte.
package jsonraw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrSyntax reports a document that is not a well-formed JSON object.
var ErrSyntax = errors.New("jsonraw: malformed JSON object")

// Member is one top-level member of an object: the key (decoded) and the
// byte offsets of its value.
type Member struct {
	Key        string
	Start, End int // value bytes are doc[Start:End]
	KeyStart   int // offset of the key's opening quote
}

// Members returns the top-level members of the JSON object doc.
func Members(doc []byte) ([]Member, error) {
	i := skipWS(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, ErrSyntax
	}
	i = skipWS(doc, i+1)
	var out []Member
	if i < len(doc) && doc[i] == '}' {
		return out, nil
	}
	for {
		if i >= len(doc) || doc[i] != '"' {
			return nil, ErrSyntax
		}
		ks := i
		ke, err := skipString(doc, i)
		if err != nil {
			return nil, err
		}
		var key string
		if k := doc[ks+1 : ke-1]; bytes.IndexByte(k, '\\') < 0 && utf8.Valid(k) {
			key = string(k) // what strconv.Unquote would return, without its copy
		} else if key, err = strconv.Unquote(string(doc[ks:ke])); err != nil {
			key = string(k)
		}
		i = skipWS(doc, ke)
		if i >= len(doc) || doc[i] != ':' {
			return nil, ErrSyntax
		}
		vs := skipWS(doc, i+1)
		ve, err := skipValue(doc, vs, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, Member{Key: key, Start: vs, End: ve, KeyStart: ks})
		i = skipWS(doc, ve)
		if i >= len(doc) {
			return nil, ErrSyntax
		}
		if doc[i] == '}' {
			return out, nil
		}
		if doc[i] != ',' {
			return nil, ErrSyntax
		}
		i = skipWS(doc, i+1)
	}
}

// Set returns a copy of doc with the top-level member key set to value
// (raw JSON), every occurrence if the key is duplicated. A missing member
// is added at the end.
func Set(doc []byte, key string, value []byte) ([]byte, error) {
	ms, err := Members(doc)
	if err != nil {
		return nil, err
	}
	n, grow := 0, 0
	for _, m := range ms {
		if m.Key == key {
			n++
			grow += len(value) - (m.End - m.Start)
		}
	}
	if n > 0 {
		out := make([]byte, 0, len(doc)+grow)
		last := 0
		for _, m := range ms {
			if m.Key == key {
				out = append(out, doc[last:m.Start]...)
				out = append(out, value...)
				last = m.End
			}
		}
		return append(out, doc[last:]...), nil
	}
	end := bytes.LastIndexByte(doc, '}')
	out := make([]byte, 0, len(doc)+len(key)+len(value)+4)
	out = append(out, doc[:end]...)
	if len(ms) > 0 {
		out = append(out, ',')
	}
	out = strconv.AppendQuote(out, key)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, doc[end:]...), nil
}

// Get returns the raw value of the top-level member key, nil if absent.
func Get(doc []byte, key string) ([]byte, error) {
	ms, err := Members(doc)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Key == key {
			return doc[m.Start:m.End], nil
		}
	}
	return nil, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	i++
	for i < len(b) {
		// Eight bytes at a time up to a quote or a backslash.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if (hasZero(x^(lo*'"'))|hasZero(x^(lo*'\\')))&hi != 0 {
				break
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return 0, ErrSyntax
		}
		if b[i] == '"' {
			return i + 1, nil
		}
		i += 2
	}
	return 0, ErrSyntax
}

// skipValue returns the offset just past the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > 10000 || i >= len(b) {
		return 0, ErrSyntax
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == close {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, ErrSyntax
				}
				e, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = skipWS(b, e)
				if i >= len(b) || b[i] != ':' {
					return 0, ErrSyntax
				}
				i = skipWS(b, i+1)
			}
			e, err := skipValue(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, e)
			if i >= len(b) {
				return 0, ErrSyntax
			}
			if b[i] == close {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, ErrSyntax
			}
			i = skipWS(b, i+1)
		}
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, ErrSyntax
		}
		return j, nil
	}
}
