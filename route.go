package ccr

import (
	"context"
	"net/http"
	"strings"
)

// RouteRequest describes a request being routed, for a [RouteFunc].
type RouteRequest struct {
	// Request is the client's request; it must not be modified.
	Request *Request
	// Header is the client's request header.
	Header http.Header
	// TokenCount is the request's estimated input token count.
	TokenCount int
	// SessionID is the client session, from metadata.user_id or the
	// x-claude-code-session-id header; "" when unknown.
	SessionID string
}

// RouteFunc chooses the "provider,model" for a request, in the place of the
// reference's JavaScript custom router. It returns "" to leave the choice
// to the built-in rules. An error fails the request; return an *Error to
// choose its status.
type RouteFunc func(ctx context.Context, rr *RouteRequest) (string, error)

// Route scenario names, as used in access records and Config.Fallback.
const (
	ScenarioDefault     = "default"
	ScenarioBackground  = "background"
	ScenarioThink       = "think"
	ScenarioLongContext = "longContext"
	ScenarioWebSearch   = "webSearch"
	ScenarioImage       = "image"
	ScenarioExplicit    = "explicit"
	ScenarioSubagent    = "subagent"
	ScenarioCustom      = "custom"
)

// decision is the outcome of routing.
type decision struct {
	scenario string
	provider *provider
	model    string
	tokens   int // -1 when not counted
}

const (
	subagentOpen  = "<CCR-SUBAGENT-MODEL>"
	subagentClose = "</CCR-SUBAGENT-MODEL>"
)

// routeInput is a request as routing reads it: decoded in full, or
// sketched, and then decoded only when a rule needs more than the sketch.
type routeInput struct {
	req  *Request // decoded in full, or the sketch's shallow request
	sk   *sketch  // nil once req is decoded in full
	body []byte   // what sk sketched
}

// full decodes and validates the sketched request in full, in place of the
// shallow one, keeping what the Router set on it. It is a no-op once done.
func (in *routeInput) full() (*Request, error) {
	if in.sk == nil {
		return in.req, nil
	}
	req, err := parseMessages(in.body, false)
	if err != nil {
		return nil, err
	}
	req.Raw, req.Header, req.ClientModel = in.req.Raw, in.req.Header, in.req.ClientModel
	*in.req = *req
	in.sk = nil
	return in.req, nil
}

// route applies the routing rules to req, in the reference's order: image,
// custom RouteFunc, explicit "provider,model", long context, subagent tag,
// background, web search, think, default. It removes a subagent tag from
// the system prompt (and then clears req.Raw).
func (st *state) route(ctx context.Context, r *http.Request, req *Request, session string) (decision, error) {
	return st.routeInput(ctx, r, &routeInput{req: req}, session)
}

func (st *state) routeInput(ctx context.Context, r *http.Request, in *routeInput, session string) (decision, error) {
	tag := extractSubagentTag(in.req) // a sketch has none
	tokens := -1
	count := func() (int, error) {
		if tokens < 0 {
			req, err := in.full()
			if err != nil {
				return 0, err
			}
			tokens = st.d.tokens.Count(req)
		}
		return tokens, nil
	}
	rt := st.cfg.Router

	if rt.Image != "" && (in.sk == nil || in.sk.lastUserImage) {
		req, err := in.full()
		if err != nil {
			return decision{}, err
		}
		if lastUserHasImage(req) {
			return st.resolve(ScenarioImage, rt.Image, tokens)
		}
	}
	if st.cfg.RouteFunc != nil {
		req, err := in.full()
		if err != nil {
			return decision{}, err
		}
		n, err := count()
		if err != nil {
			return decision{}, err
		}
		choice, err := st.cfg.RouteFunc(ctx, &RouteRequest{Request: req, Header: r.Header, TokenCount: n, SessionID: session})
		if err != nil {
			return decision{}, err
		}
		if choice != "" {
			return st.resolve(ScenarioCustom, choice, tokens)
		}
	}
	req := in.req
	if strings.IndexByte(req.Model, ',') >= 0 {
		return st.resolveExplicit(req.Model, tokens)
	}
	if rt.LongContext != "" {
		threshold := rt.LongContextThreshold
		if threshold <= 0 {
			threshold = 60000
		}
		// The rule holds above threshold, or above 20000 in a session
		// whose last request was above threshold. An upper bound below
		// both saves the count.
		below := threshold
		if st.d.sessions.lastInput(session) > threshold {
			below = min(threshold, 20000)
		}
		if !in.tokensAtMost(below) {
			n, err := count()
			if err != nil {
				return decision{}, err
			}
			if n > below {
				return st.resolve(ScenarioLongContext, rt.LongContext, tokens)
			}
		}
	}
	if tag != "" {
		return st.resolve(ScenarioSubagent, tag, tokens)
	}
	if rt.Background != "" {
		m := strings.ToLower(req.Model)
		if strings.Contains(m, "claude") && strings.Contains(m, "haiku") {
			return st.resolve(ScenarioBackground, rt.Background, tokens)
		}
	}
	if rt.WebSearch != "" && in.webSearch() {
		return st.resolve(ScenarioWebSearch, rt.WebSearch, tokens)
	}
	if rt.Think != "" && req.Thinking != nil && req.Thinking.Type == "enabled" && req.Thinking.BudgetTokens > 0 {
		return st.resolve(ScenarioThink, rt.Think, tokens)
	}
	if rt.Default == "" {
		return decision{}, &Error{Status: http.StatusBadRequest, Message: "no route for this request: Router.default is not set in the configuration", Err: ErrNoRoute}
	}
	return st.resolve(ScenarioDefault, rt.Default, tokens)
}

// tokensAtMost reports whether the request's token count is certainly at
// most n, without counting.
func (in *routeInput) tokensAtMost(n int) bool {
	if in.sk != nil {
		return in.sk.tokensAtMost(in.body, n)
	}
	return in.body != nil && !mayHoldMedia(in.req) && bodyTokensAtMost(in.body, n)
}

func (in *routeInput) webSearch() bool {
	if in.sk != nil {
		return in.sk.webSearch
	}
	for i := range in.req.Tools {
		if in.req.Tools[i].IsWebSearch() {
			return true
		}
	}
	return false
}

// resolve turns a configured "provider,model" into a decision.
func (st *state) resolve(scenario, target string, tokens int) (decision, error) {
	name, model, ok := splitRoute(target)
	if !ok {
		return decision{}, &Error{Status: http.StatusBadRequest, Message: "route " + scenario + `: expected "provider,model", got ` + quoteForMessage(target)}
	}
	p := st.lookup(name)
	if p == nil {
		return decision{}, &Error{Status: http.StatusNotFound, Message: "provider " + quoteForMessage(name) + " not found", Err: ErrNoRoute}
	}
	return decision{scenario: scenario, provider: p, model: canonicalModel(p, model), tokens: tokens}, nil
}

// resolveExplicit handles a client's "provider,model", restoring the
// configured case of both names (Claude Code lower-cases /model input).
func (st *state) resolveExplicit(target string, tokens int) (decision, error) {
	name, model, ok := splitRoute(target)
	if !ok {
		return decision{}, &Error{Status: http.StatusBadRequest, Message: `model: expected "<provider>,<model>", got ` + quoteForMessage(target)}
	}
	p := st.lookup(name)
	if p == nil {
		return decision{}, &Error{Status: http.StatusNotFound, Message: "model: provider " + quoteForMessage(name) + " not found", Err: ErrNoRoute}
	}
	return decision{scenario: ScenarioExplicit, provider: p, model: canonicalModel(p, model), tokens: tokens}, nil
}

func (st *state) lookup(name string) *provider {
	if p, ok := st.byName[name]; ok {
		return p
	}
	return st.byLower[strings.ToLower(name)]
}

func canonicalModel(p *provider, model string) string {
	for _, m := range p.models {
		if m == model {
			return m
		}
	}
	for _, m := range p.models {
		if strings.EqualFold(m, model) {
			return m
		}
	}
	return model
}

func quoteForMessage(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return `"` + s + `"`
}

// extractSubagentTag finds <CCR-SUBAGENT-MODEL>provider,model</CCR-SUBAGENT-MODEL>
// at the start of any system text block, removes it, and returns the
// target. Unlike the reference, which looks only at system[1] and leaves
// the tag in place when long context wins, the tag is always removed: it
// is a routing instruction, not part of the prompt.
func extractSubagentTag(req *Request) string {
	for i := range req.System {
		b := &req.System[i]
		if b.Type != "text" {
			continue
		}
		t := strings.TrimLeft(b.Text, " \t\r\n")
		if !strings.HasPrefix(t, subagentOpen) {
			continue
		}
		end := strings.Index(t, subagentClose)
		if end < 0 {
			continue
		}
		target := strings.TrimSpace(t[len(subagentOpen):end])
		b.Text = t[end+len(subagentClose):]
		req.Raw = nil
		return target
	}
	return ""
}

// lastUserHasImage reports whether the last user message carries an
// image, directly or inside a tool_result.
func lastUserHasImage(req *Request) bool {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := &req.Messages[i]
		if m.Role != "user" {
			continue
		}
		for j := range m.Content {
			b := &m.Content[j]
			switch b.Type {
			case "image":
				return true
			case "tool_result":
				if c, err := b.ToolResultContent(); err == nil {
					for k := range c {
						if c[k].Type == "image" {
							return true
						}
					}
				}
			}
		}
		return false
	}
	return false
}

// sessionID returns the session key: the x-claude-code-session-id header,
// else the part of metadata.user_id after "_session_".
func sessionID(r *http.Request, req *Request) string {
	if s := r.Header.Get("X-Claude-Code-Session-Id"); s != "" {
		return s
	}
	if len(req.Metadata) == 0 {
		return ""
	}
	var md struct {
		UserID string `json:"user_id"`
	}
	if err := jsonUnmarshal(req.Metadata, &md); err != nil {
		return ""
	}
	if i := strings.Index(md.UserID, "_session_"); i >= 0 {
		return md.UserID[i+len("_session_"):]
	}
	return ""
}
