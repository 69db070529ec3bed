package ccr

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
	// RepairToolArgs repairs malformed tool-call argument JSON.
	RepairToolArgs bool
}
