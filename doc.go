// Package ccr is Claude Code Router for Go: an http.Handler that speaks the
// Anthropic Messages API to its clients (Claude Code and any other
// Anthropic SDK client) and routes each request to a configured provider —
// an OpenAI-compatible server (DeepSeek, OpenRouter, Groq, Ollama, vLLM,
// ...), Gemini, Vertex AI, or Anthropic itself — converting the request,
// the response and the event stream both ways.
//
// A Router is configured with a [Config], usually parsed from the Node
// reference's ~/.claude-code-router/config.json by [ParseConfig], and
// mounted like any handler:
//
//	cfg, warnings, err := ccr.LoadConfig(path, os.Getenv)
//	...
//	rt, err := ccr.New(cfg)
//	...
//	mux.Handle("/llm/", http.StripPrefix("/llm", rt))
//
// # Routing
//
// Each request goes to the first matching route, in the reference's order:
// an image in the last user message (Router.image), a [RouteFunc], an
// explicit "provider,model" model, a long context (Router.longContext above
// longContextThreshold tokens), a <CCR-SUBAGENT-MODEL> tag in the system
// prompt, a background model (a model name containing "claude" and
// "haiku"), a web search tool (Router.webSearch), explicit extended
// thinking (Router.think: thinking.type "enabled"; Claude Code's "adaptive"
// thinking does not count), and Router.default.
//
// # Transformers
//
// A provider's format is a [Transformer]: OpenAI Chat Completions by
// default, or the one its transformer.use chain names (Anthropic, gemini,
// vertex-gemini, vertex-claude, openai-responses). Other chain entries
// ([TransformerDef]) set format options or add [Hook] values that adjust
// the request, the upstream body, the response or the stream.
//
// # Streaming
//
// Streams are pulled through [EventReader] values on the handler goroutine:
// the upstream body is read by an [SSEReader], converted by the format's
// TransformStream and written by an [SSEWriter] that flushes every event.
// The client going away cancels the upstream request at once.
//
// # Errors
//
// Every error a client sees is an [*Error], rendered in Anthropic's shape
// {"type":"error","error":{"type":...,"message":...}} with the matching
// status, or as an "event: error" frame once a stream has started. Upstream
// errors keep their status class; provider keys are never shown.
//
// # Configuration
//
// [ParseConfig] accepts the reference's file unchanged: JSON5, $VAR and
// ${VAR} references, every documented key. Unsupported keys (JavaScript
// custom routers and transformers, the status line) are warnings; wrong
// types and impossible values are errors, all reported at once with their
// JSON path. [Router.Reload] swaps the configuration without dropping a
// request.
package ccr
