package ccr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ccrgo/ccr/internal/jsonraw"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OpenAIOptions configures the OpenAI Chat Completions format, the format
// of a provider with no format transformer in its chain. The zero value
// suits a generic OpenAI-compatible server.
type OpenAIOptions struct {
	// MaxCompletionTokens sends max_completion_tokens instead of max_tokens.
	MaxCompletionTokens bool
	// NoStreamOptions omits stream_options.include_usage on streams, for
	// servers that reject it.
	NoStreamOptions bool
	// ReasoningPassback sends earlier assistant thinking back as
	// reasoning_content, as DeepSeek's thinking mode requires.
	ReasoningPassback bool
	// Reasoning selects how a thinking request is expressed upstream:
	// "" (not sent), "effort" (reasoning_effort), "deepseek"
	// (thinking:{type}), "openrouter" (reasoning:{...}).
	Reasoning string
	// CacheControl keeps cache_control markers (OpenRouter to Claude models).
	CacheControl bool
	// TopK forwards top_k.
	TopK bool
	// Strict forwards strict:true on tools.
	Strict bool
	// FileParts sends PDF documents as file parts.
	FileParts bool
	// NoMidSystem turns mid-conversation system messages into user text.
	NoMidSystem bool
	// EmptyContentString sends "" instead of null content beside tool calls.
	EmptyContentString bool
	// MaxStopSequences caps stop; 0 means no cap.
	MaxStopSequences int
	// RepairToolArgs repairs malformed tool-call argument JSON in
	// non-streaming responses.
	RepairToolArgs bool
	// MaxOutputTokens caps max_tokens; 0 means no cap.
	MaxOutputTokens int
	// NoSamplingParams drops temperature and top_p, for reasoning models
	// that reject them.
	NoSamplingParams bool
	// Provider names the provider in error messages; may be empty.
	Provider string
	// Logger receives warnings about dropped content and malformed
	// upstream data. If nil, nothing is logged.
	Logger *slog.Logger
}

// sigOpenAI is the signature of thinking blocks made from OpenAI-style
// reasoning text. It is not a valid Anthropic signature (§4.9).
const sigOpenAI = "rtr.openai"

// NewOpenAI returns the Transformer for the OpenAI Chat Completions API
// (POST {api_base_url}, the provider's full endpoint URL). It is safe for
// concurrent use.
func NewOpenAI(opts OpenAIOptions) Transformer { return newOpenAI(opts) }

func newOpenAI(opts OpenAIOptions) *openAI {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &openAI{opts: opts, log: log}
}

type openAI struct {
	opts OpenAIOptions
	log  *slog.Logger
	// newID, when set, replaces randomID for message and tool ids, so
	// that tests get stable output.
	newID func(prefix string) string
	tools toolsMemo
}

var _ Transformer = (*openAI)(nil)

func (t *openAI) id(prefix string) string {
	if t.newID != nil {
		return t.newID(prefix)
	}
	return randomID(prefix, 24)
}

// openaiTransformers returns the built-in definitions of this file.
func openaiTransformers() []TransformerDef {
	return []TransformerDef{{
		Name:        "openai",
		Description: "OpenAI Chat Completions format (the default for providers without a format transformer).",
		Endpoint:    "/v1/chat/completions",
		Options: []OptionDef{
			{Name: "max_completion_tokens", Type: "boolean", Description: "send max_completion_tokens instead of max_tokens"},
			{Name: "include_usage", Type: "boolean", Description: "send stream_options.include_usage on streams (default true)"},
			{Name: "reasoning", Type: "string", Description: `how thinking is sent: "none", "reasoning_effort", "deepseek_thinking" or "openrouter"`},
			{Name: "reasoning_passback", Type: "boolean", Description: "send earlier thinking back as reasoning_content"},
			{Name: "supports_cache_control", Type: "boolean", Description: "keep cache_control markers"},
			{Name: "supports_top_k", Type: "boolean", Description: "forward top_k"},
			{Name: "supports_strict", Type: "boolean", Description: "forward strict on tools"},
			{Name: "supports_file_parts", Type: "boolean", Description: "send PDF documents as file parts"},
			{Name: "no_mid_system", Type: "boolean", Description: "send mid-conversation system messages as user text"},
			{Name: "content_empty_string", Type: "boolean", Description: `send "" instead of null content beside tool calls`},
			{Name: "max_stop_sequences", Type: "number", Description: "keep at most this many stop sequences"},
			{Name: "repair_tool_args", Type: "boolean", Description: "repair malformed tool-call arguments"},
			{Name: "max_output_tokens", Type: "number", Description: "cap max_tokens at this value"},
			{Name: "no_sampling_params", Type: "boolean", Description: "drop temperature and top_p"},
		},
		Apply: func(c *Chain, options json.RawMessage) error {
			if err := applyOpenAIOptions(&c.OpenAI, options); err != nil {
				return err
			}
			c.Format = nil // nil means OpenAI, built from c.OpenAI after the last entry
			return nil
		},
	}}
}

// openAIOptionsJSON is the options object of the "openai" transformer,
// named after the knobs of protocol.md §7.
type openAIOptionsJSON struct {
	MaxCompletionTokens *bool   `json:"max_completion_tokens"`
	IncludeUsage        *bool   `json:"include_usage"`
	Reasoning           *string `json:"reasoning"`
	ReasoningPassback   *bool   `json:"reasoning_passback"`
	CacheControl        *bool   `json:"supports_cache_control"`
	TopK                *bool   `json:"supports_top_k"`
	Strict              *bool   `json:"supports_strict"`
	FileParts           *bool   `json:"supports_file_parts"`
	NoMidSystem         *bool   `json:"no_mid_system"`
	EmptyContentString  *bool   `json:"content_empty_string"`
	MaxStopSequences    *int    `json:"max_stop_sequences"`
	RepairToolArgs      *bool   `json:"repair_tool_args"`
	MaxOutputTokens     *int    `json:"max_output_tokens"`
	NoSamplingParams    *bool   `json:"no_sampling_params"`
}

func applyOpenAIOptions(o *OpenAIOptions, options json.RawMessage) error {
	var j openAIOptionsJSON
	if err := decodeOptions(options, &j); err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	setBool := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setBool(&o.MaxCompletionTokens, j.MaxCompletionTokens)
	if j.IncludeUsage != nil {
		o.NoStreamOptions = !*j.IncludeUsage
	}
	if j.Reasoning != nil {
		switch *j.Reasoning {
		case "", "none":
			o.Reasoning = ""
		case "effort", "reasoning_effort":
			o.Reasoning = "effort"
		case "deepseek", "deepseek_thinking":
			o.Reasoning = "deepseek"
		case "openrouter":
			o.Reasoning = "openrouter"
		default:
			return fmt.Errorf("openai: options: reasoning: unknown value %q (want none, reasoning_effort, deepseek_thinking or openrouter)", *j.Reasoning)
		}
	}
	setBool(&o.ReasoningPassback, j.ReasoningPassback)
	setBool(&o.CacheControl, j.CacheControl)
	setBool(&o.TopK, j.TopK)
	setBool(&o.Strict, j.Strict)
	setBool(&o.FileParts, j.FileParts)
	setBool(&o.NoMidSystem, j.NoMidSystem)
	setBool(&o.EmptyContentString, j.EmptyContentString)
	setBool(&o.RepairToolArgs, j.RepairToolArgs)
	setBool(&o.NoSamplingParams, j.NoSamplingParams)
	if j.MaxStopSequences != nil {
		if *j.MaxStopSequences < 0 {
			return errors.New("openai: options: max_stop_sequences must not be negative")
		}
		o.MaxStopSequences = *j.MaxStopSequences
	}
	if j.MaxOutputTokens != nil {
		if *j.MaxOutputTokens < 0 {
			return errors.New("openai: options: max_output_tokens must not be negative")
		}
		o.MaxOutputTokens = *j.MaxOutputTokens
	}
	return nil
}

// ---------------------------------------------------------------------
// Request: Anthropic → OpenAI (§4.1)

type oaRequest struct {
	Model               string            `json:"model"`
	Messages            []oaMessage       `json:"messages"`
	MaxTokens           int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens int               `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	TopK                *int              `json:"top_k,omitempty"`
	Stop                []string          `json:"stop,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *oaStreamOptions  `json:"stream_options,omitempty"`
	Tools               []oaTool          `json:"tools,omitempty"`
	ToolChoice          *oaToolChoice     `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	Thinking            *oaThinking       `json:"thinking,omitempty"`
	Reasoning           *oaReasoning      `json:"reasoning,omitempty"`
	ResponseFormat      *oaResponseFormat `json:"response_format,omitempty"`
}

type oaStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaThinking struct {
	Type string `json:"type"`
}

type oaReasoning struct {
	MaxTokens int    `json:"max_tokens,omitempty"`
	Effort    string `json:"effort,omitempty"`
	Enabled   *bool  `json:"enabled,omitempty"`
}

type oaResponseFormat struct {
	Type       string       `json:"type"`
	JSONSchema oaJSONSchema `json:"json_schema"`
}

type oaJSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

type oaMessage struct {
	Role             string       `json:"role"`
	Content          oaContent    `json:"content"`
	ReasoningContent *string      `json:"reasoning_content,omitempty"`
	ToolCalls        []oaToolCall `json:"tool_calls,omitempty"`
	ToolCallID       string       `json:"tool_call_id,omitempty"`
}

// oaContent is a message's content: null, a string or an array of parts.
// A string may also be held encoded, as the JSON string
// jsonraw.AppendString writes for it, so that text taken from the request
// body is copied rather than decoded and encoded again, or as texts to
// join, which the encoder writes without joining them first.
type oaContent struct {
	kind  uint8 // 0 null, 1 text, 2 parts, 3 encoded text, 4 joined text
	text  string
	parts []oaPart
	enc   []byte
	join  *joinedText
}

func textContent(s string) oaContent    { return oaContent{kind: 1, text: s} }
func partsContent(p []oaPart) oaContent { return oaContent{kind: 2, parts: p} }

// encodedContent is a string content given as the exact bytes
// jsonraw.AppendString writes for it.
func encodedContent(enc []byte) oaContent { return oaContent{kind: 3, enc: enc} }

func (c oaContent) MarshalJSON() ([]byte, error) {
	switch c.kind {
	case 1:
		return marshalNoEscape(c.text)
	case 2:
		return marshalNoEscape(c.parts)
	case 3:
		return c.enc, nil
	case 4:
		return c.join.appendTo(nil), nil
	}
	return []byte("null"), nil
}

type oaPart struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	ImageURL     *oaImageURL     `json:"image_url,omitempty"`
	File         *oaFile         `json:"file,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type oaImageURL struct {
	URL string `json:"url"`
}

type oaFile struct {
	Filename string `json:"filename"`
	FileData string `json:"file_data"`
}

type oaToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function oaFunctionCall `json:"function"`
}

type oaFunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaTool struct {
	Type     string     `json:"type"`
	Function oaFunction `json:"function"`
}

type oaFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict,omitempty"`
}

// oaToolChoice is "auto", "required", "none" or a named function.
type oaToolChoice struct {
	mode string
	name string
}

func (c oaToolChoice) MarshalJSON() ([]byte, error) {
	if c.mode != "" {
		return marshalNoEscape(c.mode)
	}
	type fn struct {
		Name string `json:"name"`
	}
	return marshalNoEscape(struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}{"function", fn{c.name}})
}

// TransformRequest encodes req as a Chat Completions request (§4.1). It
// does not modify req.
func (t *openAI) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	names := newToolNames(req.Tools)
	body := oaRequest{Model: req.Model}
	body.Messages = t.messages(ctx, req, names)
	body.Tools = make([]oaTool, 0, len(req.Tools))

	for i := range req.Tools {
		tool := &req.Tools[i]
		if tool.IsServerTool() {
			if t.log.Enabled(ctx, slog.LevelDebug) { // spares boxing the arguments
				t.log.DebugContext(ctx, "openai: server tool dropped", "type", tool.Type, "name", tool.Name)
			}
			continue
		}
		if toolListed(req.Tools[:i], tool.Name) {
			continue // Anthropic rejects duplicates; send the first only
		}
		params := tool.InputSchema
		if emptySchema(params) {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		body.Tools = append(body.Tools, oaTool{Type: "function", Function: oaFunction{
			Name:        names.upstream(tool.Name),
			Description: tool.Description,
			Parameters:  params,
			Strict:      t.opts.Strict && tool.Strict,
		}})
	}
	if tc := req.ToolChoice; tc != nil && len(body.Tools) > 0 {
		switch tc.Type {
		case "auto":
			body.ToolChoice = &oaToolChoice{mode: "auto"}
		case "any":
			body.ToolChoice = &oaToolChoice{mode: "required"}
		case "none":
			body.ToolChoice = &oaToolChoice{mode: "none"}
		case "tool":
			body.ToolChoice = &oaToolChoice{name: names.upstream(tc.Name)}
		}
		if tc.DisableParallelToolUse && tc.Type != "none" {
			f := false
			body.ParallelToolCalls = &f
		}
	}

	maxTokens := req.MaxTokens
	if m := t.opts.MaxOutputTokens; m > 0 && maxTokens > m {
		maxTokens = m
	}
	if maxTokens > 0 {
		if t.opts.MaxCompletionTokens {
			body.MaxCompletionTokens = maxTokens
		} else {
			body.MaxTokens = maxTokens
		}
	}
	if !t.opts.NoSamplingParams {
		body.Temperature = req.Temperature
		body.TopP = req.TopP
	}
	if t.opts.TopK {
		body.TopK = req.TopK
	}
	if stop := req.StopSequences; len(stop) > 0 {
		if m := t.opts.MaxStopSequences; m > 0 && len(stop) > m {
			t.log.WarnContext(ctx, "openai: stop sequences over the provider's limit dropped", "sent", m, "dropped", len(stop)-m)
			stop = stop[:m]
		}
		body.Stop = stop
	}
	if req.Stream {
		body.Stream = true
		if !t.opts.NoStreamOptions {
			body.StreamOptions = &oaStreamOptions{IncludeUsage: true}
		}
	}
	t.applyReasoning(req, &body)
	if oc := req.OutputConfig; oc != nil && len(oc.Format) > 0 {
		var f struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		}
		if json.Unmarshal(oc.Format, &f) == nil && f.Type == "json_schema" && hasValue(f.Schema) {
			body.ResponseFormat = &oaResponseFormat{Type: "json_schema", JSONSchema: oaJSONSchema{Name: "structured_output", Schema: f.Schema, Strict: true}}
		}
	}

	b, err := encodeOARequestMemo(&body, &t.tools)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: "request cannot be encoded for the upstream", Err: fmt.Errorf("openai: encode request: %w", err)}
	}
	return &UpstreamRequest{
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   b,
		Stream: req.Stream,
	}, nil
}

func toolListed(tools []Tool, name string) bool {
	for i := range tools {
		if !tools[i].IsServerTool() && tools[i].Name == name {
			return true
		}
	}
	return false
}

func emptySchema(s json.RawMessage) bool {
	s = bytes.TrimSpace(s)
	return len(s) == 0 || string(s) == "null" || string(s) == "{}"
}

// applyReasoning expresses req.Thinking upstream (§4.9).
func (t *openAI) applyReasoning(req *Request, body *oaRequest) {
	th := req.Thinking
	if th == nil {
		return
	}
	switch t.opts.Reasoning {
	case "effort":
		switch th.Type {
		case "enabled":
			body.ReasoningEffort = effortBucket(th.BudgetTokens)
		case "adaptive":
			body.ReasoningEffort = adaptiveEffort(req)
		}
	case "deepseek":
		switch th.Type {
		case "enabled", "adaptive":
			body.Thinking = &oaThinking{Type: "enabled"}
		case "disabled":
			body.Thinking = &oaThinking{Type: "disabled"}
		}
	case "openrouter":
		switch th.Type {
		case "enabled":
			if th.BudgetTokens > 0 {
				body.Reasoning = &oaReasoning{MaxTokens: th.BudgetTokens}
			} else {
				body.Reasoning = &oaReasoning{Effort: "high"}
			}
		case "adaptive":
			body.Reasoning = &oaReasoning{Effort: adaptiveEffort(req)}
		case "disabled":
			f := false
			body.Reasoning = &oaReasoning{Enabled: &f}
		}
	}
}

// effortBucket maps a thinking budget to a reasoning effort: ≤1024 low,
// ≤8192 medium, else high.
func effortBucket(budget int) string {
	switch {
	case budget <= 1024:
		return "low"
	case budget <= 8192:
		return "medium"
	}
	return "high"
}

// adaptiveEffort is output_config.effort, "high" when absent; efforts
// above high are sent as high.
func adaptiveEffort(req *Request) string {
	if oc := req.OutputConfig; oc != nil {
		switch oc.Effort {
		case "low", "medium", "high":
			return oc.Effort
		}
	}
	return "high"
}

// messages converts the system prompt and the conversation.
func (t *openAI) messages(ctx context.Context, req *Request, names *toolNames) []oaMessage {
	n := len(req.Messages) + 1
	for i := range req.Messages {
		for j := range req.Messages[i].Content {
			if req.Messages[i].Content[j].Type == "tool_result" {
				n++ // a tool message each
			}
		}
	}
	out := make([]oaMessage, 0, n)
	if sys := systemPrompt(req.System); len(sys) > 0 {
		out = append(out, t.systemMessage(sys))
	}
	msgs := normalizeMessages(req.Messages, normalizeOptions{SystemAsUser: t.opts.NoMidSystem})
	kept, dropped := msgs[:0], false
	for _, m := range msgs {
		if m.Role == "assistant" && !assistantConvertible(m.Content) {
			dropped = true
			continue
		}
		kept = append(kept, m)
	}
	msgs = kept
	if dropped {
		msgs = mergeAdjacent(msgs)
	}
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case "system":
			if s := systemText(m.Content); s != "" {
				out = append(out, oaMessage{Role: "system", Content: textContent(s)})
			}
		case "user":
			out = t.appendUser(ctx, out, m.Content)
		case "assistant":
			out = t.appendAssistant(out, m.Content, names)
		}
	}
	return out
}

// systemMessage joins the system prompt into one system message; with
// CacheControl it keeps the block array and its cache markers.
func (t *openAI) systemMessage(sys Content) oaMessage {
	if t.opts.CacheControl {
		for _, b := range sys {
			if len(b.CacheControl) > 0 {
				parts := make([]oaPart, 0, len(sys))
				for _, b := range sys {
					parts = append(parts, oaPart{Type: "text", Text: b.Text, CacheControl: b.CacheControl})
				}
				return oaMessage{Role: "system", Content: partsContent(parts)}
			}
		}
	}
	return oaMessage{Role: "system", Content: textsContent(sys, "\n\n")}
}

// textsContent is the content of c.Text(sep), without joining the texts.
func textsContent(c Content, sep string) oaContent {
	n := 0
	for i := range c {
		if c[i].Type == "text" {
			n++
		}
	}
	if n <= 1 {
		return textContent(c.Text(sep))
	}
	texts := make([]textPart, 0, n)
	for i := range c {
		if c[i].Type == "text" {
			texts = append(texts, textPart{s: c[i].Text})
		}
	}
	return joinedContent("", sep, texts)
}

// assistantConvertible reports whether an assistant turn has anything an
// OpenAI assistant message can carry (§4.1.3).
func assistantConvertible(c Content) bool {
	for i := range c {
		switch c[i].Type {
		case "text", "tool_use":
			return true
		case "web_search_tool_result":
			if webSearchText(c[i].Content) != "" {
				return true
			}
		}
	}
	return false
}

// appendUser converts one user turn (§4.1.2): tool messages first, then
// one user message with the attachments of the tool results and the
// remaining blocks in order.
func (t *openAI) appendUser(ctx context.Context, out []oaMessage, c Content) []oaMessage {
	var parts []oaPart
	for i := range c {
		b := &c[i]
		if b.Type != "tool_result" {
			continue
		}
		content, media := t.toolResult(ctx, b)
		id := oaID(b.ToolUseID)
		out = append(out, oaMessage{Role: "tool", ToolCallID: id, Content: content})
		if len(media) > 0 {
			parts = append(parts, oaPart{Type: "text", Text: "Attachments for tool_result " + id + ":"})
			parts = append(parts, media...)
		}
	}
	for i := range c {
		b := &c[i]
		switch b.Type {
		case "tool_result":
		case "text":
			parts = append(parts, oaPart{Type: "text", Text: b.Text, CacheControl: t.cacheControl(b.CacheControl)})
		case "image":
			if p, ok := t.imagePart(ctx, b.Source); ok {
				p.CacheControl = t.cacheControl(b.CacheControl)
				parts = append(parts, p)
			}
		case "document":
			parts = append(parts, t.documentParts(ctx, b.Source, b.Title)...)
		case "search_result":
			if s := blockTexts(b.Content, "\n"); s != "" {
				parts = append(parts, oaPart{Type: "text", Text: s})
			}
		case "mid_conv_system":
			out = t.flushUser(out, parts)
			parts = nil
			if s := midConvText(b); s != "" {
				out = append(out, oaMessage{Role: "system", Content: textContent(s)})
			}
		default:
			t.log.DebugContext(ctx, "openai: user block dropped", "type", b.Type)
		}
	}
	return t.flushUser(out, parts)
}

// flushUser appends a user message with parts, as a string when they are
// all plain text.
func (t *openAI) flushUser(out []oaMessage, parts []oaPart) []oaMessage {
	if len(parts) == 0 {
		return out
	}
	plain := true
	for i := range parts {
		if parts[i].Type != "text" || len(parts[i].CacheControl) > 0 {
			plain = false
			break
		}
	}
	if !plain {
		return append(out, oaMessage{Role: "user", Content: partsContent(parts)})
	}
	if len(parts) == 1 {
		return append(out, oaMessage{Role: "user", Content: textContent(parts[0].Text)})
	}
	texts := make([]textPart, len(parts))
	for i := range parts {
		texts[i].s = parts[i].Text
	}
	return append(out, oaMessage{Role: "user", Content: joinedContent("", "\n", texts)})
}

func (t *openAI) cacheControl(cc json.RawMessage) json.RawMessage {
	if t.opts.CacheControl {
		return cc
	}
	return nil
}

// resultItem is one item of a tool_result's content array, decoded
// leniently (a search_result's source is a string, an image's an object).
type resultItem struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Source   json.RawMessage `json:"source"`
	Title    string          `json:"title"`
	Content  json.RawMessage `json:"content"`
	ToolName string          `json:"tool_name"`

	// rawText is the text as a JSON string token of the body, which the
	// fast decoder keeps instead of decoding Text; canonical reports that
	// it is written as jsonraw.AppendString writes its value.
	rawText   []byte
	canonical bool
}

// text returns the item's text, decoded.
func (it *resultItem) text() string {
	if it.rawText != nil {
		return jsonraw.Unquote(it.rawText)
	}
	return it.Text
}

// decodeResultItems decodes a JSON array of blocks as json.Unmarshal into
// []resultItem does, on the fast path when it can.
func decodeResultItems(raw []byte) ([]resultItem, error) {
	var items []resultItem
	if i := jsonraw.SkipWS(raw, 0); i < len(raw) {
		end, err := arrayOf(raw, i, 1, &items, decodeResultItem)
		if err == nil && jsonraw.SkipWS(raw, end) == len(raw) {
			return items, nil
		}
	}
	items = nil
	err := json.Unmarshal(raw, &items)
	return items, err
}

func (it *resultItem) source() *Source {
	if len(it.Source) == 0 || it.Source[0] != '{' {
		return nil
	}
	var s Source
	if json.Unmarshal(it.Source, &s) != nil {
		return nil
	}
	return &s
}

// toolResult returns the content of the tool message for a tool_result
// and the media parts that must travel in a user message.
func (t *openAI) toolResult(ctx context.Context, b *ContentBlock) (oaContent, []oaPart) {
	prefix := ""
	if b.IsError {
		prefix = "Error: "
	}
	raw := bytes.TrimSpace(b.Content)
	if len(raw) == 0 || string(raw) == "null" {
		return textContent(prefix), nil
	}
	if raw[0] == '"' {
		end, canonical, err := jsonraw.ScanCanonical(raw, 0)
		if err != nil || end != len(raw) {
			s, _ := jsonString(raw) // not JSON; whatever it made of it before
			return textContent(prefix + s), nil
		}
		if canonical && prefix == "" {
			return encodedContent(raw), nil // the body's bytes as they are
		}
		return joinedContent(prefix, "", []textPart{{tok: raw, canonical: canonical}}), nil
	}
	if raw[0] != '[' {
		return textContent(prefix + string(raw)), nil // not Anthropic's shape; pass its JSON as text
	}
	items, err := decodeResultItems(raw)
	if err != nil {
		return textContent(prefix + string(raw)), nil
	}
	var texts []textPart
	var media []oaPart
	for i := range items {
		it := &items[i]
		switch it.Type {
		case "text":
			switch {
			case len(it.rawText) > len(`""`):
				texts = append(texts, textPart{tok: it.rawText, canonical: it.canonical})
			case it.Text != "":
				texts = append(texts, textPart{s: it.Text})
			}
		case "image":
			if p, ok := t.imagePart(ctx, it.source()); ok {
				media = append(media, p)
			}
		case "document":
			media = append(media, t.documentParts(ctx, it.source(), it.Title)...)
		case "search_result":
			if s := blockTexts(it.Content, "\n"); s != "" {
				texts = append(texts, textPart{s: s})
			}
		case "tool_reference":
			texts = append(texts, textPart{s: "tool_reference: " + it.ToolName})
		default:
			t.log.DebugContext(ctx, "openai: tool_result item dropped", "type", it.Type)
		}
	}
	if prefix == "" && len(texts) == 1 && texts[0].canonical {
		return encodedContent(texts[0].tok), media
	}
	return joinedContent(prefix, "\n", texts), media
}

// joinedText is a string content given as a prefix and texts joined with
// a separator, which the encoder writes as the JSON string
// jsonraw.AppendString writes for the joined string without joining them
// first: each is escaped on its own (jsonraw.AppendEscaped; the prefixes
// are valid UTF-8 and the separators start with a newline), and the
// canonical tokens of the body are copied as they are.
type joinedText struct {
	prefix, sep string
	texts       []textPart
}

// textPart is one text of a joinedText: a JSON string token of the
// request body, or a string.
type textPart struct {
	tok       []byte
	canonical bool // tok is written as jsonraw.AppendString writes it
	s         string
}

func joinedContent(prefix, sep string, texts []textPart) oaContent {
	return oaContent{kind: 4, join: &joinedText{prefix: prefix, sep: sep, texts: texts}}
}

// appendTo appends the joined text as a JSON string.
func (j *joinedText) appendTo(b []byte) []byte {
	b = append(b, '"')
	b = jsonraw.AppendEscaped(b, j.prefix)
	for i := range j.texts {
		x := &j.texts[i]
		if i > 0 {
			b = jsonraw.AppendEscaped(b, j.sep)
		}
		switch {
		case x.tok == nil:
			b = jsonraw.AppendEscaped(b, x.s)
		case x.canonical:
			b = append(b, x.tok[1:len(x.tok)-1]...)
		default:
			b = jsonraw.AppendEscaped(b, jsonraw.Unquote(x.tok))
		}
	}
	return append(b, '"')
}

// size is about the length of the joined text.
func (j *joinedText) size() int {
	n := len(j.prefix) + 2
	for i := range j.texts {
		n += len(j.sep) + len(j.texts[i].tok) + len(j.texts[i].s)
	}
	return n
}

// blockTexts returns the non-empty texts of a JSON array of blocks.
func blockTexts(raw json.RawMessage, sep string) string {
	items, err := decodeResultItems(raw)
	if err != nil {
		return ""
	}
	var texts []string
	for i := range items {
		if items[i].Type == "text" {
			if s := items[i].text(); s != "" {
				texts = append(texts, s)
			}
		}
	}
	return strings.Join(texts, sep)
}

// imagePart converts an image source to an image_url part.
func (t *openAI) imagePart(ctx context.Context, src *Source) (oaPart, bool) {
	if src == nil {
		return oaPart{}, false
	}
	var url string
	switch src.Type {
	case "base64":
		url = dataURL(src.MediaType, src.Data, "image/png")
	case "url":
		url = src.URL
	}
	if url == "" {
		t.log.DebugContext(ctx, "openai: image dropped", "source", src.Type)
		return oaPart{}, false
	}
	return oaPart{Type: "image_url", ImageURL: &oaImageURL{URL: url}}, true
}

// documentParts converts a document: a PDF to a file part for providers
// with FileParts, text to a text part; anything else is dropped.
func (t *openAI) documentParts(ctx context.Context, src *Source, title string) []oaPart {
	if src == nil {
		return nil
	}
	switch src.Type {
	case "base64":
		if t.opts.FileParts && (src.MediaType == "application/pdf" || src.MediaType == "") {
			name := title
			if name == "" {
				name = "document.pdf"
			}
			return []oaPart{{Type: "file", File: &oaFile{Filename: name, FileData: dataURL(src.MediaType, src.Data, "application/pdf")}}}
		}
	case "text":
		if src.Data != "" {
			return []oaPart{{Type: "text", Text: src.Data}}
		}
		return nil
	case "content":
		var c Content
		if json.Unmarshal(src.Content, &c) != nil {
			break
		}
		var parts []oaPart
		for i := range c {
			switch c[i].Type {
			case "text":
				if c[i].Text != "" {
					parts = append(parts, oaPart{Type: "text", Text: c[i].Text})
				}
			case "image":
				if p, ok := t.imagePart(ctx, c[i].Source); ok {
					parts = append(parts, p)
				}
			}
		}
		return parts
	}
	t.log.WarnContext(ctx, "openai: document dropped: the provider cannot take it", "source", src.Type, "media_type", src.MediaType)
	return nil
}

// dataURL builds a data URL, with def as the media type when none is
// known. A client that already put a data URL in data gets it cleaned
// (splitDataURL).
func dataURL(mediaType, data, def string) string {
	data, mediaType = splitDataURL(data, mediaType)
	if mediaType == "" {
		mediaType = def
	}
	return "data:" + mediaType + ";base64," + data
}

// splitDataURL removes a "data:<type>;base64," prefix a client put in the
// data of a base64 source (E61): everything up to "base64," goes, and the
// media type is taken from it, without parameters, when mediaType is "".
func splitDataURL(data, mediaType string) (string, string) {
	if strings.HasPrefix(data, "data:") {
		if i := strings.Index(data, "base64,"); i >= 0 {
			if mediaType == "" {
				mediaType, _, _ = strings.Cut(data[len("data:"):i], ";")
			}
			data = data[i+len("base64,"):]
		}
	}
	return data, mediaType
}

// appendAssistant converts one assistant turn (§4.1.3).
func (t *openAI) appendAssistant(out []oaMessage, c Content, names *toolNames) []oaMessage {
	var texts []string
	var calls []oaToolCall
	var reasoning strings.Builder
	for i := range c {
		b := &c[i]
		switch b.Type {
		case "text":
			texts = append(texts, b.Text)
		case "tool_use":
			calls = append(calls, oaToolCall{ID: oaID(b.ID), Type: "function", Function: oaFunctionCall{
				Name:      names.upstream(b.Name),
				Arguments: compactArgs(b.Input),
			}})
		case "thinking":
			reasoning.WriteString(b.Thinking)
		case "web_search_tool_result":
			if s := webSearchText(b.Content); s != "" {
				texts = append(texts, s)
			}
		case "mid_conv_system":
			if s := midConvText(b); s != "" {
				out = append(out, oaMessage{Role: "system", Content: textContent(s)})
			}
		}
	}
	if len(texts) == 0 && len(calls) == 0 {
		return out
	}
	m := oaMessage{Role: "assistant", ToolCalls: calls}
	switch {
	case len(texts) == 1:
		m.Content = textContent(texts[0])
	case len(texts) > 1:
		parts := make([]textPart, len(texts))
		for i := range texts {
			parts[i].s = texts[i]
		}
		m.Content = joinedContent("", "\n", parts)
	case t.opts.EmptyContentString:
		m.Content = textContent("")
	}
	if t.opts.ReasoningPassback {
		s := reasoning.String()
		m.ReasoningContent = &s
	}
	return append(out, m)
}

// webSearchText renders the content of a web_search_tool_result as text
// (§4.1.3); "" when it holds no results.
func webSearchText(content json.RawMessage) string {
	var results []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Title string `json:"title"`
	}
	if json.Unmarshal(content, &results) != nil {
		return ""
	}
	var sb strings.Builder
	for _, r := range results {
		if r.URL == "" && r.Title == "" {
			continue
		}
		if sb.Len() == 0 {
			sb.WriteString("Web search results:")
		}
		sb.WriteString("\n- ")
		sb.WriteString(r.Title)
		sb.WriteString(" (")
		sb.WriteString(r.URL)
		sb.WriteString(")")
	}
	return sb.String()
}

// compactArgs returns raw as compact JSON text, in its original key order
// and without HTML escaping; absent input is "{}".
func compactArgs(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	b, ok := jsonraw.Compact(raw)
	if !ok {
		return string(raw)
	}
	return string(b)
}

// oaID maps an Anthropic tool id to an OpenAI tool-call id (§4.1.3): a
// Gemini "__tsig_" suffix is removed and ids over 40 characters are
// replaced by a hash. It is a pure function, so tool_calls[].id and
// tool_call_id stay paired.
func oaID(id string) string {
	if i := strings.Index(id, "__tsig_"); i >= 0 {
		id = id[:i]
	}
	if len(id) > 40 {
		sum := sha256.Sum256([]byte(id))
		return "call_" + hex.EncodeToString(sum[:16])
	}
	return id
}

// toolNames maps custom tool names to names OpenAI accepts, and back
// (§4.1.6). A nil *toolNames maps every valid name to itself.
type toolNames struct {
	up   map[string]string
	down map[string]string
}

func newToolNames(tools []Tool) *toolNames {
	if !needToolNames(tools) {
		return nil
	}
	tn := &toolNames{up: map[string]string{}, down: map[string]string{}}
	used := map[string]bool{}
	for i := range tools {
		if tools[i].IsServerTool() {
			continue
		}
		n := tools[i].Name
		if _, ok := tn.up[n]; ok {
			continue
		}
		s := baseToolName(n)
		if used[s] {
			h := nameHash(n)
			if len(s)+9 <= 64 {
				s = s + "_" + h
			} else {
				s = s[:55] + "_" + h
			}
		}
		used[s] = true
		tn.up[n] = s
		tn.down[s] = n
	}
	return tn
}

// needToolNames reports whether a custom tool's name is invalid upstream
// or used twice.
func needToolNames(tools []Tool) bool {
	if len(tools) > 64 {
		seen := make(map[string]bool, len(tools))
		for i := range tools {
			if n := tools[i].Name; !tools[i].IsServerTool() {
				if !validToolName(n) || seen[n] {
					return true
				}
				seen[n] = true
			}
		}
		return false
	}
	// Comparing pairs is cheaper than a map for the usual dozen tools.
	for i := range tools {
		if n := tools[i].Name; !tools[i].IsServerTool() && (!validToolName(n) || toolListed(tools[:i], n)) {
			return true
		}
	}
	return false
}

// upstream returns the name to send for the original name n.
func (tn *toolNames) upstream(n string) string {
	if tn != nil {
		if s, ok := tn.up[n]; ok {
			return s
		}
	}
	return baseToolName(n)
}

// original returns the client's name for an upstream name; unknown names
// pass through unchanged.
func (tn *toolNames) original(s string) string {
	if tn != nil {
		if n, ok := tn.down[s]; ok {
			return n
		}
	}
	return s
}

func validToolName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// baseToolName sanitises n to ^[A-Za-z0-9_-]{1,64}$.
func baseToolName(n string) string {
	if validToolName(n) {
		return n
	}
	if n == "" {
		return "tool"
	}
	s := sanitizeID(n)
	if len(s) > 64 {
		s = s[:55] + "_" + nameHash(n)
	}
	return s
}

// nameHash is the hash that keeps shortened or colliding tool names apart:
// the first 8 hex digits of the name's SHA-256 (E70).
func nameHash(n string) string {
	sum := sha256.Sum256([]byte(n))
	return hex.EncodeToString(sum[:4])
}

// ---------------------------------------------------------------------
// Response: OpenAI → Anthropic (§4.3, §4.7, §4.8)

type oaResponse struct {
	ID      string          `json:"id"`
	Choices []oaChoice      `json:"choices"`
	Usage   *oaUsage        `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type oaChoice struct {
	FinishReason string          `json:"finish_reason"`
	StopReason   json.RawMessage `json:"stop_reason"` // vLLM: the matched stop string
	Message      *oaDelta        `json:"message"`
	Delta        *oaDelta        `json:"delta"`
}

// oaDelta is a streamed delta or a complete message. Strings are kept raw
// so that a split surrogate pair can be rejoined (E34).
type oaDelta struct {
	Content          json.RawMessage  `json:"content"`
	ReasoningContent json.RawMessage  `json:"reasoning_content"`
	Reasoning        json.RawMessage  `json:"reasoning"`
	Refusal          json.RawMessage  `json:"refusal"`
	ToolCalls        []oaToolCallPart `json:"tool_calls"`
}

type oaToolCallPart struct {
	Index    json.RawMessage `json:"index"`
	ID       string          `json:"id"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// index returns the call's index when it is an integer.
func (p *oaToolCallPart) index() (int, bool) {
	if len(p.Index) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(p.Index))
	return n, err == nil
}

type oaUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     *int `json:"cached_tokens"`
		CacheWriteTokens *int `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	PromptCacheHitTokens     *int `json:"prompt_cache_hit_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
}

// usage converts OpenAI usage to Anthropic's, where input_tokens excludes
// cached tokens (§4.8).
func (u *oaUsage) usage() Usage {
	var cached, written int
	switch d := u.PromptTokensDetails; {
	case d != nil && d.CachedTokens != nil:
		cached = *d.CachedTokens
	case u.PromptCacheHitTokens != nil:
		cached = *u.PromptCacheHitTokens
	}
	switch d := u.PromptTokensDetails; {
	case u.CacheCreationInputTokens != nil:
		written = *u.CacheCreationInputTokens
	case d != nil && d.CacheWriteTokens != nil:
		written = *d.CacheWriteTokens
	}
	return Usage{
		InputTokens:              max(u.PromptTokens-cached-written, 0),
		OutputTokens:             u.CompletionTokens,
		CacheReadInputTokens:     cached,
		CacheCreationInputTokens: written,
	}
}

// TransformResponse decodes a complete Chat Completions response (§4.3).
func (t *openAI) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	var r oaResponse
	if err := decodeOAChunk(body, (*oaChunk)(&r)); err != nil { // a response has a chunk's fields
		return nil, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream returned a response that is not valid JSON", Err: fmt.Errorf("openai: decode response: %w", err)}
	}
	if hasValue(r.Error) {
		return nil, t.errorObject(r.Error)
	}
	if len(r.Choices) == 0 {
		return nil, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream returned no choices"}
	}
	c := &r.Choices[0]
	m := c.Message
	if m == nil {
		m = c.Delta
	}
	if m == nil {
		m = &oaDelta{}
	}
	names := newToolNames(req.Tools)
	resp := &Response{
		ID:      t.messageID(r.ID),
		Type:    "message",
		Role:    "assistant",
		Model:   clientModel(req),
		Content: []ContentBlock{},
	}
	reasoning, _ := jsonString(m.ReasoningContent)
	if reasoning == "" {
		reasoning, _ = jsonString(m.Reasoning)
	}
	if reasoning != "" {
		resp.Content = append(resp.Content, ContentBlock{Type: "thinking", Thinking: reasoning, Signature: sigOpenAI})
	}
	text := contentText(m.Content)
	if text == "" {
		text, _ = jsonString(m.Refusal)
	}
	if text != "" {
		resp.Content = append(resp.Content, ContentBlock{Type: "text", Text: text})
	}
	toolEmitted := false
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		if tc.Function.Name == "" {
			t.log.WarnContext(ctx, "openai: tool call without a name dropped")
			continue
		}
		id := sanitizeID(tc.ID)
		if id == "" {
			id = t.id("toolu_")
		}
		resp.Content = append(resp.Content, ContentBlock{
			Type:  "tool_use",
			ID:    id,
			Name:  names.original(tc.Function.Name),
			Input: t.parseArgs(ctx, tc.Function.Arguments),
		})
		toolEmitted = true
	}
	resp.StopReason, resp.StopSequence = mapFinish(c.FinishReason, toolEmitted, matchedStop(c.StopReason, req.StopSequences))
	if r.Usage != nil {
		resp.Usage = r.Usage.usage()
	}
	return resp, nil
}

// clientModel is the model the client asked for, which converted answers
// echo.
func clientModel(req *Request) string {
	if req.ClientModel != "" {
		return req.ClientModel
	}
	return req.Model
}

func (t *openAI) messageID(upstream string) string {
	if upstream == "" {
		return t.id("msg_")
	}
	if strings.HasPrefix(upstream, "msg_") {
		return sanitizeID(upstream)
	}
	return "msg_" + sanitizeID(upstream)
}

// contentText returns a message's content: a string, or the texts of an
// array of parts.
func contentText(raw json.RawMessage) string {
	if s, ok := jsonString(raw); ok {
		return s
	}
	return blockTexts(raw, "")
}

// parseArgs turns tool-call arguments into a tool_use input, always a
// JSON object (§4.3).
func (t *openAI) parseArgs(ctx context.Context, raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	var args []byte
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return json.RawMessage("{}")
	case raw[0] == '{':
		args = raw // some servers send the object itself
	case raw[0] == '"':
		s, ok := jsonString(raw)
		if !ok {
			return json.RawMessage("{}")
		}
		args = bytes.TrimSpace([]byte(s))
	default:
		t.log.WarnContext(ctx, "openai: tool arguments are not an object; sent as {}")
		return json.RawMessage("{}")
	}
	if len(args) == 0 {
		return json.RawMessage("{}")
	}
	if args[0] == '{' {
		if c, ok := jsonraw.Compact(args); ok {
			return bytes.Clone(c)
		}
	}
	if t.opts.RepairToolArgs {
		if fixed, ok := repairJSON(args); ok {
			return json.RawMessage(fixed)
		}
	}
	t.log.WarnContext(ctx, "openai: tool arguments are not a JSON object; sent as {}", "bytes", len(args))
	return json.RawMessage("{}")
}

// repairJSON repairs a malformed JSON object with the same repairer the
// enhancetool transformer streams through (see argsRepairer). It reports
// whether the result is a valid object.
func repairJSON(b []byte) (string, bool) {
	var r argsRepairer
	s := r.feed(string(b)) + r.finish()
	return s, strings.HasPrefix(s, "{") && json.Valid([]byte(s))
}

// mapFinish maps a finish_reason to a stop reason (§4.7). matched is the
// stop sequence the upstream reported, if any.
func mapFinish(finish string, toolEmitted bool, matched string) (string, *string) {
	switch finish {
	case "stop":
		if toolEmitted {
			return "tool_use", nil
		}
		if matched != "" {
			return "stop_sequence", &matched
		}
		return "end_turn", nil
	case "length":
		return "max_tokens", nil
	case "content_filter":
		return "refusal", nil
	}
	if toolEmitted {
		return "tool_use", nil
	}
	return "end_turn", nil
}

// matchedStop returns vLLM's choices[].stop_reason when it is one of the
// request's stop sequences.
func matchedStop(raw json.RawMessage, stops []string) string {
	s, ok := jsonString(raw)
	if !ok || s == "" {
		return ""
	}
	for _, x := range stops {
		if x == s {
			return s
		}
	}
	return ""
}

// jsonString decodes raw when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// What json.Unmarshal into a string accepts and decodes, faster.
	if end, plain, err := jsonraw.ScanString(raw, 0); err == nil && end == len(raw) {
		if plain {
			return string(raw[1 : end-1]), true
		}
		return jsonraw.Unquote(raw), true
	}
	// Not a JSON string; one without escapes or quotes inside has always
	// been taken as it is.
	if bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 && bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 && utf8.Valid(raw) && !hasControl(raw) {
		return string(raw[1 : len(raw)-1]), true
	}
	return "", false
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// hasValue reports whether raw is present and not null.
func hasValue(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// ---------------------------------------------------------------------
// Stream: OpenAI chunks → Anthropic events (§4.5)

type oaChunk struct {
	ID      string          `json:"id"`
	Choices []oaChoice      `json:"choices"`
	Usage   *oaUsage        `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

// TransformStream returns the §4.5 state machine reading Chat Completions
// chunks from src. Errors before the first event are *Error values the
// router can send with a real status; a stream cut short returns an
// *Error wrapping [ErrTruncated].
func (t *openAI) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	return &openAIStream{
		t:       t,
		ctx:     ctx,
		model:   clientModel(req),
		stops:   req.StopSequences,
		src:     src,
		names:   newToolNames(req.Tools),
		byIndex: map[int]*oaStreamTool{},
	}
}

const (
	toolNew = iota
	toolLive
	toolClosed
)

// oaStreamTool is one upstream tool call being assembled.
type oaStreamTool struct {
	id    string // sanitised upstream id; "" until one arrives
	name  string // client-side name
	args  []byte
	held  []byte // a trailing high-surrogate escape waiting for its pair
	state int
}

type openAIStream struct {
	t     *openAI
	ctx   context.Context
	model string   // the client's
	stops []string // the request's stop sequences
	src   EventReader
	names *toolNames
	b     eventBuilder
	queue []Event
	dec   oaDecoder
	chunk oaChunk
	qi    int
	err   error // sticky; io.EOF after message_stop

	tools       []*oaStreamTool
	byIndex     map[int]*oaStreamTool
	last        *oaStreamTool // the most recently created tool
	live        *oaStreamTool // the tool of the open tool_use block
	finish      string
	matched     string
	usage       *oaUsage
	sawDone     bool
	toolEmitted bool
	heldText    []byte
	heldThink   []byte
}

// ReadEvent returns the next Anthropic event.
func (s *openAIStream) ReadEvent() (Event, error) {
	for s.qi == len(s.queue) {
		if s.err != nil {
			return Event{}, s.err
		}
		clear(s.queue)
		s.b.pending = s.queue[:0]
		s.step()
		s.queue, s.qi = s.b.take(), 0
	}
	ev := s.queue[s.qi]
	s.queue[s.qi] = Event{}
	s.qi++
	return ev, nil
}

func (s *openAIStream) step() {
	ev, err := s.src.ReadEvent()
	switch {
	case err == nil:
		s.onEvent(ev)
	case err == io.EOF:
		s.finalize()
	case s.finish != "" && errors.Is(err, ErrStreamIdle):
		// The answer is complete; only the usage chunk or [DONE] is late.
		s.t.log.WarnContext(s.ctx, "openai: upstream idle after finish_reason; ending the stream")
		s.finalize()
	default:
		s.err = err
	}
}

var doneMarker = []byte("[DONE]")

func (s *openAIStream) onEvent(ev Event) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return
	}
	if bytes.HasPrefix(data, doneMarker) {
		s.sawDone = true
		s.finalize()
		return
	}
	if ev.Type == "error" {
		s.err = s.t.errorObject(data)
		return
	}
	// The chunk's storage is reused for the next: nothing of it is kept.
	ch := &s.chunk
	s.dec.skipID = s.b.started
	if err := s.dec.decode(data, ch); err != nil {
		s.t.log.WarnContext(s.ctx, "openai: chunk is not valid JSON; skipped", "bytes", len(data))
		return
	}
	if hasValue(ch.Error) {
		s.err = s.t.errorObject(ch.Error)
		return
	}
	var c *oaChoice
	if len(ch.Choices) > 0 {
		c = &ch.Choices[0]
	}
	if c != nil && c.FinishReason == "error" {
		s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream finish_reason error"}
		return
	}
	if !s.b.started {
		s.b.start(s.t.messageID(ch.ID), s.model, Usage{})
	}
	if ch.Usage != nil {
		s.usage = ch.Usage
	}
	if c == nil {
		return
	}
	if d := c.Delta; d != nil {
		s.delta(d)
	} else if d := c.Message; d != nil {
		s.delta(d)
	}
	if c.FinishReason != "" {
		s.finish = c.FinishReason
		s.matched = matchedStop(c.StopReason, s.stops)
	}
}

func (s *openAIStream) delta(d *oaDelta) {
	r, _ := decodeHeld(d.ReasoningContent, &s.heldThink)
	if r == "" {
		r, _ = decodeHeld(d.Reasoning, &s.heldThink)
	}
	if r != "" {
		s.ensure("thinking")
		s.b.thinking(r)
	}
	if text, _ := decodeHeld(d.Content, &s.heldText); text != "" {
		s.ensure("text")
		s.b.text(text)
	}
	if text, _ := jsonString(d.Refusal); text != "" {
		s.ensure("text")
		s.b.text(text)
	}
	if len(d.ToolCalls) == 0 {
		return
	}
	for i := range d.ToolCalls {
		s.toolPart(&d.ToolCalls[i])
	}
	s.advance()
}

func (s *openAIStream) toolPart(p *oaToolCallPart) {
	tool := s.resolve(p)
	if p.ID != "" && tool.id == "" {
		tool.id = sanitizeID(p.ID)
	}
	if p.Function.Name != "" && tool.name == "" {
		tool.name = s.names.original(p.Function.Name)
	}
	if args := argsText(p.Function.Arguments, &tool.held); args != "" {
		switch tool.state {
		case toolLive:
			tool.args = append(tool.args, args...)
			s.b.toolInput(args)
		case toolNew:
			tool.args = append(tool.args, args...)
		default:
			s.t.log.WarnContext(s.ctx, "openai: fragment for a closed tool call dropped", "tool", tool.name)
		}
	}
	if tool.state == toolNew && tool.name != "" && s.b.openType() != "tool_use" {
		s.closeOpen()
		s.startTool(tool)
	}
}

// resolve finds the call a fragment belongs to, by index and id; a known
// index with a different id is a new call (ollama reuses index 0).
func (s *openAIStream) resolve(p *oaToolCallPart) *oaStreamTool {
	if idx, ok := p.index(); ok {
		tool := s.byIndex[idx]
		if tool == nil || (p.ID != "" && tool.id != "" && sanitizeID(p.ID) != tool.id) {
			tool = s.newTool()
			s.byIndex[idx] = tool
		}
		return tool
	}
	if p.ID != "" {
		id := sanitizeID(p.ID)
		for i := len(s.tools) - 1; i >= 0; i-- {
			if s.tools[i].id == id {
				return s.tools[i]
			}
		}
		return s.newTool()
	}
	if s.last != nil {
		return s.last
	}
	return s.newTool()
}

func (s *openAIStream) newTool() *oaStreamTool {
	tool := &oaStreamTool{}
	s.tools = append(s.tools, tool)
	s.last = tool
	return tool
}

// advance promotes buffered calls once the live call's JSON is complete.
func (s *openAIStream) advance() {
	for s.live != nil && s.b.openType() == "tool_use" {
		next := s.nextBuffered()
		if next == nil || !jsonComplete(s.live.args) {
			return
		}
		s.closeOpen()
		s.startTool(next)
	}
}

// jsonComplete reports whether b is a complete JSON object or array. Only
// a buffer ending in '}' or ']' can be, which spares a full scan of large
// arguments on every fragment.
func jsonComplete(b []byte) bool {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) == 0 || b[len(b)-1] != '}' && b[len(b)-1] != ']' {
		return false
	}
	return json.Valid(b)
}

func (s *openAIStream) nextBuffered() *oaStreamTool {
	for _, tool := range s.tools {
		if tool.state == toolNew && tool.name != "" {
			return tool
		}
	}
	return nil
}

// ensure prepares for a text or thinking delta: another open block is
// closed and buffered calls are emitted first, so one block is open at a
// time.
func (s *openAIStream) ensure(kind string) {
	if s.b.openType() == kind {
		return
	}
	s.closeOpen()
	s.flushBuffered()
}

func (s *openAIStream) closeOpen() {
	if s.b.openType() == "" {
		return
	}
	s.b.closeBlock(sigOpenAI)
	if s.live != nil {
		s.live.state = toolClosed
		s.live = nil
	}
}

func (s *openAIStream) flushBuffered() {
	for _, tool := range s.tools {
		if tool.state == toolNew && tool.name != "" {
			s.startTool(tool)
			s.closeOpen()
		}
	}
}

func (s *openAIStream) startTool(tool *oaStreamTool) {
	id := tool.id
	if id == "" {
		id = s.t.id("toolu_")
	}
	s.b.startTool("", id, tool.name)
	if len(tool.args) > 0 {
		s.b.toolInput(string(tool.args))
	}
	tool.state = toolLive
	s.live = tool
	s.toolEmitted = true
}

// finalize ends the stream on [DONE] or end of input.
func (s *openAIStream) finalize() {
	if !s.b.started {
		if s.finish == "" && !s.sawDone {
			s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream returned an empty stream", Err: fmt.Errorf("openai: no chunk before end of stream: %w", ErrTruncated)}
			return
		}
		s.b.start(s.t.messageID(""), s.model, Usage{})
	}
	if s.finish == "" && !s.sawDone {
		s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream stream ended before completion", Err: fmt.Errorf("openai: stream ended without finish_reason or [DONE]: %w", ErrTruncated)}
		return
	}
	// A high surrogate still held has no pair: it decodes as U+FFFD.
	if len(s.heldText) > 0 && s.b.openType() == "text" {
		s.b.text("\uFFFD")
	}
	s.closeOpen()
	s.flushBuffered()
	for _, tool := range s.tools {
		if tool.state == toolNew {
			s.t.log.WarnContext(s.ctx, "openai: tool call without a name dropped", "id", tool.id)
		}
	}
	stop, seq := mapFinish(s.finish, s.toolEmitted, s.matched)
	var u *Usage
	if s.usage != nil {
		x := s.usage.usage()
		u = &x
	}
	s.b.finish(stop, seq, u, sigOpenAI)
	s.err = io.EOF
}

// decodeHeld decodes a JSON string delta. A trailing high-surrogate
// escape is held back in *held and prefixed to the next delta, so that a
// surrogate pair split across chunks decodes as one character (E34).
func decodeHeld(raw json.RawMessage, held *[]byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if len(*held) > 0 {
		joined := make([]byte, 0, 1+len(*held)+len(raw)-1)
		joined = append(joined, '"')
		joined = append(joined, *held...)
		joined = append(joined, raw[1:]...)
		raw = joined
		*held = (*held)[:0]
	}
	// raw ends in `\uD83D"`: backslash at n-7, hex digits at n-5..n-2.
	if n := len(raw); n >= 8 && raw[n-1] == '"' && raw[n-7] == '\\' && raw[n-6] == 'u' && isHighSurrogate(raw[n-5:n-1]) && oddBackslashes(raw[:n-6]) {
		*held = append(*held, raw[n-7:n-1]...)
		raw = append(raw[:n-7:n-7], '"')
	}
	return jsonString(raw)
}

func isHighSurrogate(hex4 []byte) bool {
	v, err := strconv.ParseUint(string(hex4), 16, 16)
	return err == nil && v >= 0xD800 && v <= 0xDBFF
}

// oddBackslashes reports whether b ends in an odd number of backslashes,
// that is whether its last backslash starts an escape.
func oddBackslashes(b []byte) bool {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// argsText returns a tool-call arguments fragment: a JSON string, or an
// object some servers send instead, as its JSON text.
func argsText(raw json.RawMessage, held *[]byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '{' {
		return compactArgs(raw)
	}
	s, _ := decodeHeld(raw, held)
	return s
}

// ---------------------------------------------------------------------
// Errors: upstream → Anthropic (§4.10, errors_map.go)

// TransformError converts a non-2xx upstream response into an *Error
// (§4.10). Its message holds at most 2 KiB of upstream text.
func (t *openAI) TransformError(status int, header http.Header, body []byte) *Error {
	u := parseUpstreamError(body)
	u.status = status // the answer's status, not a code in its body
	e := mapUpstreamError(u, header, t.opts.Provider)
	e.Err = fmt.Errorf("openai: upstream status %d", status)
	return e
}

// errorObject converts an error object found in a 200 body or in a
// stream. Its numeric code, when it is an HTTP status, selects the row of
// the §4.10 table, else its string code; otherwise the error is a 502
// api_error.
func (t *openAI) errorObject(raw []byte) *Error {
	u := parseErrorValue(raw)
	u.inBody = true
	e := mapUpstreamError(u, nil, t.opts.Provider)
	e.Err = errors.New("openai: error object from upstream")
	return e
}
