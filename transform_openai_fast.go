package ccr

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// This file is the fast path of the OpenAI Chat Completions format: request
// bodies encoded and streamed chunks decoded without reflection.

// encodeOARequest encodes a Chat Completions request body exactly as
// marshalNoEscape does, without reflection: the body of a converted
// Claude Code request is most of the conversion's cost. Anything
// encoding/json would refuse (an invalid json.RawMessage, a NaN) goes to
// marshalNoEscape for its error. TestOAEncoderFields fails when a field is
// added to the request types and not here.
func encodeOARequest(r *oaRequest) ([]byte, error) { return encodeOARequestMemo(r, nil) }

// encodeOARequestMemo is encodeOARequest with the tools array taken from,
// or else given to, memo, which may be nil.
func encodeOARequestMemo(r *oaRequest, memo *toolsMemo) ([]byte, error) {
	e := oaEncoder{b: make([]byte, 0, oaSizeHint(r)), memo: memo}
	e.request(r)
	if e.bad {
		return marshalNoEscape(r)
	}
	return e.b, nil
}

type oaEncoder struct {
	b    []byte
	bad  bool // something only encoding/json can report
	memo *toolsMemo
}

func (e *oaEncoder) str(s string) { e.b = jsonraw.AppendString(e.b, s) }

func (e *oaEncoder) key(k string) {
	if e.b[len(e.b)-1] != '{' {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

// raw writes a json.RawMessage as encoding/json does: nil is null, and
// the value is checked and compacted.
func (e *oaEncoder) raw(m json.RawMessage) {
	if m == nil {
		e.b = append(e.b, "null"...)
		return
	}
	var ok bool
	if e.b, ok = jsonraw.AppendCompact(e.b, m); !ok {
		e.bad = true
	}
}

func (e *oaEncoder) float(f float64) {
	var ok bool
	if e.b, ok = jsonraw.AppendFloat(e.b, f); !ok {
		e.bad = true
	}
}

func (e *oaEncoder) int(n int)   { e.b = strconv.AppendInt(e.b, int64(n), 10) }
func (e *oaEncoder) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *oaEncoder) request(r *oaRequest) {
	e.b = append(e.b, '{')
	e.key("model")
	e.str(r.Model)
	e.key("messages")
	if r.Messages == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i := range r.Messages {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.message(&r.Messages[i])
		}
		e.b = append(e.b, ']')
	}
	if r.MaxTokens != 0 {
		e.key("max_tokens")
		e.int(r.MaxTokens)
	}
	if r.MaxCompletionTokens != 0 {
		e.key("max_completion_tokens")
		e.int(r.MaxCompletionTokens)
	}
	if r.Temperature != nil {
		e.key("temperature")
		e.float(*r.Temperature)
	}
	if r.TopP != nil {
		e.key("top_p")
		e.float(*r.TopP)
	}
	if r.TopK != nil {
		e.key("top_k")
		e.int(*r.TopK)
	}
	if len(r.Stop) > 0 {
		e.key("stop")
		e.b = append(e.b, '[')
		for i, s := range r.Stop {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(s)
		}
		e.b = append(e.b, ']')
	}
	if r.Stream {
		e.key("stream")
		e.bool(true)
	}
	if o := r.StreamOptions; o != nil {
		e.key("stream_options")
		e.b = append(e.b, `{"include_usage":`...)
		e.bool(o.IncludeUsage)
		e.b = append(e.b, '}')
	}
	if len(r.Tools) > 0 {
		e.key("tools")
		e.tools(r.Tools)
	}
	if c := r.ToolChoice; c != nil {
		e.key("tool_choice")
		if c.mode != "" {
			e.str(c.mode)
		} else {
			e.b = append(e.b, `{"type":"function","function":{"name":`...)
			e.str(c.name)
			e.b = append(e.b, '}', '}')
		}
	}
	if r.ParallelToolCalls != nil {
		e.key("parallel_tool_calls")
		e.bool(*r.ParallelToolCalls)
	}
	if r.ReasoningEffort != "" {
		e.key("reasoning_effort")
		e.str(r.ReasoningEffort)
	}
	if t := r.Thinking; t != nil {
		e.key("thinking")
		e.b = append(e.b, `{"type":`...)
		e.str(t.Type)
		e.b = append(e.b, '}')
	}
	if rs := r.Reasoning; rs != nil {
		e.key("reasoning")
		e.b = append(e.b, '{')
		if rs.MaxTokens != 0 {
			e.key("max_tokens")
			e.int(rs.MaxTokens)
		}
		if rs.Effort != "" {
			e.key("effort")
			e.str(rs.Effort)
		}
		if rs.Enabled != nil {
			e.key("enabled")
			e.bool(*rs.Enabled)
		}
		e.b = append(e.b, '}')
	}
	if f := r.ResponseFormat; f != nil {
		e.key("response_format")
		e.b = append(e.b, `{"type":`...)
		e.str(f.Type)
		e.b = append(e.b, `,"json_schema":{"name":`...)
		e.str(f.JSONSchema.Name)
		e.b = append(e.b, `,"schema":`...)
		e.raw(f.JSONSchema.Schema)
		e.b = append(e.b, `,"strict":`...)
		e.bool(f.JSONSchema.Strict)
		e.b = append(e.b, '}', '}')
	}
	e.b = append(e.b, '}')
}

func (e *oaEncoder) message(m *oaMessage) {
	e.b = append(e.b, `{"role":`...)
	e.str(m.Role)
	e.b = append(e.b, `,"content":`...)
	switch m.Content.kind {
	case 1:
		e.str(m.Content.text)
	case 3:
		e.b = append(e.b, m.Content.enc...)
	case 4:
		e.b = m.Content.join.appendTo(e.b)
	case 2:
		if m.Content.parts == nil {
			e.b = append(e.b, "null"...)
			break
		}
		e.b = append(e.b, '[')
		for i := range m.Content.parts {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.part(&m.Content.parts[i])
		}
		e.b = append(e.b, ']')
	default:
		e.b = append(e.b, "null"...)
	}
	if m.ReasoningContent != nil {
		e.key("reasoning_content")
		e.str(*m.ReasoningContent)
	}
	if len(m.ToolCalls) > 0 {
		e.key("tool_calls")
		e.b = append(e.b, '[')
		for i := range m.ToolCalls {
			c := &m.ToolCalls[i]
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, `{"id":`...)
			e.str(c.ID)
			e.b = append(e.b, `,"type":`...)
			e.str(c.Type)
			e.b = append(e.b, `,"function":{"name":`...)
			e.str(c.Function.Name)
			e.b = append(e.b, `,"arguments":`...)
			e.str(c.Function.Arguments)
			e.b = append(e.b, '}', '}')
		}
		e.b = append(e.b, ']')
	}
	if m.ToolCallID != "" {
		e.key("tool_call_id")
		e.str(m.ToolCallID)
	}
	e.b = append(e.b, '}')
}

func (e *oaEncoder) part(p *oaPart) {
	e.b = append(e.b, `{"type":`...)
	e.str(p.Type)
	if p.Text != "" {
		e.key("text")
		e.str(p.Text)
	}
	if u := p.ImageURL; u != nil {
		e.key("image_url")
		e.b = append(e.b, `{"url":`...)
		e.str(u.URL)
		e.b = append(e.b, '}')
	}
	if f := p.File; f != nil {
		e.key("file")
		e.b = append(e.b, `{"filename":`...)
		e.str(f.Filename)
		e.b = append(e.b, `,"file_data":`...)
		e.str(f.FileData)
		e.b = append(e.b, '}')
	}
	if len(p.CacheControl) > 0 {
		e.key("cache_control")
		e.raw(p.CacheControl)
	}
	e.b = append(e.b, '}')
}

func (e *oaEncoder) tools(tools []oaTool) {
	if enc := e.memo.lookup(tools); enc != nil {
		e.b = append(e.b, enc...)
		return
	}
	start := len(e.b)
	e.b = append(e.b, '[')
	for i := range tools {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.tool(&tools[i])
	}
	e.b = append(e.b, ']')
	if !e.bad {
		e.memo.store(tools, e.b[start:])
	}
}

func (e *oaEncoder) tool(t *oaTool) {
	e.b = append(e.b, `{"type":`...)
	e.str(t.Type)
	e.b = append(e.b, `,"function":{"name":`...)
	e.str(t.Function.Name)
	if t.Function.Description != "" {
		e.key("description")
		e.str(t.Function.Description)
	}
	e.key("parameters")
	e.raw(t.Function.Parameters)
	if t.Function.Strict {
		e.key("strict")
		e.bool(true)
	}
	e.b = append(e.b, '}', '}')
}

// toolsMemo remembers the encoded tools arrays of the last few requests:
// Claude Code sends the same tools, in the same order, with every request
// of a session, and writing their descriptions and checking their schemas
// is a third of the work of converting a request. An entry is used only
// for tools equal field by field, so the bytes are those encoding would
// write. A nil *toolsMemo remembers nothing. It is safe for concurrent
// use: lookups read a snapshot without locking.
type toolsMemo struct {
	mu      sync.Mutex // serialises stores
	entries atomic.Pointer[[]*toolsEntry]
}

// toolsMemoSize is how many tool sets are remembered: a session's main
// agent and its subagents each send their own. Sets whose encoding is
// over toolsMemoMaxBytes are not remembered, which bounds the memo's
// memory.
const (
	toolsMemoSize     = 4
	toolsMemoMaxBytes = 256 << 10
)

type toolsEntry struct {
	tools []oaTool // parameters copied, not aliasing a request body
	enc   []byte
}

// lookup returns the encoded array of tools, nil if it is not remembered.
func (m *toolsMemo) lookup(tools []oaTool) []byte {
	if m == nil {
		return nil
	}
	p := m.entries.Load()
	if p == nil {
		return nil
	}
	for _, en := range *p {
		if sameTools(en.tools, tools) {
			return en.enc
		}
	}
	return nil
}

// store remembers enc as the encoding of tools, in place of the oldest
// entry.
func (m *toolsMemo) store(tools []oaTool, enc []byte) {
	if m == nil || len(enc) > toolsMemoMaxBytes {
		return
	}
	n := 0
	for i := range tools {
		n += len(tools[i].Function.Parameters)
	}
	arena := make([]byte, 0, n+len(enc))
	en := &toolsEntry{tools: make([]oaTool, len(tools))}
	for i, t := range tools {
		// Copies: the key must not alias a request's buffers.
		t.Type, t.Function.Name, t.Function.Description = strings.Clone(t.Type), strings.Clone(t.Function.Name), strings.Clone(t.Function.Description)
		if t.Function.Parameters != nil {
			start := len(arena)
			arena = append(arena, t.Function.Parameters...)
			t.Function.Parameters = arena[start:len(arena):len(arena)]
		}
		en.tools[i] = t
	}
	start := len(arena)
	en.enc = append(arena, enc...)[start:]

	m.mu.Lock()
	defer m.mu.Unlock()
	var next []*toolsEntry
	if p := m.entries.Load(); p != nil {
		next = append(next, (*p)[max(len(*p)-toolsMemoSize+1, 0):]...)
	}
	next = append(next, en)
	m.entries.Store(&next)
}

func sameTools(a, b []oaTool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Type != y.Type || x.Function.Name != y.Function.Name || x.Function.Strict != y.Function.Strict ||
			x.Function.Description != y.Function.Description || (x.Function.Parameters == nil) != (y.Function.Parameters == nil) ||
			!bytes.Equal(x.Function.Parameters, y.Function.Parameters) {
			return false
		}
	}
	return true
}

// oaSizeHint estimates the encoded size of r, so that the body is written
// into one buffer.
func oaSizeHint(r *oaRequest) int {
	n := 512
	for i := range r.Messages {
		m := &r.Messages[i]
		n += 64 + len(m.Content.text) + len(m.Content.enc) + len(m.ToolCallID)
		if m.Content.join != nil {
			n += m.Content.join.size()
		}
		for j := range m.Content.parts {
			p := &m.Content.parts[j]
			n += 64 + len(p.Text) + len(p.CacheControl)
			if p.ImageURL != nil {
				n += len(p.ImageURL.URL)
			}
			if p.File != nil {
				n += len(p.File.FileData)
			}
		}
		for j := range m.ToolCalls {
			n += 96 + len(m.ToolCalls[j].Function.Arguments)*11/10
		}
		if m.ReasoningContent != nil {
			n += len(*m.ReasoningContent)
		}
	}
	for i := range r.Tools {
		f := &r.Tools[i].Function
		n += 96 + len(f.Name) + len(f.Description) + len(f.Parameters)
	}
	return n + n/8 // escapes
}

// decodeOAChunk decodes a streamed Chat Completions chunk as json.Unmarshal
// does, with the fast decoder of decode.go; its raw fields keep references
// into data.
func decodeOAChunk(data []byte, ch *oaChunk) error {
	var d oaDecoder
	return d.decode(data, ch)
}

// oaDecoder decodes Chat Completions chunks. A stream keeps one, so that
// the storage of a chunk (its choices, deltas and tool-call parts) is
// reused for the next: the caller must be done with a chunk before it
// decodes the next. The zero value allocates afresh.
type oaDecoder struct {
	choices []oaChoice
	deltas  []oaDelta
	parts   [][]oaToolCallPart // parts[i] is the storage of deltas[i].ToolCalls
	// skipID checks the id without decoding it, for a stream that has
	// taken its id from the first chunk.
	skipID bool
}

func (d *oaDecoder) decode(data []byte, ch *oaChunk) error {
	if d.decodeFast(data, ch) == nil {
		return nil
	}
	*ch = oaChunk{}
	return json.Unmarshal(data, ch)
}

func (ch *oaChunk) decodeFast(b []byte) error {
	var d oaDecoder
	return d.decodeFast(b, ch)
}

var oaChunkFields = []string{"id", "choices", "usage", "error"}

func (d *oaDecoder) decodeFast(b []byte, ch *oaChunk) error {
	*ch = oaChunk{}
	d.deltas = d.deltas[:0]
	return document(b, func(b []byte, i int) (int, error) {
		return object(b, i, oaChunkFields, nil, func(k, vs int) (int, error) {
			switch k {
			case 0:
				if d.skipID && b[vs] == '"' {
					ve, _, err := jsonraw.ScanString(b, vs)
					if err != nil {
						return 0, errSlow
					}
					return ve, nil
				}
				return str(b, vs, &ch.ID)
			case 1:
				if b[vs] == 'n' {
					return null(b, vs)
				}
				if d.choices == nil {
					d.choices = make([]oaChoice, 0, 1)
				}
				cs := d.choices[:0]
				end, err := elements(b, vs, func(vs int) (int, error) {
					cs = append(cs, oaChoice{})
					return d.choice(b, vs, &cs[len(cs)-1])
				})
				d.choices, ch.Choices = cs, cs
				return end, err
			case 2:
				if b[vs] == 'n' {
					return null(b, vs)
				}
				return small(b, vs, &ch.Usage)
			}
			return rawValue(b, vs, &ch.Error)
		})
	})
}

var oaChoiceFields = []string{"finish_reason", "stop_reason", "message", "delta"}

func (d *oaDecoder) choice(b []byte, i int, c *oaChoice) (int, error) {
	return object(b, i, oaChoiceFields, nil, func(k, vs int) (int, error) {
		switch k {
		case 0:
			return str(b, vs, &c.FinishReason)
		case 1:
			return rawValue(b, vs, &c.StopReason)
		}
		dst := &c.Message
		if k == 3 {
			dst = &c.Delta
		}
		if b[vs] == 'n' {
			return null(b, vs)
		}
		n := len(d.deltas)
		if n < cap(d.deltas) {
			d.deltas = d.deltas[:n+1]
			d.deltas[n] = oaDelta{}
		} else {
			d.deltas = append(d.deltas, oaDelta{})
			d.parts = append(d.parts, nil)
		}
		*dst = &d.deltas[n]
		return d.delta(b, vs, n)
	})
}

var oaDeltaFields = []string{"content", "reasoning_content", "reasoning", "refusal", "tool_calls"}

// delta decodes the delta at b[i] into d.deltas[n].
func (d *oaDecoder) delta(b []byte, i, n int) (int, error) {
	x := &d.deltas[n]
	return object(b, i, oaDeltaFields, nil, func(k, vs int) (int, error) {
		if k < 4 {
			return rawValue(b, vs, [...]*json.RawMessage{&x.Content, &x.ReasoningContent, &x.Reasoning, &x.Refusal}[k])
		}
		if b[vs] == 'n' {
			return null(b, vs)
		}
		ps := d.parts[n][:0]
		if ps == nil {
			ps = make([]oaToolCallPart, 0, 1)
		}
		end, err := elements(b, vs, func(vs int) (int, error) {
			ps = append(ps, oaToolCallPart{})
			return decodeOAToolCallPart(b, vs, &ps[len(ps)-1])
		})
		d.parts[n], x.ToolCalls = ps, ps
		return end, err
	})
}

var (
	oaToolCallPartFields = []string{"index", "id", "function"}
	oaFunctionPartFields = []string{"name", "arguments"}
)

func decodeOAToolCallPart(b []byte, i int, p *oaToolCallPart) (int, error) {
	return object(b, i, oaToolCallPartFields, nil, func(k, vs int) (int, error) {
		switch k {
		case 0:
			return rawValue(b, vs, &p.Index)
		case 1:
			return str(b, vs, &p.ID)
		}
		if b[vs] == 'n' {
			return null(b, vs)
		}
		return object(b, vs, oaFunctionPartFields, nil, func(k, vs int) (int, error) {
			if k == 0 {
				return str(b, vs, &p.Function.Name)
			}
			return rawValue(b, vs, &p.Function.Arguments)
		})
	})
}

var resultItemFields = []string{"type", "text", "source", "title", "content", "tool_name"}

// decodeResultItem decodes an item of a tool_result's content as
// json.Unmarshal into a resultItem does, except that the text is kept as
// its token (rawText) for toolResult to copy.
func decodeResultItem(b []byte, i int, it *resultItem) (int, error) {
	return object(b, i, resultItemFields, nil, func(k, vs int) (int, error) {
		switch k {
		case 0:
			return str(b, vs, &it.Type)
		case 1:
			if b[vs] != '"' {
				return str(b, vs, &it.Text) // null, or errSlow
			}
			ve, canonical, err := jsonraw.ScanCanonical(b, vs)
			if err != nil {
				return 0, errSlow
			}
			it.rawText, it.canonical = raw(b, vs, ve), canonical
			return ve, nil
		case 2:
			return rawValue(b, vs, &it.Source)
		case 3:
			return str(b, vs, &it.Title)
		case 4:
			return rawValue(b, vs, &it.Content)
		}
		return str(b, vs, &it.ToolName)
	})
}
