package ccr

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// This file is the fast path of request decoding. The reference is
// encoding/json through the UnmarshalJSON methods of transformer.go; the
// fast path walks the body once with a strict scanner, decodes the hub
// types directly, and leaves json.RawMessage fields pointing into the body
// instead of copying them. Whenever the input is anything but plain (a
// syntax error, a type mismatch, a null where a value is modelled, a
// duplicate key, a key that matches a field only case-insensitively or is
// escaped), it gives up and the reference decodes the whole body, so that
// results and error messages are the reference's. FuzzDecodeRequest checks
// the two against each other.

// errSlow sends decoding to the reference path.
var errSlow = errors.New("ccr: not on the fast path")

// decodeRequest decodes body into r. r keeps references into body, which
// the caller must not modify afterwards.
func decodeRequest(body []byte, r *Request) error {
	if err := r.decodeFast(body); err == nil {
		return nil
	}
	*r = Request{}
	return json.Unmarshal(body, (*referenceRequest)(r))
}

// referenceRequest decodes with the reference implementation only.
type referenceRequest Request

func (r *referenceRequest) UnmarshalJSON(b []byte) error { return (*Request)(r).decodeReference(b) }

// raw returns b[i:j] with its capacity cut, so that an append to the
// returned slice never writes into the rest of the body.
func raw(b []byte, i, j int) json.RawMessage { return json.RawMessage(b[i:j:j]) }

// members calls f for each member of the object starting at b[i] and
// returns the offset past it. f receives only keys without escapes or
// non-ASCII bytes (others go to the slow path) and the offset of the value,
// and returns the offset past the value, having checked it.
func members(b []byte, i int, f func(key []byte, vs int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, errSlow
	}
	i = jsonraw.SkipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		ke, plain, err := jsonraw.ScanString(b, i)
		if err != nil || !plain {
			return 0, errSlow
		}
		key := b[i+1 : ke-1]
		i = jsonraw.SkipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, errSlow
		}
		vs := jsonraw.SkipWS(b, i+1)
		if vs >= len(b) {
			return 0, errSlow
		}
		ve, err := f(key, vs)
		if err != nil {
			return 0, err
		}
		i = jsonraw.SkipWS(b, ve)
		if i >= len(b) {
			return 0, errSlow
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errSlow
		}
		i = jsonraw.SkipWS(b, i+1)
	}
}

// elements calls f with the offset of each element of the array starting
// at b[i] and returns the offset past the array. f returns the offset past
// the element.
func elements(b []byte, i int, f func(vs int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '[' {
		return 0, errSlow
	}
	i = jsonraw.SkipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		e, err := f(i)
		if err != nil {
			return 0, err
		}
		i = jsonraw.SkipWS(b, e)
		if i >= len(b) {
			return 0, errSlow
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errSlow
		}
		i = jsonraw.SkipWS(b, i+1)
	}
}

// object decodes the object at b[i] whose modelled members are names: f
// receives the index in names of each such member's key and the offset of
// its value, and returns the offset past the value. Other members go to
// unknown, or are checked and skipped when unknown is nil. A duplicate
// modelled key goes to the reference, which merges them.
func object(b []byte, i int, names []string, unknown func(key []byte, vs int) (int, error), f func(k, vs int) (int, error)) (int, error) {
	var dup seen
	return members(b, i, func(key []byte, vs int) (int, error) {
		k, err := field(key, names)
		if err != nil {
			return 0, err
		}
		if k < 0 {
			if unknown != nil {
				return unknown(key, vs)
			}
			return skip(b, vs)
		}
		if err := dup.add(k); err != nil {
			return 0, err
		}
		return f(k, vs)
	})
}

// arrayOf decodes the array at b[i] into *dst, each element with dec, and
// returns the offset past it; n is the capacity to start with.
func arrayOf[T any](b []byte, i, n int, dst *[]T, dec func(b []byte, i int, v *T) (int, error)) (int, error) {
	if b[i] != '[' {
		return 0, errSlow
	}
	s := make([]T, 0, n)
	end, err := elements(b, i, func(vs int) (int, error) {
		var zero T
		s = append(s, zero)
		return dec(b, vs, &s[len(s)-1])
	})
	*dst = s
	return end, err
}

// document decodes the whole of b with value, which gets the offset of
// the value past any leading whitespace; only whitespace may follow it.
func document(b []byte, value func(b []byte, i int) (int, error)) error {
	end, err := value(b, jsonraw.SkipWS(b, 0))
	if err != nil {
		return err
	}
	if jsonraw.SkipWS(b, end) != len(b) {
		return errSlow
	}
	return nil
}

// field matches a key against a struct's field names the way
// encoding/json does: exactly, or else case-insensitively, which the fast
// path leaves to the reference. It returns the field's index, -1 for an
// unknown key, or errSlow.
func field(key []byte, names []string) (int, error) {
	for i, n := range names {
		if string(key) == n {
			return i, nil
		}
	}
	for _, n := range names {
		if equalFoldASCII(key, n) {
			return 0, errSlow
		}
	}
	return -1, nil
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// seen guards against duplicate keys, which encoding/json merges.
type seen uint32

func (s *seen) add(i int) error {
	if *s&(1<<i) != 0 {
		return errSlow
	}
	*s |= 1 << i
	return nil
}

// skip checks the value at b[vs] and returns the offset past it.
func skip(b []byte, vs int) (int, error) {
	ve, err := jsonraw.Skip(b, vs)
	if err != nil {
		return 0, errSlow
	}
	return ve, nil
}

// rawValue checks the value at b[vs] and points *dst at it.
func rawValue(b []byte, vs int, dst *json.RawMessage) (int, error) {
	ve, err := skip(b, vs)
	if err == nil {
		*dst = raw(b, vs, ve)
	}
	return ve, err
}

// str decodes the string at b[vs] into *dst; null leaves *dst alone, as
// encoding/json does.
func str(b []byte, vs int, dst *string) (int, error) {
	switch b[vs] {
	case '"':
		ve, plain, err := jsonraw.ScanString(b, vs)
		if err != nil {
			return 0, errSlow
		}
		if plain {
			*dst = string(b[vs+1 : ve-1])
		} else {
			*dst = jsonraw.Unquote(b[vs:ve])
		}
		return ve, nil
	case 'n':
		return null(b, vs)
	}
	return 0, errSlow
}

func null(b []byte, vs int) (int, error) {
	if len(b)-vs >= 4 && string(b[vs:vs+4]) == "null" {
		return vs + 4, nil
	}
	return 0, errSlow
}

func boolean(b []byte, vs int, dst *bool) (int, error) {
	ve, err := skip(b, vs)
	if err != nil {
		return 0, err
	}
	switch string(b[vs:ve]) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	case "null":
	default:
		return 0, errSlow
	}
	return ve, nil
}

// integer decodes a JSON integer that fits an int; anything else (a
// fraction, an exponent, null) is for the reference.
func integer(b []byte, vs int, dst *int) (int, error) {
	ve, err := jsonraw.ScanNumber(b, vs)
	if err != nil {
		return 0, errSlow
	}
	n, err := strconv.Atoi(string(b[vs:ve]))
	if err != nil {
		return 0, errSlow
	}
	*dst = n
	return ve, nil
}

// small decodes a small member with encoding/json, as the reference does.
func small(b []byte, vs int, dst any) (int, error) {
	ve, err := skip(b, vs)
	if err != nil {
		return 0, err
	}
	if json.Unmarshal(b[vs:ve], dst) != nil {
		return 0, errSlow
	}
	return ve, nil
}

var requestFields = []string{"model", "max_tokens", "messages", "system", "tools", "tool_choice", "temperature",
	"top_p", "top_k", "stop_sequences", "stream", "thinking", "output_config", "metadata"}

// decodeFast decodes a request body on the fast path, or returns errSlow.
// Top-level keys are matched exactly, as [Request.UnmarshalJSON] does.
func (r *Request) decodeFast(b []byte) error {
	*r = Request{}
	return document(b, r.decodeObject)
}

func (r *Request) decodeObject(b []byte, i int) (int, error) {
	var dup seen
	return members(b, i, func(key []byte, vs int) (int, error) {
		k := -1
		for j, n := range requestFields {
			if string(key) == n {
				k = j
				break
			}
		}
		if k < 0 {
			if r.Extra == nil {
				r.Extra = make(map[string]json.RawMessage)
			} else if _, ok := r.Extra[string(key)]; ok {
				return 0, errSlow
			}
			var v json.RawMessage
			ve, err := rawValue(b, vs, &v)
			r.Extra[string(key)] = v
			return ve, err
		}
		if err := dup.add(k); err != nil {
			return 0, err
		}
		switch requestFields[k] {
		case "model":
			ve, err := str(b, vs, &r.Model)
			r.rawModel = rawSpan{doc: b, start: vs, end: ve}
			return ve, err
		case "max_tokens":
			return integer(b, vs, &r.MaxTokens)
		case "messages":
			return arrayOf(b, vs, 16, &r.Messages, decodeMessage)
		case "system":
			return decodeContent(b, vs, &r.System)
		case "tools":
			return arrayOf(b, vs, 16, &r.Tools, decodeTool)
		case "stream":
			return boolean(b, vs, &r.Stream)
		case "metadata":
			ve, err := skip(b, vs)
			if err == nil && string(b[vs:ve]) != "null" {
				r.Metadata = raw(b, vs, ve)
			}
			return ve, err
		case "tool_choice":
			return small(b, vs, &r.ToolChoice)
		case "temperature":
			return small(b, vs, &r.Temperature)
		case "top_p":
			return small(b, vs, &r.TopP)
		case "top_k":
			return small(b, vs, &r.TopK)
		case "stop_sequences":
			return small(b, vs, &r.StopSequences)
		case "thinking":
			return small(b, vs, &r.Thinking)
		case "output_config":
			return small(b, vs, &r.OutputConfig)
		}
		return 0, errSlow
	})
}

var messageFields = []string{"role", "content"}

func decodeMessage(b []byte, i int, m *Message) (int, error) {
	return object(b, i, messageFields, nil, func(k, vs int) (int, error) {
		if k == 0 {
			return str(b, vs, &m.Role)
		}
		return decodeContent(b, vs, &m.Content)
	})
}

// decodeContent decodes a string, null or an array of blocks, as
// [Content.UnmarshalJSON] does.
func decodeContent(b []byte, i int, dst *Content) (int, error) {
	switch b[i] {
	case '"':
		var s string
		end, err := str(b, i, &s)
		*dst = Content{{Type: "text", Text: s}}
		return end, err
	case 'n':
		*dst = nil
		return null(b, i)
	}
	// Most messages hold one or two blocks.
	return arrayOf(b, i, 2, (*[]ContentBlock)(dst), decodeBlock)
}

var blockFields = []string{"type", "text", "citations", "source", "title", "context", "id", "name", "input",
	"tool_use_id", "content", "is_error", "thinking", "signature", "data", "cache_control"}

// decodeBlock decodes a block as [ContentBlock.UnmarshalJSON] does.
func decodeBlock(b []byte, i int, c *ContentBlock) (int, error) {
	end, err := object(b, i, blockFields, nil, func(k, vs int) (int, error) {
		switch k {
		case 0:
			return str(b, vs, &c.Type)
		case 1:
			return str(b, vs, &c.Text)
		case 2:
			return rawValue(b, vs, &c.Citations)
		case 3:
			switch b[vs] {
			case 'n':
				return null(b, vs)
			case '{':
				c.Source = new(Source)
				return decodeSource(b, vs, c.Source)
			}
			return 0, errSlow
		case 4:
			return str(b, vs, &c.Title)
		case 5:
			return str(b, vs, &c.Context)
		case 6:
			return str(b, vs, &c.ID)
		case 7:
			return str(b, vs, &c.Name)
		case 8:
			return rawValue(b, vs, &c.Input)
		case 9:
			return str(b, vs, &c.ToolUseID)
		case 10:
			return rawValue(b, vs, &c.Content)
		case 11:
			return boolean(b, vs, &c.IsError)
		case 12:
			return str(b, vs, &c.Thinking)
		case 13:
			return str(b, vs, &c.Signature)
		case 14:
			return str(b, vs, &c.Data)
		}
		return rawValue(b, vs, &c.CacheControl)
	})
	if err != nil {
		return 0, err
	}
	if !knownBlockType(c.Type) {
		c.Raw = raw(b, i, end)
	}
	return end, nil
}

var sourceFields = []string{"type", "media_type", "data", "url", "file_id", "content"}

func decodeSource(b []byte, i int, s *Source) (int, error) {
	return object(b, i, sourceFields, nil, func(k, vs int) (int, error) {
		if k == 5 {
			return rawValue(b, vs, &s.Content)
		}
		return str(b, vs, [...]*string{&s.Type, &s.MediaType, &s.Data, &s.URL, &s.FileID}[k])
	})
}

var toolFields = []string{"type", "name", "description", "input_schema", "cache_control", "strict"}

// decodeTool decodes a tool as [Tool.UnmarshalJSON] does: unknown members
// go to Extra.
func decodeTool(b []byte, i int, t *Tool) (int, error) {
	extra := func(key []byte, vs int) (int, error) {
		if t.Extra == nil {
			t.Extra = make(map[string]json.RawMessage)
		}
		var v json.RawMessage
		ve, err := rawValue(b, vs, &v)
		t.Extra[string(key)] = v // the last of duplicates wins, as in a map
		return ve, err
	}
	return object(b, i, toolFields, extra, func(k, vs int) (int, error) {
		switch k {
		case 0:
			return str(b, vs, &t.Type)
		case 1:
			return str(b, vs, &t.Name)
		case 2:
			return str(b, vs, &t.Description)
		case 3:
			return rawValue(b, vs, &t.InputSchema)
		case 4:
			return rawValue(b, vs, &t.CacheControl)
		}
		return boolean(b, vs, &t.Strict)
	})
}

// decodeResponse decodes an Anthropic Messages response into resp as
// json.Unmarshal does; its content blocks keep references into body.
func decodeResponse(body []byte, resp *Response) error {
	if resp.decodeFast(body) == nil {
		return nil
	}
	*resp = Response{}
	return json.Unmarshal(body, resp)
}

var responseFields = []string{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}

func (r *Response) decodeFast(b []byte) error {
	*r = Response{}
	return document(b, r.decodeObject)
}

func (r *Response) decodeObject(b []byte, i int) (int, error) {
	return object(b, i, responseFields, nil, func(k, vs int) (int, error) {
		switch k {
		case 0:
			return str(b, vs, &r.ID)
		case 1:
			return str(b, vs, &r.Type)
		case 2:
			return str(b, vs, &r.Role)
		case 3:
			return str(b, vs, &r.Model)
		case 4:
			if b[vs] == 'n' {
				return null(b, vs)
			}
			var c Content
			ve, err := decodeContent(b, vs, &c)
			if err != nil || b[vs] != '[' {
				return 0, errSlow
			}
			r.Content = c
			return ve, nil
		case 5:
			return str(b, vs, &r.StopReason)
		case 6:
			if b[vs] == 'n' {
				return null(b, vs)
			}
			var s string
			ve, err := str(b, vs, &s)
			r.StopSequence = &s
			return ve, err
		}
		return decodeUsage(b, vs, &r.Usage)
	})
}

var usageFields = []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}

func decodeUsage(b []byte, i int, u *Usage) (int, error) {
	if b[i] == 'n' {
		return null(b, i)
	}
	return object(b, i, usageFields, nil, func(k, vs int) (int, error) {
		if b[vs] == 'n' {
			return null(b, vs)
		}
		dst := [...]*int{&u.InputTokens, &u.OutputTokens, &u.CacheCreationInputTokens, &u.CacheReadInputTokens}[k]
		return integer(b, vs, dst)
	})
}
