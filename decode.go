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
// returns the offset past it. Keys are given as bytes: f receives only
// keys without escapes or non-ASCII bytes (others go to the slow path),
// and the offsets of the value, already checked.
func members(b []byte, i int, f func(key []byte, vs, ve int) error) (int, error) {
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
		ve, err := jsonraw.Skip(b, vs)
		if err != nil {
			return 0, errSlow
		}
		if err := f(key, vs, ve); err != nil {
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

// str decodes the string value b[vs:ve] into *dst; null leaves it alone,
// as encoding/json does.
func str(b []byte, vs, ve int, dst *string) error {
	switch b[vs] {
	case '"':
		*dst = jsonraw.Unquote(b[vs:ve])
		return nil
	case 'n':
		return nil
	}
	return errSlow
}

func boolean(b []byte, vs int, dst *bool) error {
	switch b[vs] {
	case 't':
		*dst = true
		return nil
	case 'f':
		*dst = false
		return nil
	case 'n':
		return nil
	}
	return errSlow
}

var requestFields = []string{"model", "max_tokens", "messages", "system", "tools", "tool_choice", "temperature",
	"top_p", "top_k", "stop_sequences", "stream", "thinking", "output_config", "metadata"}

// decodeFast decodes a request body on the fast path, or returns errSlow.
// Top-level keys are matched exactly, as [Request.UnmarshalJSON] does.
func (r *Request) decodeFast(b []byte) error {
	*r = Request{}
	var dup seen
	i := jsonraw.SkipWS(b, 0)
	end, err := members(b, i, func(key []byte, vs, ve int) error {
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
				return errSlow
			}
			r.Extra[string(key)] = raw(b, vs, ve)
			return nil
		}
		if err := dup.add(k); err != nil {
			return err
		}
		v := b[vs:ve]
		switch requestFields[k] {
		case "model":
			return str(b, vs, ve, &r.Model)
		case "max_tokens":
			return integer(v, &r.MaxTokens)
		case "messages":
			return decodeMessages(b, vs, &r.Messages)
		case "system":
			return decodeContent(b, vs, ve, &r.System)
		case "tools":
			return decodeTools(b, vs, &r.Tools)
		case "stream":
			return boolean(b, vs, &r.Stream)
		case "metadata":
			if string(v) != "null" {
				r.Metadata = raw(b, vs, ve)
			}
			return nil
		case "tool_choice":
			return slow(json.Unmarshal(v, &r.ToolChoice))
		case "temperature":
			return slow(json.Unmarshal(v, &r.Temperature))
		case "top_p":
			return slow(json.Unmarshal(v, &r.TopP))
		case "top_k":
			return slow(json.Unmarshal(v, &r.TopK))
		case "stop_sequences":
			return slow(json.Unmarshal(v, &r.StopSequences))
		case "thinking":
			return slow(json.Unmarshal(v, &r.Thinking))
		case "output_config":
			return slow(json.Unmarshal(v, &r.OutputConfig))
		}
		return errSlow
	})
	if err != nil {
		return err
	}
	if jsonraw.SkipWS(b, end) != len(b) {
		return errSlow
	}
	return nil
}

func slow(err error) error {
	if err != nil {
		return errSlow
	}
	return nil
}

// integer decodes a JSON integer that fits an int; anything else (a
// fraction, an exponent, null) is for the reference.
func integer(v []byte, dst *int) error {
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return errSlow
	}
	*dst = n
	return nil
}

func decodeMessages(b []byte, i int, dst *[]Message) error {
	if b[i] != '[' {
		return errSlow
	}
	msgs := make([]Message, 0, 16)
	_, err := elements(b, i, func(vs int) (int, error) {
		msgs = append(msgs, Message{})
		return decodeMessage(b, vs, &msgs[len(msgs)-1])
	})
	*dst = msgs
	return err
}

var messageFields = []string{"role", "content"}

func decodeMessage(b []byte, i int, m *Message) (int, error) {
	var dup seen
	return members(b, i, func(key []byte, vs, ve int) error {
		k, err := field(key, messageFields)
		if err != nil || k < 0 {
			return err
		}
		if err := dup.add(k); err != nil {
			return err
		}
		if k == 0 {
			return str(b, vs, ve, &m.Role)
		}
		return decodeContent(b, vs, ve, &m.Content)
	})
}

// decodeContent decodes a string, null or an array of blocks, as
// [Content.UnmarshalJSON] does.
func decodeContent(b []byte, i, end int, dst *Content) error {
	switch b[i] {
	case '"':
		*dst = Content{{Type: "text", Text: jsonraw.Unquote(b[i:end])}}
		return nil
	case 'n':
		*dst = nil
		return nil
	case '[':
	default:
		return errSlow
	}
	blocks := make(Content, 0, 4)
	_, err := elements(b, i, func(vs int) (int, error) {
		blocks = append(blocks, ContentBlock{})
		return decodeBlock(b, vs, &blocks[len(blocks)-1])
	})
	*dst = blocks
	return err
}

var blockFields = []string{"type", "text", "citations", "source", "title", "context", "id", "name", "input",
	"tool_use_id", "content", "is_error", "thinking", "signature", "data", "cache_control"}

// decodeBlock decodes a block as [ContentBlock.UnmarshalJSON] does.
func decodeBlock(b []byte, i int, c *ContentBlock) (int, error) {
	var dup seen
	end, err := members(b, i, func(key []byte, vs, ve int) error {
		k, err := field(key, blockFields)
		if err != nil || k < 0 {
			return err
		}
		if err := dup.add(k); err != nil {
			return err
		}
		switch k {
		case 0:
			return str(b, vs, ve, &c.Type)
		case 1:
			return str(b, vs, ve, &c.Text)
		case 2:
			c.Citations = raw(b, vs, ve)
		case 3:
			switch b[vs] {
			case 'n':
				return nil
			case '{':
				c.Source = new(Source)
				_, err := decodeSource(b, vs, c.Source)
				return err
			}
			return errSlow
		case 4:
			return str(b, vs, ve, &c.Title)
		case 5:
			return str(b, vs, ve, &c.Context)
		case 6:
			return str(b, vs, ve, &c.ID)
		case 7:
			return str(b, vs, ve, &c.Name)
		case 8:
			c.Input = raw(b, vs, ve)
		case 9:
			return str(b, vs, ve, &c.ToolUseID)
		case 10:
			c.Content = raw(b, vs, ve)
		case 11:
			return boolean(b, vs, &c.IsError)
		case 12:
			return str(b, vs, ve, &c.Thinking)
		case 13:
			return str(b, vs, ve, &c.Signature)
		case 14:
			return str(b, vs, ve, &c.Data)
		case 15:
			c.CacheControl = raw(b, vs, ve)
		}
		return nil
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
	var dup seen
	return members(b, i, func(key []byte, vs, ve int) error {
		k, err := field(key, sourceFields)
		if err != nil || k < 0 {
			return err
		}
		if err := dup.add(k); err != nil {
			return err
		}
		switch k {
		case 0:
			return str(b, vs, ve, &s.Type)
		case 1:
			return str(b, vs, ve, &s.MediaType)
		case 2:
			return str(b, vs, ve, &s.Data)
		case 3:
			return str(b, vs, ve, &s.URL)
		case 4:
			return str(b, vs, ve, &s.FileID)
		}
		s.Content = raw(b, vs, ve)
		return nil
	})
}

func decodeTools(b []byte, i int, dst *[]Tool) error {
	if b[i] != '[' {
		return errSlow
	}
	tools := make([]Tool, 0, 16)
	_, err := elements(b, i, func(vs int) (int, error) {
		tools = append(tools, Tool{})
		return decodeTool(b, vs, &tools[len(tools)-1])
	})
	*dst = tools
	return err
}

var toolFields = []string{"type", "name", "description", "input_schema", "cache_control", "strict"}

// decodeTool decodes a tool as [Tool.UnmarshalJSON] does: unknown members
// go to Extra.
func decodeTool(b []byte, i int, t *Tool) (int, error) {
	var dup seen
	return members(b, i, func(key []byte, vs, ve int) error {
		k, err := field(key, toolFields)
		if err != nil {
			return err
		}
		if k < 0 {
			if t.Extra == nil {
				t.Extra = make(map[string]json.RawMessage)
			}
			t.Extra[string(key)] = raw(b, vs, ve) // the last of duplicates wins, as in a map
			return nil
		}
		if err := dup.add(k); err != nil {
			return err
		}
		switch k {
		case 0:
			return str(b, vs, ve, &t.Type)
		case 1:
			return str(b, vs, ve, &t.Name)
		case 2:
			return str(b, vs, ve, &t.Description)
		case 3:
			t.InputSchema = raw(b, vs, ve)
		case 4:
			t.CacheControl = raw(b, vs, ve)
		case 5:
			return boolean(b, vs, &t.Strict)
		}
		return nil
	})
}
