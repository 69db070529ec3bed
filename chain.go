package ccr

import (
	"encoding/json"
	"net/http"
)

// TransformerDef describes one name that may appear in a provider's
// transformer.use chain, such as "deepseek" or ["maxtoken", {"max_tokens":
// 8192}]. [DefaultTransformers] returns the built-in ones; Config.Transformers
// lets a Go user add their own or replace a built-in.
type TransformerDef struct {
	Name        string      // the name used in config, matched exactly
	Description string      // one sentence for humans, shown by GET /api/transformers
	Endpoint    string      // the upstream API it speaks, "" for hooks
	Options     []OptionDef // the options it accepts, for documentation

	// Apply adds the entry's effect to the chain being built. options is
	// the entry's options object, nil for a bare name. Bad options return
	// an error, reported as a config error with the entry's JSON path.
	Apply func(c *Chain, options json.RawMessage) error
}

// OptionDef documents one option of a [TransformerDef].
type OptionDef struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // "number", "string", "boolean", "object", "any"
	Description string `json:"description"`
}

// Chain is a provider's transformer chain under construction: the provider
// chain's entries, then the model chain's, are applied in order. After the
// last entry, a nil Format means the OpenAI Chat Completions format built
// from OpenAI.
type Chain struct {
	// Provider, BaseURL, Model and Env describe where the chain is used;
	// read-only for Apply functions. Model is "" for a provider-level chain.
	Provider string
	BaseURL  string
	Model    string
	Env      func(string) string
	// Transport is the provider's HTTP transport, for transformers that
	// must call a side service (such as an OAuth token endpoint).
	Transport http.RoundTripper

	// Format is the upstream format transformer; nil means OpenAI.
	Format Transformer
	// OpenAI configures the default OpenAI Chat Completions format.
	OpenAI OpenAIOptions
	// Hooks run around Format, in order.
	Hooks []Hook
}

// DefaultTransformers returns the built-in transformer definitions keyed by
// name. It returns a fresh map on every call; callers may modify it.
func DefaultTransformers() map[string]TransformerDef {
	m := make(map[string]TransformerDef)
	for _, d := range builtinTransformers() {
		m[d.Name] = d
	}
	return m
}
