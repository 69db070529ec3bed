package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// A Transformer adapts the router's hub format, the Anthropic Messages API,
// to one upstream API format. A Transformer is created once per provider
// chain and shared by all requests: it must be safe for concurrent use, and
// keep per-request state only in the EventReaders it returns.
//
// req is the routed request: req.Model is the upstream model, and
// req.ClientModel the string the client sent, which responses echo.
// Methods must not modify req.
type Transformer interface {
	// TransformRequest encodes req for the upstream.
	TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error)

	// TransformResponse decodes a complete 2xx non-streaming upstream body.
	TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error)

	// TransformStream returns an EventReader of Anthropic stream events
	// that reads upstream events from src. It is called once per streaming
	// request. Errors from src are returned unchanged (wrapped at most
	// once); an upstream error event becomes an *Error.
	//
	// The Router passes the request's stream view: a stream keeps its
	// request for as long as it runs, so Messages, System, Raw, Metadata
	// and Extra are not set, and Tools carry only Type, Name and Strict.
	TransformStream(ctx context.Context, req *Request, src EventReader) EventReader

	// TransformError converts a non-2xx upstream response into an *Error.
	TransformError(status int, header http.Header, body []byte) *Error
}

// An UpstreamTokenCounter is a Transformer whose upstream can count the
// input tokens of a request itself (Gemini's countTokens, Anthropic's
// count_tokens). The Router asks it for POST /v1/messages/count_tokens
// with an explicit "provider,model" when the provider's count_tokens
// setting is "upstream".
type UpstreamTokenCounter interface {
	// CountTokensRequest encodes req for the upstream's counting endpoint.
	CountTokensRequest(ctx context.Context, req *Request) (*UpstreamRequest, error)
	// CountTokensResponse decodes the upstream's 2xx answer.
	CountTokensResponse(body []byte) (int, error)
}

// UpstreamRequest is what a Transformer produces; the provider adds the base
// URL, credentials and transport.
type UpstreamRequest struct {
	// Path is appended to the provider's base URL unless URL is set; it may
	// carry a query string. Empty means the base URL as configured.
	Path string
	// URL, when set, replaces the provider's base URL entirely.
	URL string
	// Header holds format headers only; never credentials.
	Header http.Header
	// Body is the JSON body.
	Body []byte
	// Stream reports whether the upstream will answer with SSE.
	Stream bool
	// Auth selects how the provider presents its key: "" or "bearer" for
	// Authorization: Bearer, "x-api-key", "x-goog-api-key", or "none".
	Auth string

	// parts, when set, is the body in pieces, sent one after the other
	// without being joined; Body is then nil. Only the Router asks for it
	// (see Request.parts), when no hook will read Body.
	parts [][]byte
}

// A Hook adjusts traffic around a Transformer. Any field may be nil.
// Request hooks run in chain order before the Transformer; Upstream hooks
// run in chain order after it, on the encoded upstream request; Response
// and Stream hooks run in reverse chain order, like middleware unwinding.
type Hook struct {
	Name string
	// Request edits the hub request. req is the hook's own copy.
	Request func(ctx context.Context, req *Request) error
	// Upstream edits the encoded upstream request.
	Upstream func(ctx context.Context, req *Request, up *UpstreamRequest) error
	// Response edits a non-streaming hub response.
	Response func(ctx context.Context, req *Request, resp *Response) error
	// Stream wraps the hub event stream. req is the stream view
	// described at [Transformer].TransformStream.
	Stream func(ctx context.Context, req *Request, src EventReader) EventReader
}

// Request is an Anthropic Messages API request, the router's hub format.
// Fields the router does not model are kept verbatim in Extra.
type Request struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens,omitempty"`
	Messages      []Message       `json:"messages"`
	System        Content         `json:"system,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Thinking      *Thinking       `json:"thinking,omitempty"`
	OutputConfig  *OutputConfig   `json:"output_config,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`

	// Extra holds top-level fields not modelled above, verbatim.
	Extra map[string]json.RawMessage `json:"-"`

	// ClientModel is the model string the client sent; responses echo it.
	// Set by the Router.
	ClientModel string `json:"-"`
	// Provider is the name of the provider the request is routed to. Set
	// by the Router.
	Provider string `json:"-"`
	// Raw is the client's body as received, for transformers that forward
	// it byte for byte. The Router clears it when anything but the model
	// changed (a hook ran, or a routing tag was removed).
	Raw []byte `json:"-"`
	// Header is the client's request header, read-only. Transformers may
	// read format headers (anthropic-version, anthropic-beta) from it.
	Header http.Header `json:"-"`

	// rawModel locates the model member of the body the Router decoded,
	// so that a passthrough can splice in the routed model without
	// scanning the body again.
	rawModel rawSpan
	// parts asks a passthrough for its body in UpstreamRequest.parts,
	// which saves copying it.
	parts bool
}

// rawSpan is the position of a value in a decoded document.
type rawSpan struct {
	doc        []byte
	start, end int
}

// in reports whether the span belongs to raw: raw is the very document
// it was found in.
func (s rawSpan) in(raw []byte) bool {
	return len(raw) > 0 && len(raw) == len(s.doc) && &raw[0] == &s.doc[0] && s.end > s.start
}

// Message is one turn of a conversation.
type Message struct {
	Role    string  `json:"role"` // "user", "assistant" or "system"
	Content Content `json:"content"`
}

// Content is a list of content blocks. In JSON it may also be a plain
// string, which decodes as one text block.
type Content []ContentBlock

// UnmarshalJSON accepts a string or an array of blocks.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Content{{Type: "text", Text: s}}
		return nil
	}
	if bytes.HasPrefix(b, []byte("null")) {
		*c = nil
		return nil
	}
	var blocks []ContentBlock
	if err := json.Unmarshal(b, &blocks); err != nil {
		return err
	}
	*c = blocks
	return nil
}

// Text returns the texts of c's text blocks joined with sep.
func (c Content) Text(sep string) string {
	n := 0
	var one string
	for _, b := range c {
		if b.Type == "text" {
			n++
			one = b.Text
		}
	}
	if n <= 1 {
		return one
	}
	var buf bytes.Buffer
	first := true
	for _, b := range c {
		if b.Type != "text" {
			continue
		}
		if !first {
			buf.WriteString(sep)
		}
		first = false
		buf.WriteString(b.Text)
	}
	return buf.String()
}

// ContentBlock is one content block of any type. Which fields are set
// depends on Type; a block of a type the router does not model keeps its
// JSON in Raw and is re-encoded from it.
type ContentBlock struct {
	Type string `json:"type"`

	// text
	Text      string          `json:"text,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`

	// image, document
	Source  *Source `json:"source,omitempty"`
	Title   string  `json:"title,omitempty"`
	Context string  `json:"context,omitempty"`

	// tool_use, server_tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`

	// tool_result, web_search_tool_result; Content is also the body of a
	// mid_conv_system block
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`

	// thinking, redacted_thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`

	CacheControl json.RawMessage `json:"cache_control,omitempty"`

	// Raw is the block's JSON for types not modelled above.
	Raw json.RawMessage `json:"-"`
}

type contentBlockAlias ContentBlock

// UnmarshalJSON decodes a block, keeping unknown types verbatim.
func (b *ContentBlock) UnmarshalJSON(data []byte) error {
	var a contentBlockAlias
	if err := json.Unmarshal(data, &a); err != nil {
		// A block whose fields do not have the shapes modelled here (a
		// newer block type reusing a name, such as search_result's string
		// source) is kept verbatim rather than failing the request.
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return err
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return err
		}
		*b = ContentBlock{Type: head.Type, Raw: append(json.RawMessage(nil), data...)}
		return nil
	}
	*b = ContentBlock(a)
	if !knownBlockType(b.Type) {
		b.Raw = append(json.RawMessage(nil), data...)
	}
	return nil
}

// MarshalJSON encodes a block with the fields its type requires.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	if b.Raw != nil {
		return b.Raw, nil
	}
	if out, ok := appendKnownBlock(nil, &b); ok {
		return out, nil
	}
	switch b.Type {
	case "text":
		return marshalNoEscape(struct {
			Type         string          `json:"type"`
			Text         string          `json:"text"`
			Citations    json.RawMessage `json:"citations,omitempty"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.Text, b.Citations, b.CacheControl})
	case "thinking":
		return marshalNoEscape(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	case "tool_use", "server_tool_use":
		in := b.Input
		if len(in) == 0 {
			in = json.RawMessage("{}")
		}
		return marshalNoEscape(struct {
			Type         string          `json:"type"`
			ID           string          `json:"id"`
			Name         string          `json:"name"`
			Input        json.RawMessage `json:"input"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.ID, b.Name, in, b.CacheControl})
	}
	return marshalNoEscape(contentBlockAlias(b))
}

// appendKnownBlock appends a text, thinking or tool_use block as
// MarshalJSON encodes it, without reflection. ok is false for other
// blocks, and for raw fields encoding/json would refuse.
func appendKnownBlock(dst []byte, b *ContentBlock) (_ []byte, ok bool) {
	raw := func(key string, m json.RawMessage, always bool) {
		if !ok || (len(m) == 0 && !always) {
			return
		}
		dst = append(dst, ',', '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		dst, ok = jsonraw.AppendCompact(dst, m)
	}
	ok = true
	switch b.Type {
	case "text":
		dst = append(dst, `{"type":"text","text":`...)
		dst = jsonraw.AppendString(dst, b.Text)
		raw("citations", b.Citations, false)
		raw("cache_control", b.CacheControl, false)
	case "thinking":
		dst = append(dst, `{"type":"thinking","thinking":`...)
		dst = jsonraw.AppendString(dst, b.Thinking)
		dst = append(dst, `,"signature":`...)
		dst = jsonraw.AppendString(dst, b.Signature)
	case "tool_use", "server_tool_use":
		dst = append(dst, `{"type":`...)
		dst = jsonraw.AppendString(dst, b.Type)
		dst = append(dst, `,"id":`...)
		dst = jsonraw.AppendString(dst, b.ID)
		dst = append(dst, `,"name":`...)
		dst = jsonraw.AppendString(dst, b.Name)
		in := b.Input
		if len(in) == 0 {
			in = json.RawMessage("{}")
		}
		raw("input", in, true)
		raw("cache_control", b.CacheControl, false)
	default:
		return dst, false
	}
	return append(dst, '}'), ok
}

// encodeResponse encodes r as marshalNoEscape does, without reflection
// for the usual blocks.
func encodeResponse(r *Response) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"id":`...)
	b = jsonraw.AppendString(b, r.ID)
	b = append(b, `,"type":`...)
	b = jsonraw.AppendString(b, r.Type)
	b = append(b, `,"role":`...)
	b = jsonraw.AppendString(b, r.Role)
	b = append(b, `,"model":`...)
	b = jsonraw.AppendString(b, r.Model)
	b = append(b, `,"content":`...)
	if r.Content == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Content {
			if i > 0 {
				b = append(b, ',')
			}
			c := &r.Content[i]
			var ok bool
			switch {
			case c.Raw != nil:
				b, ok = jsonraw.AppendCompact(b, c.Raw)
			default:
				if b, ok = appendKnownBlock(b, c); !ok {
					var out []byte
					if out, ok = marshalBlockGeneric(c); ok {
						b = append(b, out...)
					}
				}
			}
			if !ok {
				return marshalNoEscape(r)
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"stop_reason":`...)
	b = jsonraw.AppendString(b, r.StopReason)
	b = append(b, `,"stop_sequence":`...)
	if r.StopSequence == nil {
		b = append(b, "null"...)
	} else {
		b = jsonraw.AppendString(b, *r.StopSequence)
	}
	u := &r.Usage
	b = append(b, `,"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CacheCreationInputTokens), 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CacheReadInputTokens), 10)
	return append(b, '}', '}'), nil
}

// marshalBlockGeneric is MarshalJSON's encoding of the blocks
// appendKnownBlock does not write.
func marshalBlockGeneric(c *ContentBlock) ([]byte, bool) {
	out, err := marshalNoEscape(contentBlockAlias(*c))
	return out, err == nil
}

func knownBlockType(t string) bool {
	switch t {
	case "text", "image", "document", "tool_use", "server_tool_use", "tool_result",
		"web_search_tool_result", "thinking", "redacted_thinking", "mid_conv_system":
		return true
	}
	return false
}

// ToolResultContent decodes a tool_result's content, a string or an array
// of blocks, as blocks.
func (b *ContentBlock) ToolResultContent() (Content, error) {
	if len(b.Content) == 0 {
		return nil, nil
	}
	var c Content
	err := json.Unmarshal(b.Content, &c)
	return c, err
}

// Source is the source of an image or document block.
type Source struct {
	Type      string          `json:"type"` // "base64", "url", "text", "content", "file"
	MediaType string          `json:"media_type,omitempty"`
	Data      string          `json:"data,omitempty"`
	URL       string          `json:"url,omitempty"`
	FileID    string          `json:"file_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
}

// Tool is a tool definition: a custom tool with an input schema, or an
// Anthropic-defined server tool identified by Type.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
	Strict       bool            `json:"strict,omitempty"`

	// Extra holds fields not modelled above (max_uses, allowed_domains,
	// defer_loading, ...), verbatim.
	Extra map[string]json.RawMessage `json:"-"`
}

// IsServerTool reports whether t is an Anthropic-defined tool (web search,
// bash, text editor, ...) rather than a custom tool.
func (t *Tool) IsServerTool() bool { return t.Type != "" && t.Type != "custom" }

// IsWebSearch reports whether t is Anthropic's web search server tool.
func (t *Tool) IsWebSearch() bool { return len(t.Type) >= 10 && t.Type[:10] == "web_search" }

type toolAlias Tool

// UnmarshalJSON decodes a tool and keeps unknown fields in Extra.
func (t *Tool) UnmarshalJSON(b []byte) error {
	var a toolAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*t = Tool(a)
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for _, k := range [...]string{"type", "name", "description", "input_schema", "cache_control", "strict"} {
		delete(all, k)
	}
	if len(all) > 0 {
		t.Extra = all
	}
	return nil
}

// MarshalJSON encodes the tool with its Extra fields.
func (t Tool) MarshalJSON() ([]byte, error) {
	b, err := marshalNoEscape(toolAlias(t))
	if err != nil || len(t.Extra) == 0 {
		return b, err
	}
	return mergeObject(b, t.Extra)
}

// ToolChoice is Anthropic's tool_choice.
type ToolChoice struct {
	Type                   string `json:"type"` // "auto", "any", "tool", "none"
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Thinking is Anthropic's extended-thinking configuration.
type Thinking struct {
	Type         string `json:"type"` // "enabled", "disabled", "adaptive"
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

// OutputConfig is Anthropic's output_config.
type OutputConfig struct {
	Effort string          `json:"effort,omitempty"`
	Format json.RawMessage `json:"format,omitempty"`
	// Extra holds other fields verbatim.
	Extra map[string]json.RawMessage `json:"-"`
}

// Response is a complete Anthropic Messages response.
type Response struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // "message"
	Role         string         `json:"role"` // "assistant"
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   string         `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`

	// Raw, when set, is the exact body to send to the client, for
	// transformers that relay an Anthropic upstream's answer byte for
	// byte. The Router ignores it when a Response hook is configured.
	Raw json.RawMessage `json:"-"`
}

// Usage is Anthropic's token usage. InputTokens excludes cached tokens.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

type requestAlias Request

// UnmarshalJSON decodes a request and keeps unknown top-level fields in
// Extra. It walks the top level once, decoding each known member into its
// field and keeping the others verbatim.
func (r *Request) UnmarshalJSON(b []byte) error {
	// The fast path keeps references into its input: give it a copy.
	if r.decodeFast(bytes.Clone(b)) == nil {
		r.rawModel = rawSpan{}
		return nil
	}
	return r.decodeReference(b)
}

// decodeReference is the reference decoding, with encoding/json for every
// member; the fast path (decode.go) must agree with it.
func (r *Request) decodeReference(b []byte) error {
	members, err := jsonraw.Members(b)
	if err != nil {
		// Let encoding/json describe the syntax error.
		var v map[string]json.RawMessage
		if jerr := json.Unmarshal(b, &v); jerr != nil {
			return jerr
		}
		return err
	}
	*r = Request{}
	for _, m := range members {
		raw := b[m.Start:m.End]
		var err error
		switch m.Key {
		case "model":
			err = json.Unmarshal(raw, &r.Model)
		case "max_tokens":
			err = json.Unmarshal(raw, &r.MaxTokens)
		case "messages":
			err = json.Unmarshal(raw, &r.Messages)
		case "system":
			err = json.Unmarshal(raw, &r.System)
		case "tools":
			err = json.Unmarshal(raw, &r.Tools)
		case "tool_choice":
			err = json.Unmarshal(raw, &r.ToolChoice)
		case "temperature":
			err = json.Unmarshal(raw, &r.Temperature)
		case "top_p":
			err = json.Unmarshal(raw, &r.TopP)
		case "top_k":
			err = json.Unmarshal(raw, &r.TopK)
		case "stop_sequences":
			err = json.Unmarshal(raw, &r.StopSequences)
		case "stream":
			err = json.Unmarshal(raw, &r.Stream)
		case "thinking":
			err = json.Unmarshal(raw, &r.Thinking)
		case "output_config":
			err = json.Unmarshal(raw, &r.OutputConfig)
		case "metadata":
			if !bytes.Equal(raw, []byte("null")) {
				r.Metadata = append(json.RawMessage(nil), raw...)
			}
		default:
			if r.Extra == nil {
				r.Extra = make(map[string]json.RawMessage)
			}
			r.Extra[m.Key] = append(json.RawMessage(nil), raw...)
		}
		if err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				te.Field = joinField(m.Key, te.Field)
				return te
			}
			return fmt.Errorf("%s: %w", m.Key, err)
		}
	}
	return nil
}

func joinField(key, field string) string {
	if field == "" {
		return key
	}
	return key + "." + field
}

// MarshalJSON encodes the request with its Extra fields.
func (r Request) MarshalJSON() ([]byte, error) {
	b, err := marshalNoEscape(requestAlias(r))
	if err != nil || len(r.Extra) == 0 {
		return b, err
	}
	return mergeObject(b, r.Extra)
}

// Clone returns a deep copy of r, for hooks that edit their own copy.
func (r *Request) Clone() *Request {
	c := *r
	c.Messages = append([]Message(nil), r.Messages...)
	for i := range c.Messages {
		c.Messages[i].Content = append(Content(nil), r.Messages[i].Content...)
	}
	c.System = append(Content(nil), r.System...)
	c.Tools = append([]Tool(nil), r.Tools...)
	c.StopSequences = append([]string(nil), r.StopSequences...)
	if r.ToolChoice != nil {
		tc := *r.ToolChoice
		c.ToolChoice = &tc
	}
	if r.Thinking != nil {
		th := *r.Thinking
		c.Thinking = &th
	}
	if r.OutputConfig != nil {
		oc := *r.OutputConfig
		c.OutputConfig = &oc
	}
	if r.Extra != nil {
		c.Extra = make(map[string]json.RawMessage, len(r.Extra))
		for k, v := range r.Extra {
			c.Extra[k] = v
		}
	}
	return &c
}

// mergeObject adds the fields of extra to the JSON object b.
func mergeObject(b []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, errors.New("ccr: merge into non-object")
	}
	out := append([]byte(nil), b[:len(b)-1]...)
	first := len(b) == 2
	for _, k := range sortedKeys(extra) {
		if !first {
			out = append(out, ',')
		}
		first = false
		kb, _ := marshalNoEscape(k)
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, extra[k]...)
	}
	return append(out, '}'), nil
}
