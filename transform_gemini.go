package ccr

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GeminiOptions configures the Gemini generateContent format (the "gemini"
// transformer, and the request body of "vertex-gemini"). The zero value
// suits the Gemini API.
type GeminiOptions struct {
	// SchemaMode selects how tool input schemas are sent: "openapi" (the
	// default; Gemini's OpenAPI subset in functionDeclarations.parameters,
	// accepted by every Gemini and Vertex model) or "jsonschema" (JSON
	// Schema in parametersJsonSchema, for Gemini 2.5 and later, which
	// keeps unions and maps). In openapi mode a tool whose schema the
	// subset cannot express falls back to parametersJsonSchema on its own.
	// An unknown value means "openapi".
	SchemaMode string

	// MaxOutputTokens caps generationConfig.maxOutputTokens, the client's
	// max_tokens; 0 means no cap. Claude Code asks for up to 128000, above
	// most Gemini models' limit, so set it to the model's output limit.
	MaxOutputTokens int

	// ImageFetchTimeout bounds the download of an image given by URL
	// (Gemini accepts only inline data and its own file URIs); 0 means
	// 10 seconds.
	ImageFetchTimeout time.Duration
	// ImageFetchMaxBytes bounds a downloaded image; 0 means 20 MiB.
	ImageFetchMaxBytes int64
	// ImageFetchAllowPrivate allows image downloads from loopback, private
	// and link-local addresses. Off by default, so that a request cannot
	// make the router fetch from its own network.
	ImageFetchAllowPrivate bool
}

// geminiSignature marks thinking blocks converted from Gemini thoughts; it
// is not a valid Anthropic signature (protocol.md §4.9).
const geminiSignature = "rtr.gemini"

// geminiSkipSignature is Google's documented placeholder for function
// calls whose thought signature is unknown.
const geminiSkipSignature = "skip_thought_signature_validator"

// geminiTsig separates a tool id from the thought signature it carries
// (protocol.md §4.6.2).
const geminiTsig = "__tsig_"

type gemini struct {
	opts     GeminiOptions
	provider string
	images   *http.Client
}

var _ Transformer = (*gemini)(nil)

// NewGemini returns the Gemini API format: requests go to
// "<model>:generateContent" or "<model>:streamGenerateContent?alt=sse",
// resolved against the provider's base URL (such as
// https://generativelanguage.googleapis.com/v1beta/models/), with the
// provider key in x-goog-api-key. The Transformer is safe for concurrent
// use.
func NewGemini(opts GeminiOptions) Transformer { return newGemini(opts, "") }

func newGemini(opts GeminiOptions, provider string) *gemini {
	if opts.SchemaMode != GeminiSchemaJSONSchema {
		opts.SchemaMode = GeminiSchemaOpenAPI
	}
	if opts.ImageFetchTimeout <= 0 {
		opts.ImageFetchTimeout = 10 * time.Second
	}
	if opts.ImageFetchMaxBytes <= 0 {
		opts.ImageFetchMaxBytes = 20 << 20
	}
	return &gemini{opts: opts, provider: provider, images: geminiImageClient(opts.ImageFetchAllowPrivate)}
}

// ---- wire types ----

type geminiRequest struct {
	Contents          []geminiContent         `json:"contents"`
	SystemInstruction *geminiContent          `json:"systemInstruction,omitempty"`
	Tools             []geminiTool            `json:"tools,omitempty"`
	ToolConfig        *geminiToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *geminiGenerationConfig `json:"generationConfig,omitempty"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type geminiPart struct {
	Text             string                  `json:"text,omitempty"`
	Thought          bool                    `json:"thought,omitempty"`
	InlineData       *geminiBlob             `json:"inlineData,omitempty"`
	FileData         *geminiFileData         `json:"fileData,omitempty"`
	FunctionCall     *geminiFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *geminiFunctionResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string                  `json:"thoughtSignature,omitempty"`
}

type geminiBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type geminiFileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type geminiFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type geminiFunctionResponse struct {
	Name     string                     `json:"name"`
	Response geminiFunctionResponseBody `json:"response"`
}

// geminiFunctionResponseBody is {"output": S} or {"error": S}.
type geminiFunctionResponseBody struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

type geminiTool struct {
	FunctionDeclarations []geminiFunctionDecl `json:"functionDeclarations,omitempty"`
	GoogleSearch         *struct{}            `json:"googleSearch,omitempty"`
}

type geminiFunctionDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type geminiToolConfig struct {
	FunctionCallingConfig geminiFunctionCallingConfig `json:"functionCallingConfig"`
}

type geminiFunctionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type geminiGenerationConfig struct {
	MaxOutputTokens int                   `json:"maxOutputTokens,omitempty"`
	Temperature     *float64              `json:"temperature,omitempty"`
	TopP            *float64              `json:"topP,omitempty"`
	TopK            *int                  `json:"topK,omitempty"`
	StopSequences   []string              `json:"stopSequences,omitempty"`
	ThinkingConfig  *geminiThinkingConfig `json:"thinkingConfig,omitempty"`
}

type geminiThinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
}

type geminiResponse struct {
	Candidates     []geminiCandidate     `json:"candidates"`
	PromptFeedback *geminiPromptFeedback `json:"promptFeedback"`
	UsageMetadata  *geminiUsage          `json:"usageMetadata"`
	ModelVersion   string                `json:"modelVersion"`
	ResponseID     string                `json:"responseId"`
	Error          *geminiErrorBody      `json:"error"`
}

type geminiCandidate struct {
	Content           *geminiContent   `json:"content"`
	FinishReason      string           `json:"finishReason"`
	GroundingMetadata *geminiGrounding `json:"groundingMetadata"`
}

type geminiPromptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type geminiUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

type geminiGrounding struct {
	WebSearchQueries []string               `json:"webSearchQueries"`
	GroundingChunks  []geminiGroundingChunk `json:"groundingChunks"`
}

type geminiGroundingChunk struct {
	Web *struct {
		URI   string `json:"uri"`
		Title string `json:"title"`
	} `json:"web"`
}

type geminiErrorBody struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Status  string          `json:"status"`
	Details []struct {
		Type       string `json:"@type"`
		Reason     string `json:"reason"`
		RetryDelay string `json:"retryDelay"`
		Violations []struct {
			QuotaID string `json:"quotaId"`
		} `json:"violations"`
	} `json:"details"`
}

// ---- request ----

// TransformRequest encodes req as a generateContent request. Images given
// by URL are downloaded (Gemini cannot fetch them); a failed download is a
// 400 invalid_request_error.
func (g *gemini) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	body, err := g.encodeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	path := geminiEscapeModel(req.Model) + ":generateContent"
	if req.Stream {
		path = geminiEscapeModel(req.Model) + ":streamGenerateContent?alt=sse"
	}
	return &UpstreamRequest{
		Path:   path,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
		Stream: req.Stream,
		Auth:   "x-goog-api-key",
	}, nil
}

func (g *gemini) encodeRequest(ctx context.Context, req *Request) ([]byte, error) {
	gr, err := g.convertRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	b, err := marshalNoEscape(gr)
	if err != nil {
		return nil, fmt.Errorf("gemini: encode request: %w", err)
	}
	return b, nil
}

func (g *gemini) convertRequest(ctx context.Context, req *Request) (*geminiRequest, error) {
	names := newGeminiNames(req.Tools)
	out := &geminiRequest{Contents: []geminiContent{}}
	if sys := geminiSystemText(req.System); sys != "" {
		out.SystemInstruction = &geminiContent{Parts: []geminiPart{{Text: sys}}}
	}
	contents, err := g.convertMessages(ctx, req, names)
	if err != nil {
		return nil, err
	}
	out.Contents = contents

	var decls []geminiFunctionDecl
	search := false
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.IsWebSearch() {
			search = true
			continue
		}
		if t.IsServerTool() {
			continue // Anthropic-defined tools have no Gemini form
		}
		decls = append(decls, g.declare(t, names))
	}
	switch {
	case len(decls) > 0:
		out.Tools = []geminiTool{{FunctionDeclarations: decls}}
	case search:
		out.Tools = []geminiTool{{GoogleSearch: &struct{}{}}}
	}
	if len(decls) > 0 && req.ToolChoice != nil {
		var fc geminiFunctionCallingConfig
		switch req.ToolChoice.Type {
		case "any":
			fc.Mode = "ANY"
		case "tool":
			fc.Mode = "ANY"
			fc.AllowedFunctionNames = []string{names.upstream(req.ToolChoice.Name)}
		case "none":
			fc.Mode = "NONE"
		default:
			fc.Mode = "AUTO"
		}
		out.ToolConfig = &geminiToolConfig{FunctionCallingConfig: fc}
	}

	gc := &geminiGenerationConfig{
		MaxOutputTokens: req.MaxTokens,
		Temperature:     req.Temperature,
		TopP:            req.TopP,
		TopK:            req.TopK,
		ThinkingConfig:  geminiThinking(req),
	}
	if g.opts.MaxOutputTokens > 0 && gc.MaxOutputTokens > g.opts.MaxOutputTokens {
		gc.MaxOutputTokens = g.opts.MaxOutputTokens
	}
	if len(req.StopSequences) > 0 {
		gc.StopSequences = req.StopSequences
		if len(gc.StopSequences) > 5 { // Gemini's limit
			gc.StopSequences = gc.StopSequences[:5]
		}
	}
	if gc.MaxOutputTokens > 0 || gc.Temperature != nil || gc.TopP != nil || gc.TopK != nil ||
		gc.StopSequences != nil || gc.ThinkingConfig != nil {
		out.GenerationConfig = gc
	}
	return out, nil
}

// declare converts a custom tool to a function declaration.
func (g *gemini) declare(t *Tool, names geminiNames) geminiFunctionDecl {
	d := geminiFunctionDecl{Name: names.upstream(t.Name), Description: t.Description}
	if g.opts.SchemaMode == GeminiSchemaOpenAPI {
		p, err := geminiSchemaOpenAPI(t.InputSchema)
		if err == nil {
			d.Parameters = p
			return d
		}
	}
	if p, err := geminiSchemaJSON(t.InputSchema); err == nil {
		d.ParametersJSONSchema = p
	}
	return d
}

// geminiSystemText joins the non-blank texts of the system prompt with
// "\n\n", without Claude Code's billing-header line (protocol.md §4.2.1).
func geminiSystemText(sys Content) string {
	var texts []string
	for _, b := range systemPrompt(sys) {
		if strings.TrimSpace(b.Text) != "" {
			texts = append(texts, b.Text)
		}
	}
	return strings.Join(texts, "\n\n")
}

type geminiItemKind int

const (
	geminiKindOther geminiItemKind = iota
	geminiKindCall
	geminiKindResponse
	geminiKindAttachment
)

// geminiItem is one converted part with the role of its content.
type geminiItem struct {
	role string
	part geminiPart
	kind geminiItemKind
	id   string // tool_use id of a call, tool_use_id of a response
}

// convertMessages converts the conversation to contents (protocol.md
// §4.2.2): after normalizeMessages (system messages and blocks become
// "[System]" user text, blank text goes), parts are built in order,
// consecutive same-role parts are merged into one content, function
// responses are moved to the front of their user content in call order,
// and signatures are attached.
func (g *gemini) convertMessages(ctx context.Context, req *Request, names geminiNames) ([]geminiContent, error) {
	var items []geminiItem
	add := func(role string, p geminiPart, kind geminiItemKind, id string) {
		items = append(items, geminiItem{role, p, kind, id})
	}
	for _, m := range normalizeMessages(req.Messages, normalizeOptions{SystemAsUser: true, DropBlankText: true}) {
		role := "user"
		if m.Role == "assistant" {
			role = "model"
		}
		for i := range m.Content {
			b := &m.Content[i]
			switch b.Type {
			case "text":
				add(role, geminiPart{Text: b.Text}, geminiKindOther, "")
			case "image":
				p, ok, err := g.imagePart(ctx, b.Source)
				if err != nil {
					return nil, err
				}
				if ok {
					add(role, p, geminiKindOther, "")
				}
			case "document":
				ps, err := g.documentParts(ctx, b.Source)
				if err != nil {
					return nil, err
				}
				for _, p := range ps {
					add(role, p, geminiKindOther, "")
				}
			case "tool_use":
				_, sig := geminiSplitToolID(b.ID)
				args := b.Input
				if !hasValue(args) {
					args = json.RawMessage("{}")
				}
				add(role, geminiPart{
					FunctionCall:     &geminiFunctionCall{Name: names.upstream(b.Name), Args: args},
					ThoughtSignature: sig,
				}, geminiKindCall, b.ID)
			case "tool_result":
				s, attach, err := g.toolResult(ctx, b)
				if err != nil {
					return nil, err
				}
				body := geminiFunctionResponseBody{Output: &s}
				if b.IsError {
					body = geminiFunctionResponseBody{Error: &s}
				}
				add(role, geminiPart{FunctionResponse: &geminiFunctionResponse{Response: body}}, geminiKindResponse, b.ToolUseID)
				for _, p := range attach {
					add(role, p, geminiKindAttachment, "")
				}
			case "web_search_tool_result":
				if t := webSearchText(b.Content); t != "" {
					add(role, geminiPart{Text: t}, geminiKindOther, "")
				}
			}
			// thinking, redacted_thinking, server_tool_use and unknown
			// blocks have no Gemini form.
		}
	}

	// Merge consecutive same-role parts.
	type group struct {
		role  string
		items []geminiItem
	}
	var groups []group
	for _, it := range items {
		if n := len(groups); n > 0 && groups[n-1].role == it.role {
			groups[n-1].items = append(groups[n-1].items, it)
			continue
		}
		groups = append(groups, group{role: it.role, items: []geminiItem{it}})
	}

	gemini3 := geminiIsV3(req.Model)
	allCalls := map[string]string{} // tool_use id → upstream name, whole history
	var prevCalls map[string]int    // tool_use id → position in the previous model content
	var prevNames map[string]string
	contents := make([]geminiContent, 0, len(groups))
	for _, gr := range groups {
		if gr.role == "model" {
			prevCalls, prevNames = map[string]int{}, map[string]string{}
			first := true
			parts := make([]geminiPart, len(gr.items))
			for i, it := range gr.items {
				parts[i] = it.part
				if it.kind != geminiKindCall {
					continue
				}
				prevCalls[it.id] = len(prevCalls)
				prevNames[it.id] = it.part.FunctionCall.Name
				allCalls[it.id] = it.part.FunctionCall.Name
				if first && gemini3 && parts[i].ThoughtSignature == "" {
					parts[i].ThoughtSignature = geminiSkipSignature
				}
				first = false
			}
			contents = append(contents, geminiContent{Role: "model", Parts: parts})
			continue
		}
		// User content: responses first in call order, then attachments,
		// then the rest.
		its := append([]geminiItem(nil), gr.items...)
		rank := func(it geminiItem) (int, int) {
			switch it.kind {
			case geminiKindResponse:
				if pos, ok := prevCalls[it.id]; ok {
					return 0, pos
				}
				return 0, 1 << 30
			case geminiKindAttachment:
				return 1, 0
			}
			return 2, 0
		}
		sort.SliceStable(its, func(a, b int) bool {
			ka, pa := rank(its[a])
			kb, pb := rank(its[b])
			if ka != kb {
				return ka < kb
			}
			return pa < pb
		})
		parts := make([]geminiPart, len(its))
		for i, it := range its {
			parts[i] = it.part
			if it.kind == geminiKindResponse {
				name := prevNames[it.id]
				if name == "" {
					name = allCalls[it.id]
				}
				if name == "" {
					name = "unknown_tool"
				}
				fr := *it.part.FunctionResponse
				fr.Name = name
				parts[i].FunctionResponse = &fr
			}
		}
		contents = append(contents, geminiContent{Role: "user", Parts: parts})
	}
	return contents, nil
}

// toolResult returns a tool_result's text and its attachments (protocol.md
// §4.1.2 step 1). Items are decoded one by one, so that an item of a shape
// the hub types do not model cannot spoil the others.
func (g *gemini) toolResult(ctx context.Context, b *ContentBlock) (string, []geminiPart, error) {
	raw := bytes.TrimSpace(b.Content)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil, nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, nil, nil
		}
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return string(raw), nil, nil
	}
	var texts []string
	var attach []geminiPart
	for _, item := range items {
		var head struct {
			Type     string          `json:"type"`
			Text     string          `json:"text"`
			Source   json.RawMessage `json:"source"`
			Content  json.RawMessage `json:"content"`
			ToolName string          `json:"tool_name"`
		}
		if json.Unmarshal(item, &head) != nil {
			continue
		}
		switch head.Type {
		case "text":
			texts = append(texts, head.Text)
		case "image", "document":
			var src Source
			if json.Unmarshal(head.Source, &src) != nil {
				continue
			}
			var ps []geminiPart
			if head.Type == "image" {
				p, ok, err := g.imagePart(ctx, &src)
				if err != nil {
					return "", nil, err
				}
				if ok {
					ps = []geminiPart{p}
				}
			} else {
				var err error
				if ps, err = g.documentParts(ctx, &src); err != nil {
					return "", nil, err
				}
			}
			attach = append(attach, ps...)
		case "search_result":
			if t := blockTexts(head.Content, "\n"); t != "" {
				texts = append(texts, t)
			}
		case "tool_reference":
			if head.ToolName != "" {
				texts = append(texts, "tool_reference: "+head.ToolName)
			}
		}
	}
	return strings.Join(texts, "\n"), attach, nil
}

// imagePart converts an image source. ok is false for sources with no
// Gemini form (Anthropic file ids).
func (g *gemini) imagePart(ctx context.Context, src *Source) (geminiPart, bool, error) {
	if src == nil {
		return geminiPart{}, false, nil
	}
	switch src.Type {
	case "base64":
		data, mt := splitDataURL(src.Data, src.MediaType)
		if data == "" {
			return geminiPart{}, false, nil
		}
		return geminiPart{InlineData: &geminiBlob{MimeType: mt, Data: data}}, true, nil
	case "url":
		if strings.HasPrefix(src.URL, "data:") {
			data, mt := splitDataURL(src.URL, src.MediaType)
			return geminiPart{InlineData: &geminiBlob{MimeType: mt, Data: data}}, data != "", nil
		}
		if geminiFileURI(src.URL) {
			return geminiPart{FileData: &geminiFileData{MimeType: geminiGuessMime(src.URL), FileURI: src.URL}}, true, nil
		}
		mt, data, err := g.fetch(ctx, src.URL, "image/", "image")
		if err != nil {
			return geminiPart{}, false, err
		}
		return geminiPart{InlineData: &geminiBlob{MimeType: mt, Data: data}}, true, nil
	}
	return geminiPart{}, false, nil
}

// documentParts converts a document source (protocol.md §4.2.2).
func (g *gemini) documentParts(ctx context.Context, src *Source) ([]geminiPart, error) {
	if src == nil {
		return nil, nil
	}
	switch src.Type {
	case "base64":
		data, mt := splitDataURL(src.Data, src.MediaType)
		if mt == "" {
			mt = "application/pdf"
		}
		if data == "" {
			return nil, nil
		}
		return []geminiPart{{InlineData: &geminiBlob{MimeType: mt, Data: data}}}, nil
	case "text":
		if strings.TrimSpace(src.Data) == "" {
			return nil, nil
		}
		return []geminiPart{{Text: src.Data}}, nil
	case "content":
		var c Content
		if json.Unmarshal(src.Content, &c) != nil {
			return nil, nil
		}
		var parts []geminiPart
		for i := range c {
			switch c[i].Type {
			case "text":
				if strings.TrimSpace(c[i].Text) != "" {
					parts = append(parts, geminiPart{Text: c[i].Text})
				}
			case "image":
				p, ok, err := g.imagePart(ctx, c[i].Source)
				if err != nil {
					return nil, err
				}
				if ok {
					parts = append(parts, p)
				}
			}
		}
		return parts, nil
	case "url":
		if geminiFileURI(src.URL) {
			return []geminiPart{{FileData: &geminiFileData{MimeType: "application/pdf", FileURI: src.URL}}}, nil
		}
		mt, data, err := g.fetch(ctx, src.URL, "application/pdf", "document")
		if err != nil {
			return nil, err
		}
		return []geminiPart{{InlineData: &geminiBlob{MimeType: mt, Data: data}}}, nil
	}
	return nil, nil
}

// geminiFileURI reports whether u is a URI Gemini reads itself: a Cloud
// Storage object or a Gemini Files API file.
func geminiFileURI(u string) bool {
	if strings.HasPrefix(u, "gs://") {
		return true
	}
	pu, err := url.Parse(u)
	return err == nil && pu.Scheme == "https" && pu.Host == "generativelanguage.googleapis.com" &&
		strings.Contains(pu.Path, "/files/")
}

func geminiGuessMime(u string) string {
	p := u
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch ext := strings.ToLower(p[strings.LastIndexByte(p, '.')+1:]); ext {
	case "png":
		return "image/png"
	case "jpg", "jpeg":
		return "image/jpeg"
	case "gif":
		return "image/gif"
	case "webp":
		return "image/webp"
	case "pdf":
		return "application/pdf"
	}
	return ""
}

// errGeminiFetchForbidden reports a download target on a non-public
// address.
var errGeminiFetchForbidden = errors.New("address not allowed")

// geminiImageClient returns the HTTP client for image downloads. Unless
// allowPrivate is set, it refuses to connect to non-public addresses,
// checked on the resolved address of every connection (redirects
// included).
func geminiImageClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !geminiPublicAddr(ip) {
				return errGeminiFetchForbidden
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

var geminiCGNAT = netip.MustParsePrefix("100.64.0.0/10")

func geminiPublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!geminiCGNAT.Contains(ip)
}

// fetch downloads rawURL for inlining. want is the media-type prefix the
// content must have; what names the content in error messages.
func (g *gemini) fetch(ctx context.Context, rawURL, want, what string) (mimeType, data string, err error) {
	shown := rawURL
	if i := strings.IndexAny(shown, "?#"); i >= 0 {
		shown = shown[:i]
	}
	fail := func(reason string, cause error) error {
		return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error",
			Message: "Unable to download " + what + " from " + shown + ": " + reason, Err: cause}
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fail("unsupported URL", err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.ImageFetchTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", "", fail("unsupported URL", err)
	}
	resp, err := g.images.Do(hr)
	if err != nil {
		switch {
		case errors.Is(err, errGeminiFetchForbidden):
			return "", "", fail("address not allowed", err)
		case errors.Is(err, context.DeadlineExceeded):
			return "", "", fail("timeout", err)
		}
		return "", "", fail("connection failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", "", fail("status "+strconv.Itoa(resp.StatusCode), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.opts.ImageFetchMaxBytes+1))
	if err != nil {
		return "", "", fail("read failed", err)
	}
	if int64(len(body)) > g.opts.ImageFetchMaxBytes {
		return "", "", fail("larger than "+strconv.FormatInt(g.opts.ImageFetchMaxBytes, 10)+" bytes", nil)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, want) {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	if !strings.HasPrefix(mt, want) {
		return "", "", fail("unsupported content type "+strconv.Quote(mt), nil)
	}
	return mt, base64.StdEncoding.EncodeToString(body), nil
}

// geminiSplitToolID splits a tool id into the id proper and the thought
// signature it carries, restored to standard base64 (protocol.md §4.6.2).
func geminiSplitToolID(id string) (base, sig string) {
	i := strings.Index(id, geminiTsig)
	if i < 0 {
		return id, ""
	}
	enc := id[i+len(geminiTsig):]
	if enc == "" {
		return id[:i], ""
	}
	s := strings.NewReplacer("-", "+", "_", "/").Replace(enc)
	if r := len(s) % 4; r != 0 {
		s += strings.Repeat("=", 4-r)
	}
	return id[:i], s
}

// geminiToolID returns a new tool id carrying sig, a standard-base64
// thought signature, as unpadded base64url.
func geminiToolID(sig string) string {
	id := randomID("toolu_", 24)
	if sig == "" {
		return id
	}
	enc := strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(sig)
	return id + geminiTsig + sanitizeID(enc)
}

// geminiModelID returns the model name without a path prefix, lower case.
func geminiModelID(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	return strings.ToLower(model)
}

func geminiIsV3(model string) bool { return strings.HasPrefix(geminiModelID(model), "gemini-3") }

// geminiThinking maps the client's thinking request to thinkingConfig
// (protocol.md §4.9).
func geminiThinking(req *Request) *geminiThinkingConfig {
	th := req.Thinking
	if th == nil {
		return nil
	}
	model := geminiModelID(req.Model)
	v3 := geminiIsV3(req.Model)
	pro := strings.Contains(model, "-pro")
	level := func(effort string) string {
		switch effort {
		case "minimal", "low":
			return "LOW"
		case "medium":
			if pro { // Gemini 3 Pro has no MEDIUM
				return "HIGH"
			}
			return "MEDIUM"
		}
		return "HIGH"
	}
	budget := func(n int) *int { return &n }
	switch th.Type {
	case "enabled":
		if v3 {
			return &geminiThinkingConfig{IncludeThoughts: true, ThinkingLevel: level(effortBucket(th.BudgetTokens))}
		}
		lo, hi := 0, 24576
		switch {
		case pro:
			lo, hi = 128, 32768
		case strings.Contains(model, "flash-lite"):
			lo = 512
		}
		b := min(max(th.BudgetTokens, lo), hi)
		return &geminiThinkingConfig{IncludeThoughts: true, ThinkingBudget: budget(b)}
	case "adaptive":
		if v3 {
			effort := "high"
			if req.OutputConfig != nil && req.OutputConfig.Effort != "" {
				effort = req.OutputConfig.Effort
			}
			return &geminiThinkingConfig{IncludeThoughts: true, ThinkingLevel: level(effort)}
		}
		return &geminiThinkingConfig{IncludeThoughts: true, ThinkingBudget: budget(-1)}
	case "disabled":
		switch {
		case v3:
			return &geminiThinkingConfig{ThinkingLevel: "LOW"}
		case pro:
			return &geminiThinkingConfig{ThinkingBudget: budget(128)}
		}
		return &geminiThinkingConfig{ThinkingBudget: budget(0)}
	}
	return nil
}

// geminiEscapeModel escapes the characters of a model name that would
// change the meaning of the URL.
func geminiEscapeModel(model string) string {
	var sb strings.Builder
	for i := 0; i < len(model); i++ {
		c := model[i]
		if c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' {
			fmt.Fprintf(&sb, "%%%02X", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// ---- tool names ----

// geminiNames maps client tool names to Gemini function names and back
// (protocol.md §4.2.5).
type geminiNames struct {
	up   map[string]string
	down map[string]string
}

func newGeminiNames(tools []Tool) geminiNames {
	n := geminiNames{up: map[string]string{}, down: map[string]string{}}
	for i := range tools {
		t := &tools[i]
		if t.IsServerTool() {
			continue
		}
		if _, ok := n.up[t.Name]; ok {
			continue
		}
		s := geminiSanitizeName(t.Name)
		if _, taken := n.down[s]; taken {
			h := nameHash(t.Name)
			if len(s)+9 <= 64 {
				s = s + "_" + h
			} else {
				s = s[:55] + "_" + h
			}
		}
		n.up[t.Name] = s
		n.down[s] = t.Name
	}
	return n
}

func (n geminiNames) upstream(name string) string {
	if s, ok := n.up[name]; ok {
		return s
	}
	return geminiSanitizeName(name)
}

func (n geminiNames) original(name string) string {
	if s, ok := n.down[name]; ok {
		return s
	}
	return name
}

// geminiSanitizeName applies Gemini's function-name rules.
func geminiSanitizeName(name string) string {
	if name == "" {
		return "tool"
	}
	b := []byte(name)
	for i, c := range b {
		ok := c == '_' || c == '.' || c == ':' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			b[i] = '_'
		}
	}
	s := string(b)
	if c := s[0]; !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
		s = "_" + s
	}
	if len(s) > 64 {
		s = s[:55] + "_" + nameHash(name)
	}
	return s
}

// ---- response ----

// TransformResponse decodes a generateContent response (protocol.md §4.4).
func (g *gemini) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	var r geminiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "gemini: invalid response body", Err: err}
	}
	if r.Error != nil {
		return nil, geminiStreamError(r.Error, g.provider)
	}
	names := newGeminiNames(req.Tools)
	resp := &Response{
		ID:      geminiMessageID(r.ResponseID),
		Type:    "message",
		Role:    "assistant",
		Model:   clientModel(req),
		Content: []ContentBlock{},
	}
	if r.UsageMetadata != nil {
		resp.Usage = r.UsageMetadata.anthropic()
	}
	if len(r.Candidates) == 0 {
		resp.StopReason = "end_turn"
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			resp.StopReason = "refusal"
		}
		return resp, nil
	}
	cand := &r.Candidates[0]
	var parts []geminiPart
	if cand.Content != nil {
		parts = cand.Content.Parts
	}
	var thinking strings.Builder
	for _, p := range parts {
		if p.Thought {
			thinking.WriteString(p.Text)
		}
	}
	if thinking.Len() > 0 {
		resp.Content = append(resp.Content, ContentBlock{Type: "thinking", Thinking: thinking.String(), Signature: geminiSignature})
	}
	resp.Content = append(resp.Content, geminiGroundingBlocks(cand.GroundingMetadata)...)
	toolEmitted := false
	for _, p := range parts {
		switch {
		case p.Thought:
		case p.FunctionCall != nil:
			if p.FunctionCall.Name == "" {
				continue // a call without a name cannot be answered: dropped
			}
			resp.Content = append(resp.Content, ContentBlock{
				Type:  "tool_use",
				ID:    geminiToolID(p.ThoughtSignature),
				Name:  names.original(p.FunctionCall.Name),
				Input: geminiArgs(p.FunctionCall.Args),
			})
			toolEmitted = true
		case p.Text != "":
			if n := len(resp.Content); n > 0 && resp.Content[n-1].Type == "text" {
				resp.Content[n-1].Text += p.Text
			} else {
				resp.Content = append(resp.Content, ContentBlock{Type: "text", Text: p.Text})
			}
		}
	}
	stop, failed := geminiStopReason(cand.FinishReason, toolEmitted, len(resp.Content) > 0)
	if failed {
		return nil, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "Gemini finishReason " + cand.FinishReason}
	}
	resp.StopReason = stop
	return resp, nil
}

func geminiMessageID(responseID string) string {
	if responseID == "" {
		return randomID("msg_", 24)
	}
	return "msg_" + sanitizeID(responseID)
}

// geminiArgs returns compact function-call arguments, "{}" when absent.
func geminiArgs(args json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if !hasValue(args) || json.Compact(&buf, args) != nil {
		return json.RawMessage("{}")
	}
	return buf.Bytes()
}

func (u *geminiUsage) anthropic() Usage {
	return Usage{
		InputTokens:          max(u.PromptTokenCount-u.CachedContentTokenCount, 0) + u.ToolUsePromptTokenCount,
		OutputTokens:         u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CacheReadInputTokens: u.CachedContentTokenCount,
	}
}

// geminiStopReason maps a finishReason (protocol.md §4.7). failed reports
// a malformed-call finish with nothing emitted, which is an error.
func geminiStopReason(finish string, toolEmitted, emitted bool) (stop string, failed bool) {
	switch finish {
	case "MAX_TOKENS":
		return "max_tokens", false
	case "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "PROMPT_BLOCKED":
		return "refusal", false
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		if !emitted {
			return "", true
		}
		return "end_turn", false
	}
	if toolEmitted {
		return "tool_use", false
	}
	return "end_turn", false
}

// geminiGroundingBlocks turns search grounding into a server_tool_use and
// a web_search_tool_result block, so that a web search routed to Gemini
// gives the client results.
func geminiGroundingBlocks(gm *geminiGrounding) []ContentBlock {
	use, result, ok := geminiGroundingParts(gm)
	if !ok {
		return nil
	}
	return []ContentBlock{
		{Type: "server_tool_use", ID: use.id, Name: "web_search", Input: use.input},
		{Type: "web_search_tool_result", ToolUseID: use.id, Content: result},
	}
}

type geminiSearchUse struct {
	id    string
	input json.RawMessage
}

func geminiGroundingParts(gm *geminiGrounding) (geminiSearchUse, json.RawMessage, bool) {
	if gm == nil {
		return geminiSearchUse{}, nil, false
	}
	type result struct {
		Type             string  `json:"type"`
		URL              string  `json:"url"`
		Title            string  `json:"title"`
		EncryptedContent string  `json:"encrypted_content"`
		PageAge          *string `json:"page_age"`
	}
	results := []result{}
	for _, c := range gm.GroundingChunks {
		if c.Web == nil || c.Web.URI == "" {
			continue
		}
		title := c.Web.Title
		if title == "" {
			title = c.Web.URI
		}
		results = append(results, result{Type: "web_search_result", URL: c.Web.URI, Title: title})
	}
	if len(results) == 0 && len(gm.WebSearchQueries) == 0 {
		return geminiSearchUse{}, nil, false
	}
	query := strings.Join(gm.WebSearchQueries, " | ")
	use := geminiSearchUse{
		id: randomID("srvtoolu_", 24),
		input: mustJSON(struct {
			Query string `json:"query"`
		}{query}),
	}
	return use, mustJSON(results), true
}

// ---- stream ----

// TransformStream converts a streamGenerateContent?alt=sse stream
// (protocol.md §4.6). Gemini streams have no terminator: EOF after a
// finishReason is a clean end, EOF before one an error wrapping
// [ErrTruncated]. An error chunk becomes an *Error.
func (g *gemini) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	return &geminiStream{src: src, req: req, names: newGeminiNames(req.Tools), provider: g.provider}
}

type geminiStream struct {
	src      EventReader
	req      *Request
	names    geminiNames
	provider string

	b           eventBuilder
	pending     []Event
	err         error // sticky
	finish      string
	usage       *geminiUsage
	grounding   *geminiGrounding
	toolEmitted bool
}

// ReadEvent returns the next Anthropic event.
func (s *geminiStream) ReadEvent() (Event, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return Event{}, s.err
		}
		ev, err := s.src.ReadEvent()
		switch {
		case err == io.EOF:
			s.finalize()
		case err != nil:
			s.err = err
		default:
			s.convert(ev)
		}
		s.pending = append(s.pending, s.b.take()...)
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	return ev, nil
}

func (s *geminiStream) convert(ev Event) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || data[0] != '{' {
		return // not a chunk ([DONE] from a proxy, stray text)
	}
	var r geminiResponse
	if json.Unmarshal(data, &r) != nil {
		return
	}
	if r.Error != nil {
		s.err = geminiStreamError(r.Error, s.provider)
		return
	}
	s.b.start(geminiMessageID(r.ResponseID), clientModel(s.req), Usage{})
	if r.UsageMetadata != nil {
		s.usage = r.UsageMetadata
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			s.finish = "PROMPT_BLOCKED"
		}
		return
	}
	cand := &r.Candidates[0]
	if cand.Content != nil {
		for i := range cand.Content.Parts {
			s.part(&cand.Content.Parts[i])
		}
	}
	if gm := cand.GroundingMetadata; gm != nil && (len(gm.GroundingChunks) > 0 || len(gm.WebSearchQueries) > 0) {
		s.grounding = gm
	}
	if cand.FinishReason != "" {
		s.finish = cand.FinishReason
	}
}

func (s *geminiStream) part(p *geminiPart) {
	switch {
	case p.Thought:
		s.b.thinking(p.Text)
	case p.FunctionCall != nil:
		if p.FunctionCall.Name == "" {
			return // a call without a name cannot be answered: dropped
		}
		s.closeOpen()
		s.b.startTool("tool_use", geminiToolID(p.ThoughtSignature), s.names.original(p.FunctionCall.Name))
		if args := geminiArgs(p.FunctionCall.Args); string(args) != "{}" {
			s.b.toolInput(string(args))
		}
		s.b.closeBlock("")
		s.toolEmitted = true
	case p.Text != "":
		if s.b.openType() == "thinking" {
			s.closeOpen()
		}
		s.b.text(p.Text)
	}
}

// closeOpen closes the open block; a thinking block gets the router's
// signature.
func (s *geminiStream) closeOpen() { s.b.closeBlock(geminiSignature) }

func (s *geminiStream) finalize() {
	if !s.b.started {
		s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream returned an empty stream",
			Err: fmt.Errorf("gemini: no chunk before EOF: %w", ErrTruncated)}
		return
	}
	if s.finish == "" {
		s.err = fmt.Errorf("gemini: stream ended without finishReason: %w", ErrTruncated)
		return
	}
	stop, failed := geminiStopReason(s.finish, s.toolEmitted, s.b.hasBlocks())
	if failed {
		s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "Gemini finishReason " + s.finish}
		return
	}
	if use, result, ok := geminiGroundingParts(s.grounding); ok {
		s.closeOpen()
		s.b.startTool("server_tool_use", use.id, "web_search")
		s.b.toolInput(string(use.input))
		s.b.closeBlock("")
		s.b.block(mustJSON(struct {
			Type      string          `json:"type"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
		}{"web_search_tool_result", use.id, result}))
	}
	var u *Usage
	if s.usage != nil {
		v := s.usage.anthropic()
		u = &v
	}
	s.b.finish(stop, nil, u, geminiSignature)
	s.err = io.EOF
}

// ---- errors ----

// TransformError maps a Gemini error response (protocol.md §4.10).
func (g *gemini) TransformError(status int, header http.Header, body []byte) *Error {
	return geminiError(status, header, body, g.provider)
}

// geminiParseError reads {"error":{…}} or [{"error":{…}}].
func geminiParseError(body []byte) *geminiErrorBody {
	var one struct {
		Error *geminiErrorBody `json:"error"`
	}
	if json.Unmarshal(body, &one) == nil && one.Error != nil {
		return one.Error
	}
	var many []struct {
		Error *geminiErrorBody `json:"error"`
	}
	if json.Unmarshal(body, &many) == nil && len(many) > 0 && many[0].Error != nil {
		return many[0].Error
	}
	return nil
}

// geminiError maps a Gemini error answer; a body that is not Google's
// error shape is read as any other upstream's.
func geminiError(status int, header http.Header, body []byte, provider string) *Error {
	u := parseUpstreamError(body)
	if ge := geminiParseError(body); ge != nil {
		msg := u.message
		u = ge.upstream()
		if u.message == "" {
			u.message = msg
		}
	}
	u.status, u.inBody = status, false // the answer's status, not the body's code
	e := mapUpstreamError(u, header, provider)
	e.Err = fmt.Errorf("gemini: upstream status %d", status)
	return e
}

// geminiStreamError maps an error object received in a 200 body.
func geminiStreamError(ge *geminiErrorBody, provider string) *Error {
	e := mapUpstreamError(ge.upstream(), nil, provider)
	e.Err = fmt.Errorf("gemini: error in response body (%s)", ge.Status)
	return e
}

// upstream returns what the error object says: its numeric code as the
// status, its status string as the code, the ErrorInfo reason, the
// QuotaFailure quota ids and the RetryInfo delay.
func (ge *geminiErrorBody) upstream() upstreamError {
	u := upstreamError{inBody: true, message: ge.Message, code: ge.Status, retryAfter: geminiRetryDelay(ge)}
	if code, err := strconv.Atoi(string(bytes.TrimSpace(ge.Code))); err == nil {
		u.status = code
	}
	for _, d := range ge.Details {
		if d.Reason != "" {
			u.reason = d.Reason
		}
		for _, v := range d.Violations {
			if v.QuotaID != "" {
				u.quotaIDs = append(u.quotaIDs, v.QuotaID)
			}
		}
	}
	return u
}

// geminiRetryDelay returns RetryInfo.retryDelay ("13s", "1.5s") in whole
// seconds, rounded up.
func geminiRetryDelay(ge *geminiErrorBody) string {
	for _, d := range ge.Details {
		if d.RetryDelay == "" {
			continue
		}
		dur, err := time.ParseDuration(d.RetryDelay)
		if err != nil || dur < 0 {
			continue
		}
		secs := int64((dur + time.Second - 1) / time.Second)
		return strconv.FormatInt(secs, 10)
	}
	return ""
}

// ---- registration ----

// geminiTransformers returns the definitions of the Gemini and Vertex AI
// format transformers.
func geminiTransformers() []TransformerDef {
	geminiOpts := []OptionDef{
		{Name: "schema_mode", Type: "string", Description: `how tool schemas are sent: "openapi" (default; parameters) or "jsonschema" (parametersJsonSchema, Gemini 2.5 and later)`},
		{Name: "max_output_tokens", Type: "number", Description: "cap on maxOutputTokens (the client's max_tokens); 0 means none"},
		{Name: "image_fetch_allow_private", Type: "boolean", Description: "allow downloading image URLs from loopback and private addresses"},
	}
	vertexOpts := []OptionDef{
		{Name: "project", Type: "string", Description: "Google Cloud project; default GOOGLE_CLOUD_PROJECT, then the credentials' project_id"},
		{Name: "location", Type: "string", Description: "Vertex AI region, or \"global\"; default GOOGLE_CLOUD_LOCATION, then us-central1 (Gemini) or us-east5 (Claude)"},
		{Name: "credentials", Type: "string", Description: "path of a service-account or authorized-user JSON key file; default GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application-default credentials"},
	}
	return []TransformerDef{
		{
			Name:        "gemini",
			Description: "Gemini API generateContent format; api_base_url is the models/ URL, the key goes in x-goog-api-key.",
			Endpoint:    "/v1beta/models/{model}:generateContent",
			Options:     geminiOpts,
			Apply: func(c *Chain, options json.RawMessage) error {
				var o geminiConfigOptions
				if err := decodeOptions(options, &o); err != nil {
					return err
				}
				opts, err := o.options()
				if err != nil {
					return err
				}
				c.Format = newGemini(opts, c.Provider)
				return nil
			},
		},
		{
			Name:        "vertex-gemini",
			Description: "Gemini on Vertex AI, authenticated with a Google service account.",
			Endpoint:    "/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent",
			Options:     append(append([]OptionDef(nil), vertexOpts...), geminiOpts...),
			Apply: func(c *Chain, options json.RawMessage) error {
				var o struct {
					vertexConfigOptions
					geminiConfigOptions
				}
				if err := decodeOptions(options, &o); err != nil {
					return err
				}
				gopts, err := o.geminiConfigOptions.options()
				if err != nil {
					return err
				}
				vo := o.vertexConfigOptions.options(c)
				vo.BaseURL = c.BaseURL // the reference resolves the API path against api_base_url
				vo.Gemini = gopts
				t, err := newVertexGemini(vo, c.Provider)
				if err != nil {
					return err
				}
				c.Format = t
				return nil
			},
		},
		{
			Name:        "vertex-claude",
			Description: "Claude on Vertex AI (rawPredict), authenticated with a Google service account.",
			Endpoint:    "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:rawPredict",
			Options:     vertexOpts,
			Apply: func(c *Chain, options json.RawMessage) error {
				var o vertexConfigOptions
				if err := decodeOptions(options, &o); err != nil {
					return err
				}
				t, err := newVertexClaude(o.options(c), c.Provider)
				if err != nil {
					return err
				}
				c.Format = t
				return nil
			},
		},
	}
}

type geminiConfigOptions struct {
	SchemaMode             string `json:"schema_mode"`
	MaxOutputTokens        int    `json:"max_output_tokens"`
	ImageFetchAllowPrivate bool   `json:"image_fetch_allow_private"`
}

func (o geminiConfigOptions) options() (GeminiOptions, error) {
	switch o.SchemaMode {
	case "", GeminiSchemaOpenAPI, GeminiSchemaJSONSchema:
	default:
		return GeminiOptions{}, fmt.Errorf(`schema_mode: must be "openapi" or "jsonschema", not %q`, o.SchemaMode)
	}
	if o.MaxOutputTokens < 0 {
		return GeminiOptions{}, fmt.Errorf("max_output_tokens: must not be negative")
	}
	return GeminiOptions{SchemaMode: o.SchemaMode, MaxOutputTokens: o.MaxOutputTokens, ImageFetchAllowPrivate: o.ImageFetchAllowPrivate}, nil
}

// ---- count_tokens ----

// CountTokensRequest encodes req for Gemini's countTokens method
// (protocol.md E80), for a router that asks the upstream instead of
// estimating locally. The provider resolves Path and adds the key as for
// generateContent.
func (g *gemini) CountTokensRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	gr, err := g.convertRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	gr.GenerationConfig = nil // count_tokens carries no sampling parameters
	type withModel struct {
		Model string `json:"model"`
		*geminiRequest
	}
	body, err := marshalNoEscape(struct {
		GenerateContentRequest withModel `json:"generateContentRequest"`
	}{withModel{"models/" + req.Model, gr}})
	if err != nil {
		return nil, fmt.Errorf("gemini: encode countTokens: %w", err)
	}
	return &UpstreamRequest{
		Path:   geminiEscapeModel(req.Model) + ":countTokens",
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
		Auth:   "x-goog-api-key",
	}, nil
}

// CountTokensResponse decodes a countTokens answer.
func (g *gemini) CountTokensResponse(body []byte) (int, error) {
	var r struct {
		TotalTokens *int `json:"totalTokens"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.TotalTokens == nil {
		return 0, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "gemini: invalid countTokens response", Err: err}
	}
	return *r.TotalTokens, nil
}
