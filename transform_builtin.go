package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// This file holds the reference's built-in transformers other than the
// format converters: the provider families (deepseek, openrouter, groq,
// cerebras, vercel) and the option transformers (maxtoken, sampling,
// tooluse, ...). They configure the OpenAI Chat Completions format through
// Chain.OpenAI and add Hooks that work on the hub format, so most of them
// work in front of any format.

// builtinTransformerDefs returns the definitions of this file.
func builtinTransformerDefs() []TransformerDef {
	return append(responsesTransformers(), []TransformerDef{
		openAIAlias(),
		{
			Name: "deepseek",
			Description: "DeepSeek: thinking requested as thinking:{type}, earlier reasoning sent back as reasoning_content (its thinking mode answers 400 without it), " +
				"and max_tokens clamped to the model's output limit (deepseek-chat 8192, deepseek-reasoner 65536, deepseek-v4-* 384000).",
			Endpoint: "/v1/chat/completions",
			Options:  []OptionDef{{Name: "max_tokens", Type: "number", Description: "output limit to clamp max_tokens to, replacing the built-in per-model limit"}},
			Apply:    applyDeepSeek,
		},
		{
			Name: "openrouter",
			Description: "OpenRouter: the options object is merged into the request body (shallow, options win), thinking is sent as reasoning:{...}, " +
				"cache_control is kept only for Claude models, top_k is forwarded, and numeric or repeated tool-call ids are replaced.",
			Endpoint: "/v1/chat/completions",
			Options:  []OptionDef{{Name: "*", Type: "any", Description: `any top-level request field, e.g. {"provider":{"only":["anthropic"]}}`}},
			Apply:    applyGateway("openrouter"),
		},
		{
			Name:        "vercel",
			Description: "Vercel AI Gateway: as openrouter (options merged into the body, reasoning:{...}, cache_control only for Claude models, tool-call id fixes).",
			Endpoint:    "/v1/chat/completions",
			Options:     []OptionDef{{Name: "*", Type: "any", Description: `any top-level request field, e.g. {"providerOptions":{...}}`}},
			Apply:       applyGateway("vercel"),
		},
		{
			Name:        "groq",
			Description: "Groq: no cache_control, $schema removed from tool parameters, numeric or repeated tool-call ids replaced.",
			Endpoint:    "/v1/chat/completions",
			Apply: withoutOptions(func(c *Chain) {
				c.OpenAI.CacheControl = false
				c.Hooks = append(c.Hooks, Hook{Name: "groq", Request: stripSchemaKeyword}, toolIDHook("groq"))
			}),
		},
		{
			Name:        "cerebras",
			Description: "Cerebras: max_completion_tokens instead of max_tokens, no cache_control, no reasoning parameters, $schema removed from tool parameters.",
			Endpoint:    "/v1/chat/completions",
			Apply: withoutOptions(func(c *Chain) {
				c.OpenAI.MaxCompletionTokens = true
				c.OpenAI.CacheControl = false
				c.OpenAI.Reasoning = ""
				c.Hooks = append(c.Hooks, Hook{Name: "cerebras", Request: stripSchemaKeyword})
			}),
		},
		{
			Name:        "maxtoken",
			Description: "Clamps max_tokens to a limit (for models whose output limit is below what the client asks, such as Claude Code's 128000); a thinking budget is lowered to fit.",
			Options:     []OptionDef{{Name: "max_tokens", Type: "number", Description: "the limit (required)"}},
			Apply: func(c *Chain, options json.RawMessage) error {
				n, err := limitOption(options, "max_tokens", true)
				if err != nil {
					return err
				}
				c.Hooks = append(c.Hooks, clampHook("maxtoken", n))
				return nil
			},
		},
		{
			Name:        "maxcompletiontokens",
			Description: "Sends the output limit as max_completion_tokens instead of max_tokens (OpenAI reasoning models), optionally clamped.",
			Options:     []OptionDef{{Name: "max_completion_tokens", Type: "number", Description: "optional limit to clamp the value to"}},
			Apply: func(c *Chain, options json.RawMessage) error {
				n, err := limitOption(options, "max_completion_tokens", false)
				if err != nil {
					return err
				}
				c.OpenAI.MaxCompletionTokens = true
				if n > 0 {
					c.Hooks = append(c.Hooks, clampHook("maxcompletiontokens", n))
				}
				return nil
			},
		},
		{
			Name:        "sampling",
			Description: "Clamps max_tokens and overrides the sampling parameters that are set in the options.",
			Options: []OptionDef{
				{Name: "max_tokens", Type: "number", Description: "clamp max_tokens to this limit"},
				{Name: "temperature", Type: "number", Description: "temperature to send (0 to 2)"},
				{Name: "top_p", Type: "number", Description: "top_p to send (0 to 1)"},
				{Name: "top_k", Type: "number", Description: "top_k to send (forwarded even where top_k is normally dropped)"},
				{Name: "repetition_penalty", Type: "number", Description: "repetition_penalty to add to the upstream body"},
			},
			Apply: applySampling,
		},
		{
			Name:        "customparams",
			Description: "Adds parameters to the upstream body: missing keys are added, objects are merged recursively, values already in the body are kept.",
			Options:     []OptionDef{{Name: "*", Type: "any", Description: `any request field, e.g. {"chat_template_kwargs":{"enable_thinking":true}}`}},
			Apply: func(c *Chain, options json.RawMessage) error {
				params, err := objectOptions(options)
				if err != nil {
					return err
				}
				if len(params) > 0 {
					c.Hooks = append(c.Hooks, Hook{Name: "customparams", Upstream: func(ctx context.Context, req *Request, up *UpstreamRequest) error {
						return mergeBody(up, params, false)
					}})
				}
				return nil
			},
		},
		{
			Name:        "streamoptions",
			Description: "Asks for usage on streams with stream_options.include_usage (the default of the OpenAI format; include_usage:false turns it off).",
			Options:     []OptionDef{{Name: "include_usage", Type: "boolean", Description: "send stream_options.include_usage (default true)"}},
			Apply: func(c *Chain, options json.RawMessage) error {
				var o struct {
					IncludeUsage *bool `json:"include_usage"`
				}
				if err := decodeOptions(options, &o); err != nil {
					return err
				}
				c.OpenAI.NoStreamOptions = o.IncludeUsage != nil && !*o.IncludeUsage
				return nil
			},
		},
		{
			Name:        "cleancache",
			Description: "Removes every cache_control marker from the request, for upstreams that reject them.",
			Apply: withoutOptions(func(c *Chain) {
				c.OpenAI.CacheControl = false
				c.Hooks = append(c.Hooks, Hook{Name: "cleancache", Request: func(ctx context.Context, req *Request) error {
					stripCacheControl(req)
					return nil
				}})
			}),
		},
		{
			Name: "reasoning",
			Description: "Switches thinking on or off for servers that take enable_thinking and thinking:{type} (Qwen, GLM and similar): " +
				"with enable:false thinking is disabled whatever the client asks; reasoning_content in answers becomes thinking.",
			Options: []OptionDef{{Name: "enable", Type: "boolean", Description: "allow thinking (default true)"}},
			Apply:   applyReasoningSwitch,
		},
		{
			Name: "forcereasoning",
			Description: "Makes a model without native reasoning think in <reasoning_content> tags: earlier thinking is replayed in those tags, " +
				"an instruction is added to the last user turn, and the tagged text of answers becomes thinking blocks.",
			Apply: withoutOptions(func(c *Chain) {
				c.Hooks = append(c.Hooks, forceReasoningHook())
			}),
		},
		{
			Name:        "extrathinktag",
			Description: "Turns <think>…</think> sections of answer text into thinking blocks, in streams too (tags split across deltas are handled).",
			Options:     []OptionDef{{Name: "tag", Type: "string", Description: `tag name (default "think")`}},
			Apply: func(c *Chain, options json.RawMessage) error {
				var o struct {
					Tag string `json:"tag"`
				}
				if err := decodeOptions(options, &o); err != nil {
					return err
				}
				if o.Tag == "" {
					o.Tag = "think"
				}
				if strings.ContainsAny(o.Tag, "<>/ \t\n") {
					return fmt.Errorf("bad options: tag: %q is not a tag name", o.Tag)
				}
				c.Hooks = append(c.Hooks, thinkTagHook("extrathinktag", o.Tag))
				return nil
			},
		},
		{
			Name: "tooluse",
			Description: "Forces tool use for models that answer in text instead of calling tools: when tools are offered, tool_choice becomes required " +
				"and an ExitTool is added; an ExitTool call comes back to the client as plain text, streams included.",
			Apply: withoutOptions(func(c *Chain) {
				c.Hooks = append(c.Hooks, toolUseHook())
			}),
		},
		{
			Name: "enhancetool",
			Description: "Repairs malformed tool-call arguments (unterminated strings and brackets, trailing or missing commas, unquoted keys, single quotes). " +
				"Streams keep streaming: arguments pass through a repairing scanner that holds back only an unfinished comma, number or escape.",
			Apply: withoutOptions(func(c *Chain) {
				c.OpenAI.RepairToolArgs = true
				c.Hooks = append(c.Hooks, Hook{Name: "enhancetool", Stream: func(ctx context.Context, req *Request, src EventReader) EventReader {
					return newHubRewriter(src, &repairArgs{})
				}})
			}),
		},
	}...)
}

// withoutOptions makes the Apply of a transformer that takes no options:
// any option is an error.
func withoutOptions(apply func(c *Chain)) func(*Chain, json.RawMessage) error {
	return func(c *Chain, options json.RawMessage) error {
		if err := decodeOptions(options, &struct{}{}); err != nil {
			return err
		}
		apply(c)
		return nil
	}
}

// openAIAlias returns "OpenAI", the reference's name for the plain OpenAI
// Chat Completions format, as an alias of "openai" with the same options.
func openAIAlias() TransformerDef {
	for _, d := range openaiTransformers() {
		if d.Name == "openai" {
			d.Name = "OpenAI"
			d.Description = "The reference's name for openai: " + d.Description
			return d
		}
	}
	panic("ccr: no openai transformer to alias") // a programming error, found by any test
}

// ---- options -------------------------------------------------------------

// limitOption decodes {"<key>": N} with N a positive integer; required
// says whether the key must be present. It returns 0 when absent.
func limitOption(options json.RawMessage, key string, required bool) (int, error) {
	var m map[string]json.RawMessage
	if len(options) > 0 {
		if err := json.Unmarshal(options, &m); err != nil {
			return 0, fmt.Errorf("bad options: %v", err)
		}
	}
	for k := range m {
		if k != key {
			return 0, fmt.Errorf("bad options: unknown field %q", k)
		}
	}
	raw, ok := m[key]
	if !ok {
		if required {
			return 0, fmt.Errorf("bad options: %s is required", key)
		}
		return 0, nil
	}
	n, err := positiveInt(raw)
	if err != nil {
		return 0, fmt.Errorf("bad options: %s: %v", key, err)
	}
	return n, nil
}

func positiveInt(raw json.RawMessage) (int, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, errors.New("expected a number")
	}
	if f < 1 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("expected a positive integer, got %s", raw)
	}
	return int(f), nil
}

// objectOptions decodes an options object whose keys are free.
func objectOptions(options json.RawMessage) (map[string]json.RawMessage, error) {
	if len(options) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(options, &m); err != nil {
		return nil, fmt.Errorf("bad options: expected an object: %v", err)
	}
	return m, nil
}

// ---- families ------------------------------------------------------------

// deepSeekLimit returns the output limit of a DeepSeek model, 0 if unknown.
func deepSeekLimit(model string) int {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	switch {
	case m == "deepseek-chat":
		return 8192
	case m == "deepseek-reasoner":
		return 65536
	case strings.HasPrefix(m, "deepseek-v4"):
		return 384000
	}
	return 0
}

func applyDeepSeek(c *Chain, options json.RawMessage) error {
	n, err := limitOption(options, "max_tokens", false)
	if err != nil {
		return err
	}
	c.OpenAI.Reasoning = "deepseek"
	c.OpenAI.ReasoningPassback = true
	c.OpenAI.CacheControl = false
	c.Hooks = append(c.Hooks, Hook{Name: "deepseek", Request: func(ctx context.Context, req *Request) error {
		limit := n
		if limit == 0 {
			limit = deepSeekLimit(req.Model)
		}
		clampMaxTokens(req, limit)
		return nil
	}})
	return nil
}

// applyGateway builds the Apply of openrouter and vercel: OpenAI-compatible
// gateways in front of many vendors' models.
func applyGateway(name string) func(c *Chain, options json.RawMessage) error {
	return func(c *Chain, options json.RawMessage) error {
		params, err := objectOptions(options)
		if err != nil {
			return err
		}
		for _, k := range []string{"model", "messages", "stream"} {
			if _, ok := params[k]; ok {
				return fmt.Errorf("bad options: %s is set by the router and cannot be overridden", k)
			}
		}
		c.OpenAI.Reasoning = "openrouter"
		c.OpenAI.TopK = true
		// cache_control survives the conversion; the hook removes it for
		// models that are not Claude, where it is not understood.
		c.OpenAI.CacheControl = true
		c.Hooks = append(c.Hooks, Hook{
			Name: name,
			Request: func(ctx context.Context, req *Request) error {
				if !strings.Contains(strings.ToLower(req.Model), "claude") {
					stripCacheControl(req)
				}
				return nil
			},
			Upstream: func(ctx context.Context, req *Request, up *UpstreamRequest) error {
				if len(params) == 0 {
					return nil
				}
				return mergeBody(up, params, true)
			},
		}, toolIDHook(name))
		return nil
	}
}

// ---- request hooks -------------------------------------------------------

// clampHook returns a hook that clamps max_tokens to n.
func clampHook(name string, n int) Hook {
	return Hook{Name: name, Request: func(ctx context.Context, req *Request) error {
		clampMaxTokens(req, n)
		return nil
	}}
}

// clampMaxTokens lowers req.MaxTokens to limit (0 means no limit). A
// thinking budget that no longer fits below max_tokens is lowered to three
// quarters of it, keeping room for the answer (and at least the 1024 tokens
// Anthropic requires when max_tokens allows it).
func clampMaxTokens(req *Request, limit int) {
	if limit <= 0 || req.MaxTokens <= limit {
		return
	}
	req.MaxTokens = limit
	if th := req.Thinking; th != nil && th.Type == "enabled" && th.BudgetTokens >= limit {
		b := limit * 3 / 4
		if b < 1024 && limit > 1024 {
			b = 1024
		}
		th.BudgetTokens = b
	}
}

// stripCacheControl removes cache_control from every block and tool of req
// (req is the hook's own copy).
func stripCacheControl(req *Request) {
	for i := range req.System {
		req.System[i].CacheControl = nil
	}
	for i := range req.Messages {
		c := req.Messages[i].Content
		for j := range c {
			c[j].CacheControl = nil
		}
	}
	for i := range req.Tools {
		req.Tools[i].CacheControl = nil
	}
}

// stripSchemaKeyword removes the top-level $schema keyword from tool input
// schemas, which some servers reject.
func stripSchemaKeyword(ctx context.Context, req *Request) error {
	for i := range req.Tools {
		if s, ok := deleteMember(req.Tools[i].InputSchema, "$schema"); ok {
			req.Tools[i].InputSchema = s
		}
	}
	return nil
}

// deleteMember returns doc without its top-level member key, byte for byte
// otherwise, and whether it was there.
func deleteMember(doc []byte, key string) ([]byte, bool) {
	ms, err := jsonraw.Members(doc)
	if err != nil {
		return doc, false
	}
	for i, m := range ms {
		if m.Key != key {
			continue
		}
		var out []byte
		switch {
		case i+1 < len(ms):
			out = append(append(out, doc[:m.KeyStart]...), doc[ms[i+1].KeyStart:]...)
		case i > 0:
			out = append(append(out, doc[:ms[i-1].End]...), doc[m.End:]...)
		default:
			out = []byte("{}")
		}
		if again, ok := deleteMember(out, key); ok { // a duplicate key
			out = again
		}
		return out, true
	}
	return doc, false
}

// mergeBody merges params into the upstream JSON body. With overwrite
// (openrouter), a param replaces the body's value; without (customparams),
// missing keys are added, objects are merged recursively, and values
// already in the body are kept.
func mergeBody(up *UpstreamRequest, params map[string]json.RawMessage, overwrite bool) error {
	body := up.Body
	var err error
	for _, k := range sortedKeys(params) {
		v := params[k]
		if !overwrite {
			cur, gerr := jsonraw.Get(body, k)
			if gerr != nil {
				return fmt.Errorf("upstream body: %w", gerr)
			}
			if cur != nil {
				if !isObject(cur) || !isObject(v) {
					continue
				}
				if v, err = deepMerge(cur, v); err != nil {
					return err
				}
			}
		}
		if body, err = jsonraw.Set(body, k, v); err != nil {
			return fmt.Errorf("upstream body: %w", err)
		}
	}
	up.Body = body
	return nil
}

// deepMerge adds the members of add to the object doc: missing keys are
// added, objects merged recursively, existing scalars kept.
func deepMerge(doc, add []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(add, &m); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		cur, err := jsonraw.Get(doc, k)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			if !isObject(cur) || !isObject(v) {
				continue
			}
			if v, err = deepMerge(cur, v); err != nil {
				return nil, err
			}
		}
		if doc, err = jsonraw.Set(doc, k, v); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

type samplingOptions struct {
	MaxTokens         *float64 `json:"max_tokens"`
	Temperature       *float64 `json:"temperature"`
	TopP              *float64 `json:"top_p"`
	TopK              *float64 `json:"top_k"`
	RepetitionPenalty *float64 `json:"repetition_penalty"`
}

func applySampling(c *Chain, options json.RawMessage) error {
	var o samplingOptions
	if err := decodeOptions(options, &o); err != nil {
		return err
	}
	var limit, topK int
	if o.MaxTokens != nil {
		n, err := positiveInt(json.RawMessage(fmt.Sprint(*o.MaxTokens)))
		if err != nil {
			return fmt.Errorf("bad options: max_tokens: %v", err)
		}
		limit = n
	}
	if t := o.Temperature; t != nil && (*t < 0 || *t > 2) {
		return fmt.Errorf("bad options: temperature: %v is outside 0 to 2", *t)
	}
	if p := o.TopP; p != nil && (*p < 0 || *p > 1) {
		return fmt.Errorf("bad options: top_p: %v is outside 0 to 1", *p)
	}
	if k := o.TopK; k != nil {
		if *k < 0 || *k != math.Trunc(*k) || *k > math.MaxInt32 {
			return fmt.Errorf("bad options: top_k: expected a non-negative integer, got %v", *k)
		}
		topK = int(*k)
		c.OpenAI.TopK = true
	}
	if r := o.RepetitionPenalty; r != nil && *r <= 0 {
		return fmt.Errorf("bad options: repetition_penalty: %v is not positive", *r)
	}
	h := Hook{Name: "sampling", Request: func(ctx context.Context, req *Request) error {
		clampMaxTokens(req, limit)
		if o.Temperature != nil {
			t := *o.Temperature
			req.Temperature = &t
		}
		if o.TopP != nil {
			p := *o.TopP
			req.TopP = &p
		}
		if o.TopK != nil {
			k := topK
			req.TopK = &k
		}
		return nil
	}}
	if o.RepetitionPenalty != nil {
		v, _ := json.Marshal(*o.RepetitionPenalty)
		params := map[string]json.RawMessage{"repetition_penalty": v}
		h.Upstream = func(ctx context.Context, req *Request, up *UpstreamRequest) error {
			return mergeBody(up, params, true)
		}
	}
	c.Hooks = append(c.Hooks, h)
	return nil
}

func applyReasoningSwitch(c *Chain, options json.RawMessage) error {
	var o struct {
		Enable *bool `json:"enable"`
	}
	if err := decodeOptions(options, &o); err != nil {
		return err
	}
	enable := o.Enable == nil || *o.Enable
	c.Hooks = append(c.Hooks, Hook{
		Name: "reasoning",
		Request: func(ctx context.Context, req *Request) error {
			if !enable {
				req.Thinking = &Thinking{Type: "disabled"}
			}
			return nil
		},
		Upstream: func(ctx context.Context, req *Request, up *UpstreamRequest) error {
			th := req.Thinking
			if th == nil {
				return nil
			}
			var params map[string]json.RawMessage
			switch th.Type {
			case "disabled":
				params = map[string]json.RawMessage{"enable_thinking": json.RawMessage("false"), "thinking": json.RawMessage(`{"type":"disabled"}`)}
			case "enabled", "adaptive":
				params = map[string]json.RawMessage{"enable_thinking": json.RawMessage("true"), "thinking": json.RawMessage(`{"type":"enabled"}`)}
				if th.Type == "enabled" && th.BudgetTokens > 0 {
					params["thinking_budget"] = json.RawMessage(fmt.Sprint(th.BudgetTokens))
				}
			default:
				return nil
			}
			return mergeBody(up, params, true)
		},
	})
	return nil
}

// ---- forcereasoning and extrathinktag -----------------------------------

// sigThinkTag signs thinking blocks made from tagged answer text.
const sigThinkTag = routerSignaturePrefix + "think"

// forceReasoningPrompt asks a model to reason in tags before answering.
const forceReasoningPrompt = "Before answering, think step by step inside <reasoning_content>...</reasoning_content> tags, " +
	"then give your answer (or your tool calls) after the closing tag."

// maxReplayedThinking bounds how many earlier thinking blocks forcereasoning
// replays as tagged text.
const maxReplayedThinking = 10

func forceReasoningHook() Hook {
	h := thinkTagHook("forcereasoning", "reasoning_content")
	h.Request = func(ctx context.Context, req *Request) error {
		// Replay the most recent thinking as tagged text, so that the model
		// sees the pattern it is asked to follow.
		left := maxReplayedThinking
		for i := len(req.Messages) - 1; i >= 0; i-- {
			m := &req.Messages[i]
			if m.Role != "assistant" {
				continue
			}
			out := m.Content[:0:0]
			for _, b := range m.Content {
				switch b.Type {
				case "thinking":
					if left > 0 && b.Thinking != "" {
						left--
						out = append(out, ContentBlock{Type: "text", Text: "<reasoning_content>" + b.Thinking + "</reasoning_content>"})
					}
					continue
				case "redacted_thinking":
					continue
				}
				out = append(out, b)
			}
			m.Content = out
		}
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == "user" {
				req.Messages[i].Content = append(req.Messages[i].Content, ContentBlock{Type: "text", Text: forceReasoningPrompt})
				break
			}
		}
		return nil
	}
	return h
}

// thinkTagHook turns <tag>…</tag> sections of answer text into thinking.
func thinkTagHook(name, tag string) Hook {
	return Hook{
		Name: name,
		Response: func(ctx context.Context, req *Request, resp *Response) error {
			var out []ContentBlock
			for _, b := range resp.Content {
				if b.Type != "text" || !strings.Contains(b.Text, "<"+tag+">") {
					out = append(out, b)
					continue
				}
				sp := newTagSplitter(tag)
				first := len(out)
				emit := func(thinking bool, s string) {
					typ := "text"
					if thinking {
						typ = "thinking"
					}
					if n := len(out); n > first && out[n-1].Type == typ {
						if thinking {
							out[n-1].Thinking += s
						} else {
							out[n-1].Text += s
						}
						return
					}
					if thinking {
						out = append(out, ContentBlock{Type: "thinking", Thinking: s, Signature: sigThinkTag})
					} else {
						out = append(out, ContentBlock{Type: "text", Text: s})
					}
				}
				sp.feed(b.Text, emit)
				sp.flush(emit)
			}
			resp.Content = out
			return nil
		},
		Stream: func(ctx context.Context, req *Request, src EventReader) EventReader {
			return newHubRewriter(src, &thinkTags{sp: newTagSplitter(tag)})
		},
	}
}

// tagSplitter splits text into the parts inside and outside <tag>…</tag>,
// fed in pieces: a tag split across pieces is held back until it is
// complete or proven not to be a tag. Whitespace right after a tag is
// dropped.
type tagSplitter struct {
	open, close string
	in          bool   // inside the tag
	held        string // a possible partial tag at the end of the input so far
	trim        bool   // drop leading whitespace of the next part
}

func newTagSplitter(tag string) *tagSplitter {
	return &tagSplitter{open: "<" + tag + ">", close: "</" + tag + ">"}
}

// feed splits s, calling emit for every non-empty part.
func (t *tagSplitter) feed(s string, emit func(inside bool, s string)) {
	buf := t.held + s
	t.held = ""
	for buf != "" {
		tag := t.open
		if t.in {
			tag = t.close
		}
		if i := strings.Index(buf, tag); i >= 0 {
			t.emit(buf[:i], emit)
			buf = buf[i+len(tag):]
			t.in = !t.in
			t.trim = true
			continue
		}
		k := partialSuffix(buf, tag)
		t.emit(buf[:len(buf)-k], emit)
		t.held = buf[len(buf)-k:]
		return
	}
}

// flush emits a held partial tag as plain content.
func (t *tagSplitter) flush(emit func(inside bool, s string)) {
	h := t.held
	t.held = ""
	t.emit(h, emit)
}

func (t *tagSplitter) emit(s string, emit func(bool, string)) {
	if t.trim {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return
		}
		t.trim = false
	}
	if s != "" {
		emit(t.in, s)
	}
}

// partialSuffix returns the length of the longest suffix of s that is a
// proper prefix of tag.
func partialSuffix(s, tag string) int {
	n := len(tag) - 1
	if n > len(s) {
		n = len(s)
	}
	for ; n > 0; n-- {
		if strings.HasSuffix(s, tag[:n]) {
			return n
		}
	}
	return 0
}

// thinkTags is the stream side of thinkTagHook.
type thinkTags struct {
	hubHandler
	sp *tagSplitter
}

func (h *thinkTags) text(w *hubRewriter, s string) {
	h.sp.feed(s, func(inside bool, s string) {
		if inside {
			w.thinking(s, sigThinkTag)
		} else {
			w.text(s)
		}
	})
}

func (h *thinkTags) textStop(w *hubRewriter) {
	h.sp.flush(func(inside bool, s string) {
		if inside {
			w.thinking(s, sigThinkTag)
		} else {
			w.text(s)
		}
	})
	w.closeOpen()
}

// ---- tooluse -------------------------------------------------------------

// exitToolName is the tool tooluse adds for answering without a tool.
const exitToolName = "ExitTool"

const toolModeReminder = "<system-reminder>Tool mode is active: respond only by calling tools. " +
	"When no other tool fits, or the task is done, call " + exitToolName + " with your reply to the user as its response argument.</system-reminder>"

// exitTool returns the tool tooluse adds.
func exitTool() Tool {
	return Tool{
		Name:        exitToolName,
		Description: "Reply to the user without using any other tool. Use it only when no other tool fits or the task is complete; the response is shown to the user as your answer.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"response":{"type":"string","description":"your reply to the user"}},"required":["response"]}`),
	}
}

func toolUseHook() Hook {
	return Hook{
		Name: "tooluse",
		Request: func(ctx context.Context, req *Request) error {
			if len(req.Tools) == 0 {
				return nil
			}
			if tc := req.ToolChoice; tc != nil && tc.Type != "auto" {
				return nil // the client chose: none, any or a named tool
			}
			for _, t := range req.Tools {
				if t.Name == exitToolName {
					return nil
				}
			}
			req.Tools = append(req.Tools, exitTool())
			req.ToolChoice = &ToolChoice{Type: "any"}
			req.System = append(req.System, ContentBlock{Type: "text", Text: toolModeReminder})
			return nil
		},
		Response: func(ctx context.Context, req *Request, resp *Response) error {
			others := false
			out := resp.Content[:0:0]
			for _, b := range resp.Content {
				if b.Type == "tool_use" && b.Name == exitToolName {
					if s := exitToolText(b.Input); s != "" {
						out = append(out, ContentBlock{Type: "text", Text: s})
					}
					continue
				}
				if b.Type == "tool_use" {
					others = true
				}
				out = append(out, b)
			}
			resp.Content = out
			if !others && resp.StopReason == "tool_use" {
				resp.StopReason = "end_turn"
			}
			return nil
		},
		Stream: func(ctx context.Context, req *Request, src EventReader) EventReader {
			return newHubRewriter(src, &exitToolStream{})
		},
	}
}

// exitToolText returns the response argument of an ExitTool call; an input
// without one is returned as its JSON text.
func exitToolText(input []byte) string {
	var in struct {
		Response *string `json:"response"`
	}
	if json.Unmarshal(input, &in) == nil && in.Response != nil {
		return *in.Response
	}
	var r argsRepairer
	fixed := r.feed(string(input)) + r.finish()
	if json.Unmarshal([]byte(fixed), &in) == nil && in.Response != nil {
		return *in.Response
	}
	s := strings.TrimSpace(string(input))
	if s == "{}" {
		return ""
	}
	return s
}

// exitToolStream turns a streamed ExitTool call into a text block. The
// response argument is decoded and streamed as text as its JSON arrives;
// an ExitTool call without a string response is sent as text at its end.
type exitToolStream struct {
	hubHandler
	x      *exitExtractor
	others bool // a tool block other than ExitTool was passed on
}

func (h *exitToolStream) toolStart(w *hubRewriter, typ, id, name string) {
	if typ == "tool_use" && name == exitToolName {
		h.x = &exitExtractor{}
		w.closeOpen()
		return
	}
	h.others = h.others || typ == "tool_use"
	w.startTool(typ, id, name)
}

func (h *exitToolStream) toolInput(w *hubRewriter, s string) {
	if h.x != nil {
		w.text(h.x.feed(s))
		return
	}
	w.b.toolInput(s)
}

func (h *exitToolStream) toolStop(w *hubRewriter) {
	if x := h.x; x != nil {
		h.x = nil
		w.text(x.finish())
	}
	w.closeOpen()
}

// exitExtractor streams the response argument out of ExitTool's argument
// JSON: the arguments pass through an argsRepairer, and a small scanner
// over its output decodes the top-level "response" string as it arrives.
type exitExtractor struct {
	rep        argsRepairer
	all        strings.Builder // repaired arguments so far
	depth      int
	inStr      bool
	esc        bool
	readingKey bool
	key        strings.Builder
	lastKey    string
	expectVal  bool
	target     bool   // inside the response string
	raw        []byte // its undecoded bytes
	emitted    bool
	done       bool
}

// feed takes an argument fragment and returns response text to send.
func (x *exitExtractor) feed(s string) string {
	out := x.rep.feed(s)
	x.all.WriteString(out)
	x.scan(out)
	return x.decode(false)
}

// finish returns the rest of the response; when the arguments held no
// string response, the whole of them, as exitToolText renders it.
func (x *exitExtractor) finish() string {
	out := x.rep.finish()
	x.all.WriteString(out)
	x.scan(out)
	if s := x.decode(true); s != "" || x.emitted {
		return s
	}
	return exitToolText([]byte(x.all.String()))
}

func (x *exitExtractor) scan(t string) {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case x.target:
			switch {
			case x.esc:
				x.esc = false
			case c == '\\':
				x.esc = true
			case c == '"':
				x.target, x.done = false, true
				continue
			}
			x.raw = append(x.raw, c)
		case x.inStr:
			switch {
			case x.esc:
				x.esc = false
			case c == '\\':
				x.esc = true
			case c == '"':
				x.inStr = false
				if x.readingKey {
					x.readingKey, x.lastKey = false, x.key.String()
				}
				continue
			}
			if x.readingKey {
				x.key.WriteByte(c)
			}
		case c == '{' || c == '[':
			x.depth++
			x.expectVal = false
		case c == '}' || c == ']':
			x.depth--
		case c == ':' && x.depth == 1:
			x.expectVal = true
		case c == ',' && x.depth == 1:
			x.expectVal = false
		case c == '"':
			x.inStr = true
			if x.depth == 1 && x.expectVal {
				x.expectVal = false
				if x.lastKey == "response" && !x.done {
					x.inStr, x.target = false, true
				}
			} else if x.depth == 1 {
				x.readingKey = true
				x.key.Reset()
			}
		}
	}
}

// decode returns the decodable prefix of the response bytes read so far;
// an escape or a high surrogate at the end waits for what completes it.
func (x *exitExtractor) decode(final bool) string {
	n := len(x.raw)
	if !final {
		if x.esc {
			n--
		} else if n >= 6 && x.raw[n-6] == '\\' && x.raw[n-5] == 'u' && isHighSurrogateHex(x.raw[n-4:n]) {
			n -= 6
		}
	}
	if n <= 0 {
		return ""
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, x.raw[:n]...), '"'), &s) != nil {
		s = string(x.raw[:n])
	}
	x.raw = append(x.raw[:0], x.raw[n:]...)
	if s != "" {
		x.emitted = true
	}
	return s
}

func isHighSurrogateHex(h []byte) bool {
	return len(h) == 4 && (h[0] == 'd' || h[0] == 'D') && strings.ContainsRune("89abAB", rune(h[1]))
}

func (h *exitToolStream) stopReason(w *hubRewriter, reason string) string {
	if reason == "tool_use" && !h.others {
		return "end_turn"
	}
	return reason
}

// ---- tool-call id fixes --------------------------------------------------

// toolIDHook replaces tool_use ids that are all digits (OpenRouter and Groq
// relay some vendors' "0", "1", ... which repeat across turns) or repeat an
// id of the same answer, so that every id the client sees is unique.
func toolIDHook(name string) Hook {
	return Hook{
		Name: name + " tool ids",
		Response: func(ctx context.Context, req *Request, resp *Response) error {
			seen := make(map[string]bool)
			for i := range resp.Content {
				b := &resp.Content[i]
				if b.Type == "tool_use" {
					if badToolID(b.ID, seen) {
						b.ID = randomID("toolu_", 24)
					}
					seen[b.ID] = true
				}
			}
			return nil
		},
		Stream: func(ctx context.Context, req *Request, src EventReader) EventReader {
			return newHubRewriter(src, &toolIDs{seen: make(map[string]bool)})
		},
	}
}

func badToolID(id string, seen map[string]bool) bool {
	if id == "" || seen[id] {
		return true
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

type toolIDs struct {
	hubHandler
	seen map[string]bool
}

func (h *toolIDs) toolStart(w *hubRewriter, typ, id, name string) {
	if typ == "tool_use" {
		if badToolID(id, h.seen) {
			id = randomID("toolu_", 24)
		}
		h.seen[id] = true
	}
	w.startTool(typ, id, name)
}

// ---- enhancetool ---------------------------------------------------------

// repairArgs streams tool arguments through an argsRepairer: what it emits
// is always a prefix of valid JSON, and the rest is emitted when the block
// ends, so a client's final parse succeeds.
type repairArgs struct {
	hubHandler
	r   *argsRepairer
	fed bool
}

func (h *repairArgs) toolStart(w *hubRewriter, typ, id, name string) {
	h.r, h.fed = &argsRepairer{}, false
	w.startTool(typ, id, name)
}

func (h *repairArgs) toolInput(w *hubRewriter, s string) {
	if h.r == nil {
		w.b.toolInput(s)
		return
	}
	h.fed = true
	w.b.toolInput(h.r.feed(s))
}

func (h *repairArgs) toolStop(w *hubRewriter) {
	if h.r != nil && h.fed {
		w.b.toolInput(h.r.finish())
	}
	h.r = nil
	w.closeOpen()
}

// ---- hub stream rewriting ------------------------------------------------

// hubEditor is what a stream hook changes in a hub event stream; the
// hubRewriter calls it for every text fragment and tool block. The
// methods of hubHandler pass everything on unchanged.
type hubEditor interface {
	text(w *hubRewriter, s string)
	textStop(w *hubRewriter)
	toolStart(w *hubRewriter, typ, id, name string)
	toolInput(w *hubRewriter, s string)
	toolStop(w *hubRewriter)
	stopReason(w *hubRewriter, reason string) string
}

// hubHandler is the identity hubEditor, embedded by editors that change
// only some methods.
type hubHandler struct{}

func (hubHandler) text(w *hubRewriter, s string)                   { w.text(s) }
func (hubHandler) textStop(w *hubRewriter)                         { w.closeOpen() }
func (hubHandler) toolStart(w *hubRewriter, typ, id, name string)  { w.startTool(typ, id, name) }
func (hubHandler) toolInput(w *hubRewriter, s string)              { w.b.toolInput(s) }
func (hubHandler) toolStop(w *hubRewriter)                         { w.closeOpen() }
func (hubHandler) stopReason(w *hubRewriter, reason string) string { return reason }

// hubRewriter re-emits a hub (Anthropic) event stream through an
// eventBuilder, letting a hubEditor add, drop or retype content. Block
// indices are renumbered, so the output keeps the stream invariants
// whatever the editor does: one message_start, blocks numbered in start
// order, one block open at a time, every thinking block closed with a
// signature. message_start, message_delta, message_stop and unknown
// events pass through unchanged (message_delta's stop_reason may be
// edited). Errors from src are returned unchanged.
type hubRewriter struct {
	src EventReader
	h   hubEditor
	b   eventBuilder

	in       string // kind of the source block open: text, thinking, tool, other
	sig      string // the source thinking block's signature
	thinkSig string // signature for the thinking block open in b
	out      []Event
	err      error
}

func newHubRewriter(src EventReader, h hubEditor) *hubRewriter {
	return &hubRewriter{src: src, h: h}
}

// ReadEvent returns the next rewritten event.
func (w *hubRewriter) ReadEvent() (Event, error) {
	for len(w.out) == 0 {
		if w.err != nil {
			return Event{}, w.err
		}
		ev, err := w.src.ReadEvent()
		if err != nil {
			w.err = err
			continue
		}
		w.handle(ev)
		w.out = append(w.out, w.b.take()...)
	}
	ev := w.out[0]
	w.out = w.out[1:]
	return ev, nil
}

// text appends answer text, closing an open thinking block with its
// signature first.
func (w *hubRewriter) text(s string) {
	if s == "" {
		return
	}
	if w.b.open == "thinking" {
		w.b.closeBlock(w.thinkSig)
	}
	w.b.text(s)
}

// thinking appends reasoning text; sig is the signature the block gets
// when it is closed other than by its source block's end.
func (w *hubRewriter) thinking(s, sig string) {
	if s == "" {
		return
	}
	if w.b.open != "thinking" {
		w.closeOpen()
		w.thinkSig = sig
	}
	w.b.thinking(s)
}

// startTool opens a tool block.
func (w *hubRewriter) startTool(typ, id, name string) {
	w.closeOpen()
	w.b.startTool(typ, id, name)
}

// closeOpen closes the open block, a thinking block with its signature.
func (w *hubRewriter) closeOpen() {
	if w.b.open == "thinking" {
		w.b.closeBlock(w.thinkSig)
		return
	}
	w.b.closeBlock("")
}

func (w *hubRewriter) pass(ev Event) { w.b.pending = append(w.b.pending, ev) }

// hubBlock is a content block as content_block_start carries it.
type hubBlock struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Text      string `json:"text"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

func (w *hubRewriter) handle(ev Event) {
	typ := ev.Type
	if typ == "" || typ == "message" {
		typ = eventTypeOf(ev.Data)
	}
	switch typ {
	case "message_start":
		w.b.started = true
		w.pass(ev)
	case "content_block_start":
		var e struct {
			ContentBlock json.RawMessage `json:"content_block"`
		}
		var cb hubBlock
		if json.Unmarshal(ev.Data, &e) != nil || json.Unmarshal(e.ContentBlock, &cb) != nil {
			return
		}
		switch cb.Type {
		case "text":
			w.in = "text"
			w.h.text(w, cb.Text)
		case "thinking":
			w.in, w.sig = "thinking", cb.Signature
			w.thinking(cb.Thinking, "")
		case "tool_use", "server_tool_use":
			w.in = "tool"
			w.h.toolStart(w, cb.Type, cb.ID, cb.Name)
		default: // complete blocks: redacted_thinking, web_search_tool_result, ...
			w.in = "other"
			w.closeOpen()
			w.b.block(e.ContentBlock)
		}
	case "content_block_delta":
		var e struct {
			Delta json.RawMessage `json:"delta"`
		}
		var d struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			Thinking    string `json:"thinking"`
			Signature   string `json:"signature"`
			PartialJSON string `json:"partial_json"`
		}
		if json.Unmarshal(ev.Data, &e) != nil || json.Unmarshal(e.Delta, &d) != nil {
			return
		}
		switch d.Type {
		case "text_delta":
			w.h.text(w, d.Text)
		case "thinking_delta":
			w.thinking(d.Thinking, "")
		case "signature_delta":
			w.sig = d.Signature
		case "input_json_delta":
			w.h.toolInput(w, d.PartialJSON)
		default: // citations_delta and future types go to the open block
			if w.b.open != "" && w.in != "other" {
				w.b.delta(e.Delta)
			}
		}
	case "content_block_stop":
		switch w.in {
		case "text":
			w.h.textStop(w)
		case "thinking":
			switch {
			case w.b.open == "thinking":
				w.b.closeBlock(w.sig)
			case w.sig != "": // a block with a signature and no text
				w.closeOpen()
				w.b.signature(w.sig)
			}
		case "tool":
			w.h.toolStop(w)
		}
		w.in, w.sig = "", ""
	case "message_delta":
		w.closeOpen()
		w.b.ended = true
		ev.Data = w.editStopReason(ev.Data)
		w.pass(ev)
	default: // message_stop, ping, unknown events
		w.pass(ev)
	}
}

// editStopReason lets the editor change message_delta's stop_reason.
func (w *hubRewriter) editStopReason(data []byte) []byte {
	delta, err := jsonraw.Get(data, "delta")
	if err != nil || delta == nil {
		return data
	}
	var d struct {
		StopReason string `json:"stop_reason"`
	}
	if json.Unmarshal(delta, &d) != nil {
		return data
	}
	nr := w.h.stopReason(w, d.StopReason)
	if nr == d.StopReason {
		return data
	}
	q, _ := json.Marshal(nr)
	nd, err := jsonraw.Set(delta, "stop_reason", q)
	if err != nil {
		return data
	}
	out, err := jsonraw.Set(data, "delta", nd)
	if err != nil {
		return data
	}
	return out
}

// ---- tool argument repair ------------------------------------------------

// argsRepairer repairs tool-call argument JSON fed in pieces, as a
// streaming scanner: what feed returns, concatenated, is always a prefix
// of a valid JSON object, and finish returns the rest that completes it.
// It fixes what models commonly get wrong: text around the object (code
// fences), unterminated strings, objects and arrays, trailing and missing
// commas, missing colons and values, unquoted keys, single-quoted strings,
// raw control characters in strings, invalid escapes, Python and
// JavaScript literals (True, None, NaN, undefined), and malformed numbers
// (+1, .5, 1.); a bare word in value position becomes a string. Only a
// comma (until the next token shows it is not trailing), a bare value and
// an unfinished \u escape are held back, so long string values stream as
// they arrive. Valid JSON passes through byte for byte, except text before
// the opening brace and after the closing one. Input without any '{'
// becomes {}.
type argsRepairer struct {
	frames  []repairFrame
	started bool
	done    bool

	inStr bool
	quote byte // '"' or '\'' ; 0 for an unquoted key
	esc   bool
	uhex  []byte // digits after \u, non-nil while collecting
	tok   []byte // a bare value being read
	pend  []byte // a held comma and the whitespace after it
	out   []byte
}

type repairFrame struct {
	kind byte // '{' or '['
	st   byte // one of the rs* states
}

const (
	rsKey   = iota // object: expecting a key or '}'
	rsColon        // object: expecting ':'
	rsValue        // expecting a value (or ']' in an array)
	rsNext         // expecting ',' or the closer
)

// feed scans s and returns the repaired text that can be sent now.
func (r *argsRepairer) feed(s string) string {
	r.out = r.out[:0]
	for i := 0; i < len(s); i++ {
		r.scan(s[i])
	}
	return string(r.out)
}

// finish returns the text that completes the object.
func (r *argsRepairer) finish() string {
	r.out = r.out[:0]
	if !r.started {
		r.started, r.done = true, true
		return "{}"
	}
	if r.done {
		return ""
	}
	if r.inStr {
		r.inStr, r.esc, r.uhex = false, false, nil
		r.out = append(r.out, '"')
	}
	if r.tok != nil {
		r.endToken()
	}
	for len(r.frames) > 0 {
		r.closeTop()
	}
	return string(r.out)
}

func (r *argsRepairer) top() *repairFrame { return &r.frames[len(r.frames)-1] }

func (r *argsRepairer) scan(c byte) {
	if r.done {
		return
	}
	if !r.started {
		if c == '{' {
			r.started = true
			r.frames = append(r.frames, repairFrame{kind: '{', st: rsKey})
			r.out = append(r.out, '{')
		}
		return
	}
	if r.inStr {
		r.strByte(c)
		return
	}
	if r.tok != nil {
		if isBareByte(c) {
			r.tok = append(r.tok, c)
			return
		}
		r.endToken()
	}
	f := r.top()
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		if len(r.pend) > 0 {
			r.pend = append(r.pend, c)
		} else {
			r.out = append(r.out, c)
		}
	case c == '"' || c == '\'':
		if _, ok := r.startItem(); ok {
			r.inStr, r.quote = true, c
			r.out = append(r.out, '"')
		}
	case c == '{' || c == '[':
		if f.kind == '{' && (f.st == rsKey || f.st == rsNext) {
			return // a container where a key belongs: garbage
		}
		if _, ok := r.startItem(); ok {
			st := byte(rsValue)
			if c == '{' {
				st = rsKey
			}
			r.frames = append(r.frames, repairFrame{kind: c, st: st})
			r.out = append(r.out, c)
		}
	case c == '}' || c == ']':
		want := byte('{')
		if c == ']' {
			want = '['
		}
		j := len(r.frames) - 1
		for j >= 0 && r.frames[j].kind != want {
			j--
		}
		if j < 0 {
			return // a closer with nothing to close
		}
		for len(r.frames) > j {
			r.closeTop()
		}
	case c == ':' || c == '=':
		if f.kind == '{' && f.st == rsColon {
			r.out = append(r.out, ':')
			f.st = rsValue
		}
	case c == ',':
		if f.st == rsNext {
			r.pend = append(r.pend[:0], ',')
			if f.kind == '{' {
				f.st = rsKey
			} else {
				f.st = rsValue
			}
		}
	case isBareByte(c):
		isKey, ok := r.startItem()
		if !ok {
			return
		}
		if isKey {
			r.inStr, r.quote = true, 0
			r.out = append(r.out, '"')
			r.strByte(c)
			return
		}
		r.tok = append(make([]byte, 0, 8), c)
	}
}

// startItem prepares for a key or value starting in the top frame,
// inserting a missing comma or colon, and reports whether it is a key and
// whether it is acceptable there.
func (r *argsRepairer) startItem() (isKey, ok bool) {
	f := r.top()
	if f.kind == '{' {
		switch f.st {
		case rsKey:
			r.flushPend()
			f.st = rsColon
			return true, true
		case rsNext:
			r.out = append(r.out, ',')
			f.st = rsColon
			return true, true
		case rsColon:
			r.out = append(r.out, ':')
			f.st = rsNext
			return false, true
		case rsValue:
			r.flushPend()
			f.st = rsNext
			return false, true
		}
		return false, false
	}
	switch f.st {
	case rsValue:
		r.flushPend()
	case rsNext:
		r.out = append(r.out, ',')
	default:
		return false, false
	}
	f.st = rsNext
	return false, true
}

func (r *argsRepairer) flushPend() {
	r.out = append(r.out, r.pend...)
	r.pend = r.pend[:0]
}

// closeTop closes the innermost container, completing a dangling key and
// dropping a trailing comma.
func (r *argsRepairer) closeTop() {
	f := r.top()
	r.pend = r.pend[:0]
	if f.kind == '{' {
		switch f.st {
		case rsColon:
			r.out = append(r.out, ":null"...)
		case rsValue:
			r.out = append(r.out, "null"...)
		}
		r.out = append(r.out, '}')
	} else {
		r.out = append(r.out, ']')
	}
	r.frames = r.frames[:len(r.frames)-1]
	if len(r.frames) == 0 {
		r.done = true
	}
}

// strByte scans one byte inside a string.
func (r *argsRepairer) strByte(c byte) {
	if r.quote == 0 { // unquoted key
		if isBareByte(c) && c != '.' && c != '+' {
			r.out = append(r.out, c)
			return
		}
		r.inStr = false
		r.out = append(r.out, '"')
		r.scan(c)
		return
	}
	if r.uhex != nil {
		if isHexByte(c) {
			r.uhex = append(r.uhex, c)
			if len(r.uhex) == 4 {
				r.out = append(append(r.out, `\u`...), r.uhex...)
				r.uhex = nil
			}
			return
		}
		r.out = append(append(r.out, `\\u`...), r.uhex...) // not an escape: a literal backslash
		r.uhex = nil
	}
	if r.esc {
		r.esc = false
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			r.out = append(r.out, '\\', c)
			return
		case 'u':
			r.uhex = make([]byte, 0, 4)
			return
		case '\'':
			r.out = append(r.out, '\'')
			return
		}
		r.out = append(r.out, '\\', '\\') // an invalid escape: keep the backslash as text
	}
	switch {
	case c == r.quote:
		r.inStr = false
		r.out = append(r.out, '"')
	case c == '\\':
		r.esc = true
	case c == '"': // inside a single-quoted string
		r.out = append(r.out, '\\', '"')
	case c < 0x20:
		switch c {
		case '\n':
			r.out = append(r.out, `\n`...)
		case '\r':
			r.out = append(r.out, `\r`...)
		case '\t':
			r.out = append(r.out, `\t`...)
		default:
			r.out = append(r.out, fmt.Sprintf(`\u%04x`, c)...)
		}
	default:
		r.out = append(r.out, c)
	}
}

// endToken emits the bare value read so far as valid JSON.
func (r *argsRepairer) endToken() {
	t := string(r.tok)
	r.tok = nil
	switch t {
	case "true", "false", "null":
		r.out = append(r.out, t...)
		return
	case "True":
		r.out = append(r.out, "true"...)
		return
	case "False":
		r.out = append(r.out, "false"...)
		return
	case "None", "undefined", "nil", "NaN", "Infinity", "-Infinity", "+Infinity":
		r.out = append(r.out, "null"...)
		return
	}
	if (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) && json.Valid([]byte(t)) {
		r.out = append(r.out, t...)
		return
	}
	if n, ok := fixNumber(t); ok {
		r.out = append(r.out, n...)
		return
	}
	q, _ := json.Marshal(t)
	r.out = append(r.out, q...)
}

// fixNumber repairs a number written loosely: +1, .5, 1., 007.
func fixNumber(t string) (string, bool) {
	s := strings.TrimPrefix(t, "+")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	s = strings.TrimSuffix(s, ".")
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	for len(s) > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9' {
		s = s[1:]
	}
	if neg {
		s = "-" + s
	}
	if s == "" || s == "-" || !json.Valid([]byte(s)) || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return "", false
	}
	return s, true
}

func isBareByte(c byte) bool {
	return c >= 0x80 || c == '_' || c == '$' || c == '.' || c == '+' || c == '-' ||
		(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isHexByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
