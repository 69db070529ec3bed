package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ccrgo/ccr/internal/json5"
)

// Config configures a Router. Fields documented as optional have working
// zero values. A Config is usually read from the reference's config.json
// with [ParseConfig]; Go programs may also build one directly. After a
// Config has been passed to [New] or [Router.Reload] it must not be
// modified.
type Config struct {
	// Providers are the upstreams requests can be routed to.
	Providers []ProviderConfig
	// Router maps routing scenarios to "provider,model" strings.
	Router Routes
	// Fallback maps a scenario name (default, background, think,
	// longContext, webSearch, image) to the "provider,model" pairs tried in
	// order when the routed provider fails before anything reached the
	// client. Optional.
	Fallback map[string][]string
	// APIKey, when set, is the key clients must present as x-api-key or
	// Authorization: Bearer. With no providers configured (setup mode) no
	// key is required.
	APIKey Secret

	// Host and Port are where the server listens; the Router itself does
	// not listen. Optional: "" means 127.0.0.1, 0 means 3456.
	Host string
	Port int
	// Log enables log files; LogLevel is debug, info, warn or error ("" is
	// info). The Router only uses them to describe itself; the server
	// opens the files.
	Log      bool
	LogLevel string

	// APITimeout bounds the wait for an upstream's response headers (its
	// first byte). Optional: 0 means 10 minutes; negative disables.
	APITimeout time.Duration
	// StreamIdleTimeout bounds the silence between two upstream stream
	// events. Optional: 0 means 5 minutes; negative disables.
	StreamIdleTimeout time.Duration
	// ProxyURL routes upstream calls through an HTTP(S) proxy. Optional.
	ProxyURL string
	// MaxRequestBytes caps client request bodies. Optional: 0 means 32 MiB.
	MaxRequestBytes int64
	// MaxResponseBytes caps non-streaming upstream bodies. Optional: 0
	// means 64 MiB.
	MaxResponseBytes int64
	// MaxEventBytes caps one line, and one event's data, of an upstream
	// event stream; a longer one fails the request with an error event.
	// Optional: 0 means 32 MiB ([DefaultMaxLineBytes]).
	MaxEventBytes int
	// RequestBodyTimeout bounds the time a client may take to send its
	// request body, so that a client sending it slowly cannot hold a
	// connection forever (the server's ReadHeaderTimeout bounds the
	// headers). Optional: 0 means 1 minute; negative disables.
	RequestBodyTimeout time.Duration

	// ClaudePath, NonInteractiveMode and SmallFastModel configure the
	// command line's "code" subcommand; the Router ignores them.
	ClaudePath         string
	NonInteractiveMode bool
	SmallFastModel     string

	// RouteFunc, when set, is consulted before the built-in rules, in the
	// place of the reference's JavaScript custom router. Optional.
	RouteFunc RouteFunc
	// Transformers are the names usable in transformer.use chains.
	// Optional: nil means DefaultTransformers().
	Transformers map[string]TransformerDef
	// Transport is the base transport for upstream calls. Optional: nil
	// means a tuned clone of http.DefaultTransport per provider.
	Transport http.RoundTripper
	// Logger receives access records and diagnostics. Optional: nil means
	// slog.Default(), resolved once in New.
	Logger *slog.Logger
	// Env looks up environment variables for transformers that read them
	// (such as GOOGLE_APPLICATION_CREDENTIALS). Optional: nil means none
	// are set.
	Env func(string) string
	// Hooks run around every provider's chain, after the chain's own.
	Hooks []Hook
}

// ProviderConfig is one upstream provider.
type ProviderConfig struct {
	// Name identifies the provider in "provider,model" strings.
	Name string
	// BaseURL is the reference's api_base_url: for OpenAI-format providers
	// the full endpoint URL, posted to as given.
	BaseURL string
	// APIKeys are the provider's keys, used round-robin. Empty means the
	// provider needs no credentials (local servers such as Ollama).
	APIKeys []Secret
	// Models lists the provider's models, for explicit-model case
	// normalisation, the UI and GET /v1/models. Not enforced.
	Models []string
	// Use is the provider-level transformer chain.
	Use []TransformerUse
	// ModelUse holds model-level chains, applied after Use for that model.
	ModelUse map[string][]TransformerUse
	// MaxConcurrency caps concurrent upstream requests; 0 means no cap.
	MaxConcurrency int
	// CountTokens selects how count_tokens requests naming this provider
	// explicitly are answered: "" or "local" counts locally, "upstream"
	// asks the provider when its format can (Anthropic, Gemini) and falls
	// back to the local count on failure.
	CountTokens string
}

// TransformerUse is one entry of a transformer.use chain: a name, with
// options when written as a [name, options] tuple.
type TransformerUse struct {
	Name    string
	Options json.RawMessage
}

// Routes maps routing scenarios to "provider,model" strings. Empty means
// the scenario is not routed specially.
type Routes struct {
	Default     string
	Background  string
	Think       string
	LongContext string
	WebSearch   string
	Image       string
	// LongContextThreshold is the token count above which LongContext
	// applies. Optional: 0 means 60000.
	LongContextThreshold int
}

// Secret is a string that must not appear in logs: its String, GoString,
// LogValue and MarshalJSON methods return "REDACTED".
type Secret string

// String returns "REDACTED".
func (Secret) String() string { return "REDACTED" }

// GoString returns "REDACTED".
func (Secret) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON encodes the secret as "REDACTED".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// Problem is one configuration problem, located by its JSON path in the
// reference's file format, such as "Providers[2].api_base_url".
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ConfigError reports every error found in a configuration at once.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("ccr: invalid config:")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects problems during parsing and validation.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ConfigError{Problems: append([]Problem(nil), ps...)}
}

// DefaultConfigPath returns the reference's config file location,
// ~/.claude-code-router/config.json, for the given home directory.
func DefaultConfigPath(home string) string {
	return filepath.Join(home, ".claude-code-router", "config.json")
}

// LoadConfig reads and parses the config file at path. A missing file is
// not an error: it yields an empty configuration (setup mode) and a
// warning.
func LoadConfig(path string, getenv func(string) string) (Config, []Problem, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Config{Log: true}, []Problem{{Message: "no config file at " + path + ": starting in setup mode"}}, nil
	}
	if err != nil {
		return Config{}, nil, fmt.Errorf("ccr: read config: %w", err)
	}
	return ParseConfig(bytes.NewReader(data), getenv)
}

// ParseConfig parses a configuration in the reference's config.json format
// (JSON5 accepted), expanding $VAR and ${VAR} references in string values
// through getenv (nil means no variable is set). It returns the warnings
// (unknown or unsupported keys, unset variables) and, when the file has
// errors (bad syntax, wrong types, impossible values), a *ConfigError
// listing all of them. Values are checked further by [New].
func ParseConfig(r io.Reader, getenv func(string) string) (Config, []Problem, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	src, err := io.ReadAll(r)
	if err != nil {
		return Config{}, nil, fmt.Errorf("ccr: read config: %w", err)
	}
	js, err := json5.ToJSON(src)
	if err != nil {
		return Config{}, nil, &ConfigError{Problems: []Problem{{Message: "syntax error: " + err.Error()}}}
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return Config{}, nil, &ConfigError{Problems: []Problem{{Message: "syntax error: " + err.Error()}}}
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return Config{}, nil, &ConfigError{Problems: []Problem{{Message: "the configuration must be a JSON object"}}}
	}
	p := &configParser{getenv: getenv}
	cfg := p.parse(top)
	return cfg, p.warnings, p.errors.err()
}

type configParser struct {
	getenv   func(string) string
	warnings problems
	errors   problems
}

// unsupported keys of the reference, with why they are ignored.
var unsupportedKeys = map[string]string{
	"CUSTOM_ROUTER_PATH":             "JavaScript custom routers are not supported; use Config.RouteFunc from Go",
	"REWRITE_SYSTEM_PROMPT":          "not supported: it injects a file into every prompt",
	"transformers":                   "JavaScript transformer modules are not supported; register a Go TransformerDef instead",
	"StatusLine":                     "the status line is not supported",
	"plugins":                        "plugins are not supported",
	"Plugins":                        "plugins are not supported",
	"OPENAI_API_KEY":                 "legacy key, ignored (as by the reference)",
	"OPENAI_BASE_URL":                "legacy key, ignored (as by the reference)",
	"OPENAI_MODEL":                   "legacy key, ignored (as by the reference)",
	"log":                            "legacy key, ignored (as by the reference)",
	"LOG_FILE":                       "ignored: log files are under ~/.claude-code-router/logs",
	"GOOGLE_CLOUD_PROJECT":           "", // read by the vertex transformers through the environment
	"GOOGLE_CLOUD_LOCATION":          "",
	"GOOGLE_APPLICATION_CREDENTIALS": "",
}

func (p *configParser) parse(top map[string]any) Config {
	cfg := Config{Log: true}
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "Providers", "providers":
			if _, both := top["Providers"]; both && k == "providers" {
				p.warnings.add(k, "ignored: Providers is also set")
				continue
			}
			cfg.Providers = p.providers(k, v)
		case "Router":
			cfg.Router = p.routes(k, v)
		case "fallback":
			cfg.Fallback = p.fallback(k, v)
		case "APIKEY":
			raw, _ := v.(string)
			s := p.str(k, v)
			if raw != "" && s == "" {
				p.errors.add(k, "refers to an unset environment variable: refusing to run without the key you asked for")
			}
			cfg.APIKey = Secret(s)
		case "HOST":
			cfg.Host = p.str(k, v)
		case "PORT":
			cfg.Port = p.intOrString(k, v, 1, 65535)
		case "LOG":
			cfg.Log = p.boolean(k, v)
		case "LOG_LEVEL":
			lvl := strings.ToLower(p.str(k, v))
			switch lvl {
			case "", "debug", "info", "warn", "error":
			case "trace":
				lvl = "debug"
			case "fatal":
				lvl = "error"
			default:
				p.errors.add(k, "unknown level %q (want debug, info, warn or error)", lvl)
			}
			cfg.LogLevel = lvl
		case "API_TIMEOUT_MS":
			cfg.APITimeout = time.Duration(p.intOrString(k, v, 1, 1<<40)) * time.Millisecond
		case "STREAM_IDLE_TIMEOUT_MS":
			cfg.StreamIdleTimeout = time.Duration(p.intOrString(k, v, 1, 1<<40)) * time.Millisecond
		case "MAX_REQUEST_BYTES":
			cfg.MaxRequestBytes = int64(p.intOrString(k, v, 1024, 1<<40))
		case "PROXY_URL", "HTTPS_PROXY", "https_proxy", "httpsProxy":
			if s := p.str(k, v); s != "" {
				if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
					p.errors.add(k, "not a proxy URL")
				} else if cfg.ProxyURL == "" || k == "PROXY_URL" {
					cfg.ProxyURL = s
				}
			}
		case "CLAUDE_PATH":
			cfg.ClaudePath = p.str(k, v)
		case "NON_INTERACTIVE_MODE":
			cfg.NonInteractiveMode = p.boolean(k, v)
		case "ANTHROPIC_SMALL_FAST_MODEL":
			cfg.SmallFastModel = p.str(k, v)
		case "forceUseImageAgent":
			if p.boolean(k, v) {
				p.warnings.add(k, "the image agent is not supported; images go to Router.image when it is set")
			}
		default:
			why, known := unsupportedKeys[k]
			switch {
			case known && why == "":
			case known:
				p.warnings.add(k, "%s", why)
			default:
				p.warnings.add(k, "unknown key, ignored")
			}
		}
	}
	return cfg
}

// array returns v as an array, reporting anything else as not being
// what; null is an empty array when nullOK.
func (p *configParser) array(path string, v any, what string, nullOK bool) []any {
	if v == nil && nullOK {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		p.errors.add(path, "expected %s, got %s", what, kind(v))
	}
	return arr
}

// itemPath is the JSON path of element i of the array at path.
func itemPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (p *configParser) providers(path string, v any) []ProviderConfig {
	arr := p.array(path, v, "an array of providers", false)
	out := make([]ProviderConfig, 0, len(arr))
	for i, item := range arr {
		pp := itemPath(path, i)
		obj, ok := item.(map[string]any)
		if !ok {
			p.errors.add(pp, "expected an object, got %s", kind(item))
			continue
		}
		var pc ProviderConfig
		for _, k := range sortedKeys(obj) {
			fv := obj[k]
			fp := pp + "." + k
			switch k {
			case "name":
				pc.Name = p.str(fp, fv)
			case "api_base_url", "baseUrl", "baseURL":
				pc.BaseURL = p.str(fp, fv)
			case "api_key", "api_keys", "apiKey":
				pc.APIKeys = append(pc.APIKeys, p.keys(fp, fv)...)
			case "models":
				pc.Models = p.strings(fp, fv)
			case "transformer":
				pc.Use, pc.ModelUse = p.transformer(fp, fv)
			case "count_tokens":
				switch pc.CountTokens = p.str(fp, fv); pc.CountTokens {
				case "", "local", "upstream":
				default:
					p.errors.add(fp, `expected "local" or "upstream", got %q`, pc.CountTokens)
				}
			case "max_concurrency":
				pc.MaxConcurrency = p.intOrString(fp, fv, 0, 1<<20)
			case "tokenizer":
				p.warnings.add(fp, "per-provider tokenizers are not supported; counts use cl100k_base")
			default:
				p.warnings.add(fp, "unknown key, ignored")
			}
		}
		out = append(out, pc)
	}
	return out
}

func (p *configParser) keys(path string, v any) []Secret {
	switch t := v.(type) {
	case string:
		s := p.str(path, t)
		if s == "" {
			return nil
		}
		return []Secret{Secret(s)}
	case []any:
		var out []Secret
		for i, item := range t {
			if s := p.str(itemPath(path, i), item); s != "" {
				out = append(out, Secret(s))
			}
		}
		return out
	case nil:
		return nil
	}
	p.errors.add(path, "expected a string or an array of strings, got %s", kind(v))
	return nil
}

func (p *configParser) transformer(path string, v any) ([]TransformerUse, map[string][]TransformerUse) {
	obj, ok := v.(map[string]any)
	if !ok {
		p.errors.add(path, "expected an object, got %s", kind(v))
		return nil, nil
	}
	var use []TransformerUse
	var models map[string][]TransformerUse
	for _, k := range sortedKeys(obj) {
		if k == "use" {
			use = p.use(path+".use", obj[k])
			continue
		}
		var mp string
		if !isIdentKey(k) {
			mp = path + "[" + strconv.Quote(k) + "]"
		} else {
			mp = path + "." + k
		}
		mo, ok := obj[k].(map[string]any)
		if !ok {
			p.errors.add(mp, "expected an object with a \"use\" array, got %s", kind(obj[k]))
			continue
		}
		for _, mk := range sortedKeys(mo) {
			if mk != "use" {
				p.warnings.add(mp+"."+mk, "unknown key, ignored")
			}
		}
		if models == nil {
			models = make(map[string][]TransformerUse)
		}
		models[k] = p.use(mp+".use", mo["use"])
	}
	return use, models
}

func (p *configParser) use(path string, v any) []TransformerUse {
	arr := p.array(path, v, "an array", true)
	if arr == nil {
		return nil
	}
	out := make([]TransformerUse, 0, len(arr))
	for i, item := range arr {
		ip := itemPath(path, i)
		switch t := item.(type) {
		case string:
			out = append(out, TransformerUse{Name: t})
		case []any:
			if len(t) == 0 || len(t) > 2 {
				p.errors.add(ip, "expected a name or a [name, options] pair")
				continue
			}
			name, ok := t[0].(string)
			if !ok {
				p.errors.add(ip+"[0]", "expected a transformer name, got %s", kind(t[0]))
				continue
			}
			u := TransformerUse{Name: name}
			if len(t) == 2 && t[1] != nil {
				if _, ok := t[1].(map[string]any); !ok {
					p.errors.add(ip+"[1]", "expected an options object, got %s", kind(t[1]))
					continue
				}
				b, err := json.Marshal(t[1])
				if err != nil {
					p.errors.add(ip+"[1]", "bad options: %v", err)
					continue
				}
				u.Options = b
			}
			out = append(out, u)
		default:
			p.errors.add(ip, "expected a name or a [name, options] pair, got %s", kind(item))
		}
	}
	return out
}

func (p *configParser) routes(path string, v any) Routes {
	obj, ok := v.(map[string]any)
	if !ok {
		p.errors.add(path, "expected an object, got %s", kind(v))
		return Routes{}
	}
	var r Routes
	for _, k := range sortedKeys(obj) {
		fp := path + "." + k
		fv := obj[k]
		switch k {
		case "default":
			r.Default = p.str(fp, fv)
		case "background":
			r.Background = p.str(fp, fv)
		case "think":
			r.Think = p.str(fp, fv)
		case "longContext":
			r.LongContext = p.str(fp, fv)
		case "webSearch":
			r.WebSearch = p.str(fp, fv)
		case "image":
			r.Image = p.str(fp, fv)
		case "longContextThreshold":
			r.LongContextThreshold = p.intOrString(fp, fv, 1, 1<<30)
		default:
			p.warnings.add(fp, "unknown routing scenario, ignored")
		}
	}
	return r
}

func (p *configParser) fallback(path string, v any) map[string][]string {
	obj, ok := v.(map[string]any)
	if !ok {
		p.errors.add(path, "expected an object mapping scenarios to lists of \"provider,model\", got %s", kind(v))
		return nil
	}
	out := make(map[string][]string, len(obj))
	for _, k := range sortedKeys(obj) {
		fp := path + "." + k
		switch k {
		case "default", "background", "think", "longContext", "webSearch", "image":
		default:
			p.warnings.add(fp, "unknown scenario, ignored")
			continue
		}
		out[k] = p.strings(fp, obj[k])
	}
	return out
}

func (p *configParser) str(path string, v any) string {
	switch t := v.(type) {
	case string:
		return p.expand(path, t)
	case nil:
		return ""
	}
	p.errors.add(path, "expected a string, got %s", kind(v))
	return ""
}

func (p *configParser) strings(path string, v any) []string {
	arr := p.array(path, v, "an array of strings", true)
	if arr == nil {
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, item := range arr {
		if s, ok := item.(string); ok {
			out = append(out, p.expand(itemPath(path, i), s))
		} else {
			p.errors.add(itemPath(path, i), "expected a string, got %s", kind(item))
		}
	}
	return out
}

func (p *configParser) boolean(path string, v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		switch strings.ToLower(p.expand(path, t)) {
		case "true", "1", "yes":
			return true
		case "false", "0", "no", "":
			return false
		}
	}
	p.errors.add(path, "expected true or false, got %s", kind(v))
	return false
}

// intOrString accepts a number or a numeric string (the reference allows
// both for API_TIMEOUT_MS and PORT) within [lo, hi].
func (p *configParser) intOrString(path string, v any, lo, hi int) int {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(p.expand(path, t))
		if s == "" {
			return 0
		}
	case nil:
		return 0
	default:
		p.errors.add(path, "expected a number, got %s", kind(v))
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		p.errors.add(path, "expected a whole number, got %q", s)
		return 0
	}
	if n < lo || n > hi {
		p.errors.add(path, "%d is out of range [%d, %d]", n, lo, hi)
		return 0
	}
	return n
}

// expand replaces $NAME and ${NAME} references (NAME: upper-case letters,
// digits and '_', not starting with a digit) with the variable's value. An
// unset variable becomes "" and a warning that names it (never its value).
func (p *configParser) expand(path, s string) string {
	if strings.IndexByte(s, '$') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		name, end := "", i+1
		if end < len(s) && s[end] == '{' {
			if j := strings.IndexByte(s[end:], '}'); j > 1 {
				name, end = s[end+1:end+j], end+j+1
			}
		} else {
			for end < len(s) && isEnvChar(s[end], end == i+1) {
				end++
			}
			name = s[i+1 : end]
		}
		if name == "" {
			b.WriteByte('$')
			i++
			continue
		}
		val := p.getenv(name)
		if val == "" {
			p.warnings.add(path, "environment variable %s is not set", name)
		}
		b.WriteString(val)
		i = end
	}
	return b.String()
}

func isEnvChar(c byte, first bool) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}

func isIdentKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return k != ""
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// splitRoute splits "provider,model" at the first comma.
func splitRoute(s string) (provider, model string, ok bool) {
	i := strings.IndexByte(s, ',')
	if i < 0 {
		return "", "", false
	}
	provider, model = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	return provider, model, provider != "" && model != ""
}
