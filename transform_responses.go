package ccr

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ResponsesOptions configures the OpenAI Responses API format. The zero
// value suits api.openai.com.
type ResponsesOptions struct {
	// Summary is the reasoning summary to ask for: "auto" (the default),
	// "concise", "detailed", or "none" to ask for none (organisations that
	// are not verified for summaries get a 400 otherwise).
	Summary string `json:"summary"`
	// Effort, when set, is the reasoning effort sent on every request
	// (none, minimal, low, medium, high, xhigh), replacing the effort
	// derived from the client's thinking settings.
	Effort string `json:"effort"`
	// Store sends store:true. By default responses are not stored. Either
	// way the reasoning of earlier turns travels as encrypted content inside
	// the thinking blocks' signatures.
	Store bool `json:"store"`
	// Sampling forwards temperature and top_p, which reasoning models
	// reject; by default they are dropped.
	Sampling bool `json:"sampling"`
	// Strict forwards strict:true of tools. Otherwise functions are sent
	// with strict:false, because the Responses API makes them strict by
	// default and most client schemas do not meet strict mode's rules.
	Strict bool `json:"strict"`
	// WebSearch sends Anthropic's web search tool as the built-in
	// web_search tool; by default server tools are dropped.
	WebSearch bool `json:"web_search"`
	// AlwaysStream asks the upstream for a stream even when the client
	// did not, for endpoints that only stream (ChatGPT's codex backend
	// answers "Stream must be set to true"); the Router then collects the
	// stream into one message for the client.
	AlwaysStream bool `json:"always_stream"`
}

// NewOpenAIResponses returns the Transformer for the OpenAI Responses API
// (POST to the provider's api_base_url, the full endpoint URL such as
// https://api.openai.com/v1/responses). It is safe for concurrent use.
//
// Reasoning crosses turns statelessly: a reasoning item becomes a thinking
// block whose signature is "rtr.oair." followed by the item's encrypted
// content, and such blocks sent back by the client become reasoning items
// again. Thinking blocks from anywhere else are dropped, since the
// Responses API cannot take them.
func NewOpenAIResponses(opts ResponsesOptions) Transformer { return newResponses(opts, "") }

func newResponses(opts ResponsesOptions, provider string) *responses {
	return &responses{opts: opts, provider: provider, newID: func(p string) string { return randomID(p, 24) }}
}

type responses struct {
	opts     ResponsesOptions
	provider string // names the provider in an upstream authentication error
	newID    func(prefix string) string
}

var _ Transformer = (*responses)(nil)

const (
	// sigResponsesEnc prefixes the encrypted content of a Responses
	// reasoning item carried in a thinking signature.
	sigResponsesEnc = routerSignaturePrefix + "oair."
	// sigResponses signs reasoning without encrypted content, which cannot
	// be sent back.
	sigResponses = routerSignaturePrefix + "responses"
	// minOutputTokens is the smallest max_output_tokens the API accepts.
	minOutputTokens = 16
)

func responsesTransformers() []TransformerDef {
	return []TransformerDef{{
		Name:        "openai-responses",
		Description: "OpenAI Responses API (/v1/responses) format, for GPT-5-class and codex models: instructions, input items, function calls, reasoning summaries and encrypted reasoning carried across turns.",
		Endpoint:    "/v1/responses",
		Options: []OptionDef{
			{Name: "summary", Type: "string", Description: `reasoning summary: "auto" (default), "concise", "detailed" or "none"`},
			{Name: "effort", Type: "string", Description: "fixed reasoning effort (none, minimal, low, medium, high, xhigh) instead of the client's thinking settings"},
			{Name: "store", Type: "boolean", Description: "let the upstream store responses (default false)"},
			{Name: "sampling", Type: "boolean", Description: "forward temperature and top_p (reasoning models reject them)"},
			{Name: "strict", Type: "boolean", Description: "forward strict:true of tools (default: functions are sent non-strict)"},
			{Name: "web_search", Type: "boolean", Description: "send the web search tool as the built-in web_search tool"},
			{Name: "always_stream", Type: "boolean", Description: "always ask the upstream to stream (for stream-only endpoints); non-streaming clients get the collected message"},
		},
		Apply: func(c *Chain, options json.RawMessage) error {
			var o ResponsesOptions
			if err := decodeOptions(options, &o); err != nil {
				return err
			}
			switch o.Summary {
			case "", "auto", "concise", "detailed", "none":
			default:
				return fmt.Errorf("bad options: summary: %q is not auto, concise, detailed or none", o.Summary)
			}
			switch o.Effort {
			case "", "none", "minimal", "low", "medium", "high", "xhigh":
			default:
				return fmt.Errorf("bad options: effort: %q is not none, minimal, low, medium, high or xhigh", o.Effort)
			}
			c.Format = newResponses(o, c.Provider)
			return nil
		},
	}}
}

// ---- request --------------------------------------------------------------

type rsRequest struct {
	Model             string          `json:"model"`
	Instructions      string          `json:"instructions,omitempty"`
	Input             []any           `json:"input"`
	Tools             []any           `json:"tools,omitempty"`
	ToolChoice        any             `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	Reasoning         *rsReasoning    `json:"reasoning,omitempty"`
	Include           []string        `json:"include,omitempty"`
	MaxOutputTokens   int             `json:"max_output_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	Text              json.RawMessage `json:"text,omitempty"`
	Store             bool            `json:"store"`
	Stream            bool            `json:"stream,omitempty"`
}

type rsReasoning struct {
	Effort  string `json:"effort,omitempty"`
	Summary string `json:"summary,omitempty"`
}

type rsMessage struct {
	Type    string `json:"type"` // "message"
	Role    string `json:"role"`
	Content any    `json:"content"` // string or []rsPart
}

type rsPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data,omitempty"`
	FileURL  string `json:"file_url,omitempty"`
}

type rsFunctionCall struct {
	Type      string `json:"type"` // "function_call"
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type rsFunctionOutput struct {
	Type   string `json:"type"` // "function_call_output"
	CallID string `json:"call_id"`
	Output string `json:"output"`
}

type rsReasoningItem struct {
	Type             string      `json:"type"` // "reasoning"
	Summary          []rsSummary `json:"summary"`
	EncryptedContent string      `json:"encrypted_content"`
}

type rsSummary struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type rsFunctionTool struct {
	Type        string          `json:"type"` // "function"
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

func (t *responses) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	names := newToolNames(req.Tools)
	body := rsRequest{
		Model:        req.Model,
		Instructions: systemPrompt(req.System).Text("\n\n"),
		Input:        []any{},
		Store:        t.opts.Store,
		Stream:       req.Stream || t.opts.AlwaysStream,
	}
	if req.MaxTokens > 0 {
		body.MaxOutputTokens = max(req.MaxTokens, minOutputTokens)
	}
	if t.opts.Sampling {
		body.Temperature, body.TopP = req.Temperature, req.TopP
	}
	encrypted := false
	for _, m := range normalizeMessages(req.Messages, normalizeOptions{}) {
		switch m.Role {
		case "assistant":
			var enc bool
			body.Input, enc = t.assistantItems(body.Input, m.Content, names)
			encrypted = encrypted || enc
		case "system":
			if s := systemText(m.Content); s != "" {
				body.Input = append(body.Input, rsMessage{Type: "message", Role: "developer", Content: s})
			}
		default:
			body.Input = t.userItems(body.Input, m.Content)
		}
	}

	for i := range req.Tools {
		tool := &req.Tools[i]
		switch {
		case tool.IsWebSearch():
			if t.opts.WebSearch {
				body.Tools = append(body.Tools, struct {
					Type string `json:"type"`
				}{"web_search"})
			}
		case tool.IsServerTool():
		default:
			params := tool.InputSchema
			if !hasValue(params) {
				params = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			body.Tools = append(body.Tools, rsFunctionTool{Type: "function", Name: names.upstream(tool.Name),
				Description: tool.Description, Parameters: params, Strict: t.opts.Strict && tool.Strict})
		}
	}
	if len(body.Tools) > 0 && req.ToolChoice != nil {
		switch tc := req.ToolChoice; tc.Type {
		case "auto":
			body.ToolChoice = "auto"
		case "any":
			body.ToolChoice = "required"
		case "none":
			body.ToolChoice = "none"
		case "tool":
			body.ToolChoice = struct {
				Type string `json:"type"`
				Name string `json:"name"`
			}{"function", names.upstream(tc.Name)}
		}
		if req.ToolChoice.DisableParallelToolUse && req.ToolChoice.Type != "none" {
			f := false
			body.ParallelToolCalls = &f
		}
	}

	effort := t.opts.Effort
	if effort == "" && req.Thinking != nil {
		switch req.Thinking.Type {
		case "enabled":
			effort = effortBucket(req.Thinking.BudgetTokens)
		case "adaptive":
			effort = adaptiveEffort(req)
		}
	}
	if effort != "" {
		body.Reasoning = &rsReasoning{Effort: effort}
		if s := t.opts.Summary; s != "none" && effort != "none" {
			if s == "" {
				s = "auto"
			}
			body.Reasoning.Summary = s
		}
	}
	if encrypted || (effort != "" && effort != "none") {
		body.Include = []string{"reasoning.encrypted_content"}
	}
	if oc := req.OutputConfig; oc != nil && len(oc.Format) > 0 {
		var f struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		}
		if json.Unmarshal(oc.Format, &f) == nil && f.Type == "json_schema" && len(f.Schema) > 0 {
			body.Text = mustJSON(struct {
				Format any `json:"format"`
			}{struct {
				Type   string          `json:"type"`
				Name   string          `json:"name"`
				Schema json.RawMessage `json:"schema"`
				Strict bool            `json:"strict"`
			}{"json_schema", "structured_output", f.Schema, true}})
		}
	}
	b, err := marshalNoEscape(body)
	if err != nil {
		return nil, fmt.Errorf("openai-responses: encode request: %w", err)
	}
	return &UpstreamRequest{Body: b, Stream: body.Stream}, nil
}

// rawTexts returns the text of raw content: a string, or the texts of an
// array of blocks joined with newlines.
func rawTexts(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var c Content
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	var parts []string
	for _, b := range c {
		switch {
		case b.Type == "text" && b.Text != "":
			parts = append(parts, b.Text)
		case b.Type == "search_result":
			if s := rawTexts(b.Content); s != "" {
				parts = append(parts, s)
			}
		case b.Type == "tool_reference" && b.Raw != nil:
			var r struct {
				ToolName string `json:"tool_name"`
			}
			json.Unmarshal(b.Raw, &r)
			parts = append(parts, "tool_reference: "+r.ToolName)
		}
	}
	return strings.Join(parts, "\n")
}

// assistantItems converts one assistant turn, keeping the order of its
// blocks; it reports whether a reasoning item with encrypted content was
// sent.
func (t *responses) assistantItems(out []any, c Content, names *toolNames) ([]any, bool) {
	var text []string
	var reasoning []any // held until the output it belongs to
	encrypted := false
	lead := func() { // reasoning goes just before the output it led to
		if len(reasoning) > 0 {
			out = append(out, reasoning...)
			reasoning = nil
			encrypted = true
		}
	}
	flush := func() {
		if len(text) > 0 {
			lead()
			out = append(out, rsMessage{Type: "message", Role: "assistant", Content: strings.Join(text, "\n")})
			text = nil
		}
	}
	for i := range c {
		b := &c[i]
		switch b.Type {
		case "text":
			if b.Text != "" {
				text = append(text, b.Text)
			}
		case "web_search_tool_result":
			if s := webSearchText(b.Content); s != "" {
				text = append(text, s)
			}
		case "thinking":
			enc, ok := strings.CutPrefix(b.Signature, sigResponsesEnc)
			if !ok || enc == "" {
				continue // another provider's reasoning: the API cannot take it
			}
			flush()
			summary := []rsSummary{}
			if b.Thinking != "" {
				summary = append(summary, rsSummary{Type: "summary_text", Text: b.Thinking})
			}
			reasoning = append(reasoning, rsReasoningItem{Type: "reasoning", Summary: summary, EncryptedContent: enc})
		case "tool_use":
			flush()
			lead()
			args := compactArgs(b.Input)
			out = append(out, rsFunctionCall{Type: "function_call", CallID: oaID(b.ID), Name: names.upstream(b.Name), Arguments: args})
		}
	}
	flush()
	// Reasoning not followed by any output is dropped: the API wants the
	// item it led to after it.
	return out, encrypted
}

// userItems converts one user turn: function call outputs first, then one
// message with the tool results' attachments and the other blocks.
func (t *responses) userItems(out []any, c Content) []any {
	var parts []rsPart
	for i := range c {
		b := &c[i]
		if b.Type != "tool_result" {
			continue
		}
		text, media := t.toolResult(b)
		if b.IsError {
			text = "Error: " + text
		}
		id := oaID(b.ToolUseID)
		out = append(out, rsFunctionOutput{Type: "function_call_output", CallID: id, Output: text})
		if len(media) > 0 {
			parts = append(parts, rsPart{Type: "input_text", Text: "Attachments for tool_result " + id + ":"})
			parts = append(parts, media...)
		}
	}
	for i := range c {
		b := &c[i]
		switch b.Type {
		case "text":
			if b.Text != "" {
				parts = append(parts, rsPart{Type: "input_text", Text: b.Text})
			}
		case "image", "document":
			parts = append(parts, rsMedia(b)...)
		case "search_result":
			if s := rawTexts(b.Content); s != "" {
				parts = append(parts, rsPart{Type: "input_text", Text: s})
			}
		case "mid_conv_system":
			if len(parts) > 0 {
				out = append(out, rsMessage{Type: "message", Role: "user", Content: parts})
				parts = nil
			}
			if s := midConvText(b); s != "" {
				out = append(out, rsMessage{Type: "message", Role: "developer", Content: s})
			}
		}
	}
	if len(parts) > 0 {
		out = append(out, rsMessage{Type: "message", Role: "user", Content: parts})
	}
	return out
}

// toolResult returns a tool result's text and its media as input parts.
func (t *responses) toolResult(b *ContentBlock) (string, []rsPart) {
	raw := bytes.TrimSpace(b.Content)
	if len(raw) == 0 {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		json.Unmarshal(raw, &s)
		return s, nil
	}
	var items Content
	if json.Unmarshal(raw, &items) != nil {
		return "", nil
	}
	var texts []string
	var media []rsPart
	for i := range items {
		it := &items[i]
		switch it.Type {
		case "text":
			texts = append(texts, it.Text)
		case "image", "document":
			media = append(media, rsMedia(it)...)
		default:
			if s := rawTexts(json.RawMessage(mustJSON([]ContentBlock{*it}))); s != "" {
				texts = append(texts, s)
			}
		}
	}
	return strings.Join(texts, "\n"), media
}

// rsMedia converts an image or document block into input parts.
func rsMedia(b *ContentBlock) []rsPart {
	src := b.Source
	if src == nil {
		return nil
	}
	if b.Type == "image" {
		switch src.Type {
		case "base64":
			return []rsPart{{Type: "input_image", ImageURL: dataURL(src.MediaType, src.Data, "image/png"), Detail: "auto"}}
		case "url":
			return []rsPart{{Type: "input_image", ImageURL: src.URL, Detail: "auto"}}
		}
		return nil
	}
	name := b.Title
	if name == "" {
		name = "document.pdf"
	}
	switch src.Type {
	case "base64":
		return []rsPart{{Type: "input_file", Filename: name, FileData: dataURL(src.MediaType, src.Data, "application/pdf")}}
	case "url":
		return []rsPart{{Type: "input_file", FileURL: src.URL}}
	case "text":
		return []rsPart{{Type: "input_text", Text: src.Data}}
	case "content":
		if s := rawTexts(src.Content); s != "" {
			return []rsPart{{Type: "input_text", Text: s}}
		}
	}
	return nil
}

// ---- response -------------------------------------------------------------

type rsResponse struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error  *rsErrorBody   `json:"error"`
	Output []rsOutputItem `json:"output"`
	Usage  *rsUsage       `json:"usage"`
}

type rsErrorBody struct {
	Code    json.RawMessage `json:"code"`
	Type    string          `json:"type"`
	Message string          `json:"message"`
}

type rsOutputItem struct {
	Type             string      `json:"type"`
	ID               string      `json:"id"`
	Content          []rsContent `json:"content"`
	Summary          []rsContent `json:"summary"`
	EncryptedContent string      `json:"encrypted_content"`
	CallID           string      `json:"call_id"`
	Name             string      `json:"name"`
	Arguments        string      `json:"arguments"`
}

type rsContent struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Refusal string `json:"refusal"`
}

type rsUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens int `json:"output_tokens"`
}

func (u *rsUsage) hub() Usage {
	c := u.InputTokensDetails.CachedTokens
	return Usage{InputTokens: max(u.InputTokens-c, 0), OutputTokens: u.OutputTokens, CacheReadInputTokens: c}
}

// reasoningText is a reasoning item's summary, or its raw reasoning text
// when it has no summary (servers that expose it).
func (it *rsOutputItem) reasoningText() string {
	var parts []string
	for _, s := range it.Summary {
		if s.Text != "" {
			parts = append(parts, s.Text)
		}
	}
	if len(parts) == 0 {
		for _, c := range it.Content {
			if c.Text != "" {
				parts = append(parts, c.Text)
			}
		}
	}
	return strings.Join(parts, "\n\n")
}

func (it *rsOutputItem) refused() bool {
	for _, c := range it.Content {
		if c.Type == "refusal" && c.Refusal != "" {
			return true
		}
	}
	return false
}

func (it *rsOutputItem) messageText() string {
	var sb strings.Builder
	for _, c := range it.Content {
		switch c.Type {
		case "output_text":
			sb.WriteString(c.Text)
		case "refusal":
			sb.WriteString(c.Refusal)
		}
	}
	return sb.String()
}

func reasoningSig(enc string) string {
	if enc == "" {
		return sigResponses
	}
	return sigResponsesEnc + enc
}

func (t *responses) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	var r rsResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Message: "upstream returned malformed JSON", Err: err}
	}
	if r.Status == "failed" || (r.Error != nil && r.Error.Message != "") {
		return nil, t.rsError(r.Error, "upstream response failed")
	}
	names := newToolNames(req.Tools)
	resp := &Response{ID: t.messageID(r.ID), Type: "message", Role: "assistant", Model: clientModel(req), Content: []ContentBlock{}}
	tool, refused := false, false
	for i := range r.Output {
		it := &r.Output[i]
		switch it.Type {
		case "reasoning":
			text := it.reasoningText()
			if text == "" && it.EncryptedContent == "" {
				continue
			}
			resp.Content = append(resp.Content, ContentBlock{Type: "thinking", Thinking: text, Signature: reasoningSig(it.EncryptedContent)})
		case "message":
			if s := it.messageText(); s != "" {
				resp.Content = append(resp.Content, ContentBlock{Type: "text", Text: s})
			}
			refused = refused || it.refused()
		case "function_call":
			id := sanitizeID(it.CallID)
			if id == "" {
				id = t.newID("toolu_")
			}
			resp.Content = append(resp.Content, ContentBlock{Type: "tool_use", ID: id, Name: names.original(it.Name), Input: parseToolArgs(it.Arguments)})
			tool = true
		}
	}
	resp.StopReason = rsStopReason(r.Status, r.IncompleteDetails, tool, refused)
	if r.Usage != nil {
		resp.Usage = r.Usage.hub()
	}
	return resp, nil
}

func rsStopReason(status string, inc *struct {
	Reason string `json:"reason"`
}, tool, refused bool) string {
	if status == "incomplete" && inc != nil {
		switch inc.Reason {
		case "max_output_tokens":
			return "max_tokens"
		case "content_filter":
			return "refusal"
		}
	}
	switch {
	case tool:
		return "tool_use"
	case refused:
		return "refusal"
	}
	return "end_turn"
}

func (t *responses) messageID(up string) string {
	if up == "" {
		return t.newID("msg_")
	}
	return "msg_" + sanitizeID(strings.TrimPrefix(up, "resp_"))
}

// parseToolArgs turns function-call arguments into a tool_use input: the
// object itself when valid, else the repaired object.
func parseToolArgs(s string) json.RawMessage {
	b := bytes.TrimSpace([]byte(s))
	if len(b) > 0 && b[0] == '{' && json.Valid(b) {
		var buf bytes.Buffer
		json.Compact(&buf, b)
		return buf.Bytes()
	}
	var r argsRepairer
	return json.RawMessage(r.feed(s) + r.finish())
}

// rsError converts a Responses error object (of a failed response, or of
// an error event) into an *Error; fallback is the message when it has
// none.
func (t *responses) rsError(e *rsErrorBody, fallback string) *Error {
	u := upstreamError{inBody: true, message: fallback}
	if e != nil {
		if s, ok := jsonString(e.Code); ok {
			u.code = s
		} else if n, err := strconv.Atoi(string(bytes.TrimSpace(e.Code))); err == nil {
			u.status = n
		}
		u.typ = e.Type
		if e.Message != "" {
			u.message = e.Message
		}
	}
	err := mapUpstreamError(u, nil, t.provider)
	err.Err = fmt.Errorf("openai-responses: error object from upstream (code %q)", cmp.Or(u.code, u.typ))
	return err
}

// TransformError converts an error answer; the Responses API uses the
// same error body as Chat Completions.
func (t *responses) TransformError(status int, header http.Header, body []byte) *Error {
	u := parseUpstreamError(body)
	u.status = status
	e := mapUpstreamError(u, header, t.provider)
	e.Err = fmt.Errorf("openai-responses: upstream status %d", status)
	return e
}

// ---- stream ---------------------------------------------------------------

// TransformStream converts a Responses API event stream. A stream that
// ends before its first output is a 502 *Error wrapping [ErrTruncated];
// one cut off later an error wrapping [ErrTruncated]; a failed response
// or an error event an *Error (§4.10).
func (t *responses) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	return &rsStream{t: t, req: req, src: src, names: newToolNames(req.Tools), byKey: map[string]*rsItem{}}
}

// rsStream converts the Responses API event stream into hub events. Output
// items become blocks in the order they appear; one block is open at a
// time: content of an item that is not the live one (a second function
// call streamed in parallel, say) is buffered and emitted when the live
// item is done. Function-call arguments stream through an argsRepairer,
// so the input a client assembles always parses (valid arguments pass
// unchanged).
type rsStream struct {
	t     *responses
	req   *Request
	src   EventReader
	names *toolNames
	b     eventBuilder

	id      string
	items   []*rsItem
	first   int // items before it are closed
	byKey   map[string]*rsItem
	live    *rsItem
	tool    bool
	refused bool
	pending []Event
	err     error
}

// rsItem is one output item's state.
type rsItem struct {
	kind        string // reasoning, message, function_call, other
	callID      string
	name        string
	buf         strings.Builder // content not emitted yet
	got         strings.Builder // all content received (arguments, text)
	parts       int             // summary parts seen
	enc         string
	rep         *argsRepairer // function call arguments, repaired as they stream
	done        bool          // output_item.done seen
	closed      bool          // its block was closed (or it had none)
	contentSeen bool
}

// ReadEvent returns the next hub event.
func (s *rsStream) ReadEvent() (Event, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return Event{}, s.err
		}
		ev, err := s.src.ReadEvent()
		switch {
		case err == io.EOF && !s.b.started:
			s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream returned an empty stream",
				Err: fmt.Errorf("openai-responses: no output before end of stream: %w", ErrTruncated)}
		case err == io.EOF:
			s.err = fmt.Errorf("openai-responses: stream ended before response.completed: %w", ErrTruncated)
		case err != nil:
			s.err = err
		default:
			s.handle(ev)
		}
		s.pending = append(s.pending, s.b.take()...)
		if s.b.ended && s.err == nil {
			s.err = io.EOF
		}
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	return ev, nil
}

type rsEvent struct {
	Type           string          `json:"type"`
	OutputIndex    *int            `json:"output_index"`
	ItemID         string          `json:"item_id"`
	SummaryIndex   int             `json:"summary_index"`
	Delta          string          `json:"delta"`
	Arguments      *string         `json:"arguments"`
	Item           *rsOutputItem   `json:"item"`
	Response       *rsStreamResult `json:"response"`
	Code           json.RawMessage `json:"code"`
	Message        string          `json:"message"`
	Error          *rsErrorBody    `json:"error"`
	SequenceNumber int             `json:"sequence_number"`
}

type rsStreamResult struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Error *rsErrorBody `json:"error"`
	Usage *rsUsage     `json:"usage"`
}

func (s *rsStream) handle(ev Event) {
	if bytes.HasPrefix(ev.Data, []byte("[DONE]")) {
		return
	}
	var e rsEvent
	if json.Unmarshal(ev.Data, &e) != nil {
		return
	}
	if e.Type == "" {
		e.Type = ev.Type
	}
	switch e.Type {
	case "response.created", "response.in_progress", "response.queued":
		if e.Response != nil && s.id == "" {
			s.id = e.Response.ID
		}
	case "response.output_item.added":
		if e.Item == nil {
			return
		}
		it := s.item(e, e.Item.Type)
		if e.Item.Type == "function_call" {
			it.callID, it.name = cmp.Or(e.Item.CallID, it.callID), cmp.Or(e.Item.Name, it.name)
			if e.Item.Arguments != "" {
				s.add(it, e.Item.Arguments)
			}
		}
		s.promote()
	case "response.reasoning_summary_part.added":
		it := s.item(e, "reasoning")
		if e.SummaryIndex > 0 || it.parts > 0 {
			it.parts++
			if it.got.Len() > 0 {
				s.add(it, "\n\n")
			}
		} else {
			it.parts = 1
		}
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		s.add(s.item(e, "reasoning"), e.Delta)
	case "response.output_text.delta":
		s.add(s.item(e, "message"), e.Delta)
	case "response.refusal.delta":
		s.refused = s.refused || e.Delta != ""
		s.add(s.item(e, "message"), e.Delta)
	case "response.function_call_arguments.delta":
		s.add(s.item(e, "function_call"), e.Delta)
	case "response.function_call_arguments.done":
		if e.Arguments != nil {
			it := s.item(e, "function_call")
			s.complete(it, *e.Arguments)
		}
	case "response.output_item.done":
		if e.Item == nil {
			return
		}
		it := s.item(e, e.Item.Type)
		switch e.Item.Type {
		case "function_call":
			it.callID = cmp.Or(it.callID, e.Item.CallID)
			it.name = cmp.Or(it.name, e.Item.Name)
			s.complete(it, e.Item.Arguments)
		case "reasoning":
			it.enc = e.Item.EncryptedContent
			if !it.contentSeen {
				s.add(it, e.Item.reasoningText())
			}
		case "message":
			if !it.contentSeen {
				s.add(it, e.Item.messageText())
			}
		}
		it.done = true
		if it == s.live {
			s.closeLive()
		}
		s.promote()
	case "response.completed", "response.incomplete":
		s.finish(e.Response)
	case "response.failed":
		var eb *rsErrorBody
		if e.Response != nil {
			eb = e.Response.Error
		}
		s.err = s.t.rsError(eb, "upstream response failed")
	case "error":
		eb := e.Error
		if eb == nil {
			eb = &rsErrorBody{Code: e.Code, Message: e.Message}
		}
		s.err = s.t.rsError(eb, "upstream stream error")
	}
}

// item finds the item an event is about, creating it if the event is the
// first news of it.
func (s *rsStream) item(e rsEvent, kind string) *rsItem {
	var keys []string
	if id := e.ItemID; id != "" {
		keys = append(keys, "id:"+id)
	}
	if e.Item != nil && e.Item.ID != "" {
		keys = append(keys, "id:"+e.Item.ID)
	}
	if e.OutputIndex != nil {
		keys = append(keys, "ix:"+strconv.Itoa(*e.OutputIndex))
	}
	for _, k := range keys {
		if it, ok := s.byKey[k]; ok {
			for _, k2 := range keys {
				s.byKey[k2] = it
			}
			return it
		}
	}
	switch kind {
	case "reasoning", "message", "function_call":
	default:
		kind = "other"
	}
	it := &rsItem{kind: kind}
	if kind == "other" {
		it.done, it.closed = true, true // no block: web_search_call and the like
	}
	s.items = append(s.items, it)
	for _, k := range keys {
		s.byKey[k] = it
	}
	return it
}

// add appends content to an item: emitted at once when it is live,
// buffered otherwise.
func (s *rsStream) add(it *rsItem, text string) {
	if text == "" || it.closed {
		return
	}
	it.contentSeen = true
	it.got.WriteString(text)
	if it == s.live {
		s.emit(it, text)
		return
	}
	it.buf.WriteString(text)
	s.promote()
}

// complete reconciles a function call's streamed arguments with the final
// ones: the part not yet received is added.
func (s *rsStream) complete(it *rsItem, final string) {
	got := it.got.String()
	if final == "" || final == got {
		return
	}
	if strings.HasPrefix(final, got) {
		s.add(it, final[len(got):])
	}
}

// promote makes the first unfinished item live when none is. A function
// call waits for its name: one still without a name when it is done is
// dropped, since a tool_use needs a name and no client could answer it.
func (s *rsStream) promote() {
	for s.live == nil {
		for s.first < len(s.items) && s.items[s.first].closed {
			s.first++ // items close in order: the cursor keeps promote linear
		}
		if s.first == len(s.items) {
			return
		}
		next := s.items[s.first]
		if next.kind == "function_call" && next.name == "" {
			if !next.done {
				return
			}
			next.closed = true
			continue
		}
		s.live = next
		s.open(next)
		if next.buf.Len() > 0 {
			text := next.buf.String()
			next.buf.Reset()
			s.emit(next, text)
		}
		if !next.done {
			return
		}
		s.closeLive()
	}
}

func (s *rsStream) start() {
	if !s.b.started {
		s.b.start(s.t.messageID(s.id), clientModel(s.req), Usage{})
	}
}

// open starts the live item's block when it has one from the start.
func (s *rsStream) open(it *rsItem) {
	if it.kind != "function_call" {
		return
	}
	s.start()
	id := sanitizeID(it.callID)
	if id == "" {
		id = s.t.newID("toolu_")
	}
	s.b.startTool("tool_use", id, s.names.original(it.name))
	s.tool = true
}

func (s *rsStream) emit(it *rsItem, text string) {
	s.start()
	switch it.kind {
	case "reasoning":
		s.b.thinking(text)
	case "message":
		s.b.text(text)
	case "function_call":
		if it.rep == nil {
			it.rep = new(argsRepairer)
		}
		s.b.toolInput(it.rep.feed(text))
	}
}

// closeLive closes the live item's block; a reasoning item is signed with
// its encrypted content, and one with encrypted content but no text still
// becomes a (signature-only) thinking block, so its state reaches the next
// turn.
func (s *rsStream) closeLive() {
	it := s.live
	if it == nil {
		return
	}
	s.live = nil
	it.closed = true
	if it.kind == "reasoning" {
		switch {
		case s.b.open == "thinking":
			s.b.closeBlock(reasoningSig(it.enc))
		case it.enc != "":
			s.start()
			s.b.signature(reasoningSig(it.enc))
		}
		return
	}
	if it.rep != nil {
		s.b.toolInput(it.rep.finish())
	}
	s.b.closeBlock("")
}

// finish ends the message: every item still pending is emitted, then
// message_delta with the stop reason and usage.
func (s *rsStream) finish(r *rsStreamResult) {
	for _, it := range s.items {
		it.done = true
	}
	if s.live != nil {
		s.closeLive()
	}
	s.promote()
	s.start()
	var status string
	var inc *struct {
		Reason string `json:"reason"`
	}
	var usage *Usage
	if r != nil {
		status, inc = r.Status, r.IncompleteDetails
		if r.Usage != nil {
			u := r.Usage.hub()
			usage = &u
		}
	}
	s.b.finish(rsStopReason(status, inc, s.tool, s.refused), nil, usage, "")
}
