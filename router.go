package ccr

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Version is the ccr version reported by the server and the API.
const Version = "0.1.0"

// Router is an http.Handler that serves the Anthropic Messages API and
// routes each request to a configured provider. It serves:
//
//	POST /v1/messages               Anthropic Messages, JSON or SSE
//	POST /v1/messages/count_tokens  {"input_tokens": N}
//	GET  /v1/models                 the configured provider,model pairs
//	GET  /health                    liveness, public
//
// A Router is safe for concurrent use. It may be mounted under a prefix
// with [http.StripPrefix]. [Router.Reload] swaps its configuration
// atomically: each request runs to its end on the configuration it started
// with.
type Router struct {
	state atomic.Pointer[state]
	d     *deps
}

// deps is what outlives configuration snapshots.
type deps struct {
	tokens     *TokenCounter
	sessions   *sessionCache
	trail      *requestTrail
	transports transports
	semaphores semaphores
	sseSlabs   slabPool
	start      time.Time
	now        func() time.Time

	total    atomic.Int64
	errors   atomic.Int64
	inFlight atomic.Int64
	streams  atomic.Int64

	observers atomic.Pointer[[]func(*RequestRecord)]
}

// state is one immutable configuration snapshot.
type state struct {
	d         *deps
	cfg       Config
	log       *slog.Logger
	providers []*provider
	byName    map[string]*provider
	byLower   map[string]*provider
	fallback  map[string][]string
	apiKey    []byte
	mux       *http.ServeMux
	// passthrough: some provider forwards bodies as they came, and so
	// requests are sketched before they are decoded.
	passthrough bool

	maxBody      int64
	maxResp      int64
	maxEvent     int
	bodyTimeout  time.Duration
	firstByte    time.Duration
	idle         time.Duration
	pingInterval time.Duration
}

// New returns a Router for cfg. It reports every problem in cfg at once as
// a *ConfigError, does not start goroutines or dial, and does not retain
// cfg's maps or slices.
func New(cfg Config) (*Router, error) {
	d := &deps{
		tokens:   NewTokenCounter(0),
		sessions: newSessionCache(1000),
		trail:    newRequestTrail(200),
		start:    time.Now(),
		now:      time.Now,
	}
	st, err := newState(cfg, d)
	if err != nil {
		return nil, err
	}
	rt := &Router{d: d}
	rt.state.Store(st)
	return rt, nil
}

// Reload validates cfg exactly as New does and, if it is valid, makes it
// the live configuration. Requests in flight finish on the configuration
// they started with. On error the old configuration stays live.
func (rt *Router) Reload(cfg Config) error {
	st, err := newState(cfg, rt.d)
	if err != nil {
		return err
	}
	rt.state.Store(st)
	rt.d.transports.closeIdle()
	return nil
}

// Validate reports whether cfg would be accepted by New, with every
// problem at once, without building a Router.
func Validate(cfg Config) error {
	_, err := newState(cfg, &deps{tokens: nil})
	return err
}

// Config returns a copy of the live configuration. Its secrets are of type
// [Secret] and print as "REDACTED".
func (rt *Router) Config() Config {
	c := rt.state.Load().cfg
	c.Providers = append([]ProviderConfig(nil), c.Providers...)
	return c
}

// Close closes idle upstream connections. It is safe to call more than once.
func (rt *Router) Close() error {
	rt.d.transports.closeIdle()
	return nil
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.state.Load().mux.ServeHTTP(w, r)
}

// Authenticate checks the client credentials of r against the live
// configuration: an x-api-key header or an Authorization: Bearer token
// equal to APIKey, compared in constant time. Without an APIKey (or in
// setup mode) it instead refuses browser requests from other origins and
// requests whose Host is not a loopback name, which would otherwise let any
// web page reach a router listening on localhost. It returns nil or an
// *Error to send.
func (rt *Router) Authenticate(r *http.Request) error {
	return rt.state.Load().authenticate(r)
}

// Stats is a snapshot of the Router's request counters.
type Stats struct {
	Total     int64 `json:"total"`
	Errors    int64 `json:"errors"`
	InFlight  int64 `json:"in_flight"`
	Streams   int64 `json:"streams"`
	SetupMode bool  `json:"setup_mode"`
	Uptime    time.Duration
}

// Stats returns the request counters.
func (rt *Router) Stats() Stats {
	st := rt.state.Load()
	return Stats{
		Total:     rt.d.total.Load(),
		Errors:    rt.d.errors.Load(),
		InFlight:  rt.d.inFlight.Load(),
		Streams:   rt.d.streams.Load(),
		SetupMode: len(st.providers) == 0,
		Uptime:    time.Since(rt.d.start),
	}
}

// RecentRequests returns the most recent request records, newest first.
func (rt *Router) RecentRequests() []RequestRecord { return rt.d.trail.list() }

// Observe registers f to be called with every finished request's record,
// for metrics. f must be fast and must not keep rec.
func (rt *Router) Observe(f func(rec *RequestRecord)) {
	for {
		old := rt.d.observers.Load()
		var fs []func(*RequestRecord)
		if old != nil {
			fs = append(fs, *old...)
		}
		fs = append(fs, f)
		if rt.d.observers.CompareAndSwap(old, &fs) {
			return
		}
	}
}

func newState(cfg Config, d *deps) (*state, error) {
	var ps problems
	st := &state{
		d:       d,
		cfg:     cfg,
		log:     cfg.Logger,
		byName:  make(map[string]*provider),
		byLower: make(map[string]*provider),
		apiKey:  []byte(cfg.APIKey),
	}
	if st.log == nil {
		st.log = slog.Default()
	}
	st.cfg.Providers = append([]ProviderConfig(nil), cfg.Providers...)
	st.maxBody = orDefault(cfg.MaxRequestBytes, 32<<20)
	st.maxResp = orDefault(cfg.MaxResponseBytes, 64<<20)
	st.maxEvent = int(orDefault(int64(cfg.MaxEventBytes), DefaultMaxLineBytes))
	st.bodyTimeout = durationOr(cfg.RequestBodyTimeout, time.Minute)
	st.firstByte = durationOr(cfg.APITimeout, 10*time.Minute)
	st.idle = durationOr(cfg.StreamIdleTimeout, 5*time.Minute)
	st.pingInterval = 15 * time.Second
	if cfg.MaxRequestBytes < 0 {
		ps.add("MAX_REQUEST_BYTES", "must not be negative")
	}
	if cfg.MaxResponseBytes < 0 {
		ps.add("MaxResponseBytes", "must not be negative")
	}
	if cfg.MaxEventBytes < 0 {
		ps.add("MaxEventBytes", "must not be negative")
	}

	defs := cfg.Transformers
	if defs == nil {
		defs = DefaultTransformers()
	}
	for i, pc := range cfg.Providers {
		var rtp http.RoundTripper = cfg.Transport
		if rtp == nil {
			t, err := d.transports.get(cfg.ProxyURL)
			if err != nil {
				ps.add("PROXY_URL", "%v", err)
				continue
			}
			rtp = t
		}
		p := buildProvider(i, pc, &cfg, defs, rtp, &ps)
		if p.name == "" {
			continue
		}
		if pc.MaxConcurrency > 0 {
			p.sem = d.semaphores.get(p.name, pc.MaxConcurrency)
		}
		if _, dup := st.byName[p.name]; dup {
			ps.add(fmt.Sprintf("Providers[%d].name", i), "duplicate provider %q", p.name)
			continue
		}
		st.providers = append(st.providers, p)
		for _, c := range p.chains {
			st.passthrough = st.passthrough || c.passthrough()
		}
		st.byName[p.name] = p
		if _, ok := st.byLower[strings.ToLower(p.name)]; !ok {
			st.byLower[strings.ToLower(p.name)] = p
		}
	}
	r := cfg.Router
	for _, rr := range []struct{ path, v string }{
		{"Router.default", r.Default}, {"Router.background", r.Background}, {"Router.think", r.Think},
		{"Router.longContext", r.LongContext}, {"Router.webSearch", r.WebSearch}, {"Router.image", r.Image},
	} {
		st.checkTarget(&ps, rr.path, rr.v)
	}
	if r.LongContextThreshold < 0 {
		ps.add("Router.longContextThreshold", "must not be negative")
	}
	st.fallback = make(map[string][]string, len(cfg.Fallback))
	for _, k := range sortedKeys(cfg.Fallback) {
		for i, t := range cfg.Fallback[k] {
			st.checkTarget(&ps, fmt.Sprintf("fallback.%s[%d]", k, i), t)
		}
		st.fallback[k] = append([]string(nil), cfg.Fallback[k]...)
	}
	if err := dedupProblems(ps).err(); err != nil {
		return nil, err
	}
	st.mux = st.routes()
	return st, nil
}

func (st *state) checkTarget(ps *problems, path, target string) {
	if target == "" {
		return
	}
	name, _, ok := splitRoute(target)
	if !ok {
		ps.add(path, `expected "provider,model", got %q`, target)
		return
	}
	if len(st.cfg.Providers) > 0 && st.lookup(name) == nil {
		ps.add(path, "unknown provider %q", name)
	}
}

func orDefault(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

func durationOr(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// routes is the Router's one table of endpoints.
func (st *state) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/messages", st.withAuth(http.MethodPost, st.handleMessages))
	mux.HandleFunc("/v1/messages/count_tokens", st.withAuth(http.MethodPost, st.handleCountTokens))
	mux.HandleFunc("/v1/models", st.withAuth(http.MethodGet, st.handleModels))
	mux.HandleFunc("/health", st.handleHealth)
	mux.HandleFunc("/{$}", st.handleRoot)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, &Error{Status: http.StatusNotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func (st *state) withAuth(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeJSONError(w, &Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Message: "method " + r.Method + " not allowed; use " + method})
			return
		}
		if err := st.authenticate(r); err != nil {
			writeJSONError(w, asError(err))
			return
		}
		h(w, r)
	}
}

func (st *state) authenticate(r *http.Request) error {
	if len(st.apiKey) > 0 && len(st.providers) > 0 {
		if k := r.Header.Get("X-Api-Key"); k != "" && st.isAPIKey(k) {
			return nil
		}
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") && st.isAPIKey(strings.TrimSpace(a[7:])) {
			return nil
		}
		return &Error{Status: http.StatusUnauthorized, Message: "invalid or missing API key (send x-api-key or Authorization: Bearer)"}
	}
	// No key: only this machine may call, and no other web origin.
	if !isLoopbackHost(r.Host) {
		return &Error{Status: http.StatusForbidden, Message: "requests must address the router by a loopback name (localhost, 127.0.0.1, [::1]) when no APIKEY is set"}
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return &Error{Status: http.StatusForbidden, Message: "cross-origin requests are refused"}
	}
	return nil
}

// isAPIKey reports whether k is the client key. It compares SHA-256
// digests in constant time, so that neither the key's bytes nor its length
// show in the time taken.
func (st *state) isAPIKey(k string) bool {
	got, want := sha256.Sum256([]byte(k)), sha256.Sum256(st.apiKey)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// isLoopbackHost reports whether hostport names this machine.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether the Origin header names host.
func sameOrigin(origin, host string) bool {
	o := origin
	for _, p := range []string{"http://", "https://"} {
		if strings.HasPrefix(o, p) {
			return strings.EqualFold(o[len(p):], host)
		}
	}
	return false
}

func (st *state) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status    string `json:"status"`
		Timestamp string `json:"timestamp"`
	}{"ok", time.Now().UTC().Format(time.RFC3339)})
}

func (st *state) handleRoot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSONError(w, &Error{Status: http.StatusNotFound, Message: "no such endpoint: " + r.Method + " /"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Message string `json:"message"`
		Version string `json:"version"`
	}{"ccr", Version})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalNoEscape(v)
	if err != nil {
		writeJSONError(w, asError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// WriteJSON writes v as a JSON response with status, for handlers that
// extend the Router (such as the management API).
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteError writes err as an Anthropic error response. Errors that are
// not *Error become 500 "internal error"; their cause is not shown.
func WriteError(w http.ResponseWriter, err error) { writeJSONError(w, asError(err)) }

// readBody reads the request body under the size cap.
func (st *state) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > st.maxBody {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body exceeds " + strconv.FormatInt(st.maxBody, 10) + " bytes"}
	}
	// A deadline on this request's body only: cleared once the body is
	// read, so that neither a long stream nor the next request on the
	// connection inherits it. Servers that cannot set one (such as a
	// ResponseRecorder) go without.
	var rc *http.ResponseController
	if st.bodyTimeout > 0 {
		rc = http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(st.bodyTimeout)) != nil {
			rc = nil
		}
	}
	body, err := readAllHint(http.MaxBytesReader(w, r.Body, st.maxBody), r.ContentLength)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		// Keep the expired deadline: the server then gives up on the
		// rest of the body at once instead of waiting for the slow
		// client, and closes the connection.
		w.Header().Set("Connection", "close")
		return nil, &Error{Status: http.StatusRequestTimeout, Message: "request body not received within " + st.bodyTimeout.String(), Err: err}
	}
	if rc != nil {
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, asError(err)
		}
		return nil, &Error{Status: http.StatusBadRequest, Message: "could not read the request body", Err: err}
	}
	return body, nil
}

// parseMessages decodes and validates a Messages request body.
func parseMessages(body []byte, countOnly bool) (*Request, error) {
	var req Request
	if err := decodeRequest(body, &req); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Message: "invalid JSON body: " + jsonErrorText(err), Err: err}
	}
	validate := ValidateRequest
	if countOnly {
		validate = validateContent
	}
	if err := validate(&req); err != nil {
		return nil, err
	}
	return &req, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("expected %s, got %s", te.Type, te.Value)
	}
	return err.Error()
}

func (st *state) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	body, err := st.readBody(w, r)
	if err != nil {
		writeJSONError(w, asError(err))
		return
	}
	req, err := parseMessages(body, true)
	if err != nil {
		writeJSONError(w, asError(err))
		return
	}
	n, ok := st.upstreamCount(r, req)
	if !ok {
		n = st.d.tokens.Count(req)
	}
	writeJSON(w, http.StatusOK, struct {
		InputTokens int `json:"input_tokens"`
	}{n})
}

// upstreamCount asks the provider named by an explicit "provider,model" to
// count req, when that provider is set to count upstream and its format
// can. ok is false when the local count should be used instead.
func (st *state) upstreamCount(r *http.Request, req *Request) (n int, ok bool) {
	name, model, explicit := splitRoute(req.Model)
	if !explicit {
		return 0, false
	}
	p := st.lookup(name)
	if p == nil || !p.countUp {
		return 0, false
	}
	counter, can := p.chainFor(model).tr.(UpstreamTokenCounter)
	if !can {
		return 0, false
	}
	routed := *req
	routed.Model, routed.Provider, routed.Header = canonicalModel(p, model), p.name, r.Header
	n, err := st.countUpstream(r.Context(), p, counter, &routed)
	if err != nil {
		st.log.WarnContext(r.Context(), "upstream token count failed; counting locally", LogKeyProvider, p.name, LogKeyCause, p.redact(err.Error()))
		return 0, false
	}
	return n, true
}

func (st *state) countUpstream(ctx context.Context, p *provider, counter UpstreamTokenCounter, req *Request) (int, error) {
	up, err := counter.CountTokensRequest(ctx, req)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hreq, err := p.newRequest(ctx, up, p.pickKey(st.d.now()))
	if err != nil {
		return 0, err
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("count_tokens: upstream status %d", resp.StatusCode)
	}
	return counter.CountTokensResponse(body)
}

// ModelInfo is one entry of GET /v1/models, in Anthropic's list format.
type ModelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

func (st *state) handleModels(w http.ResponseWriter, r *http.Request) {
	var data []ModelInfo
	for _, p := range st.providers {
		for _, m := range p.models {
			data = append(data, ModelInfo{Type: "model", ID: p.name + "," + m, DisplayName: m + " (" + p.name + ")", CreatedAt: "2025-01-01T00:00:00Z"})
		}
	}
	if data == nil {
		data = []ModelInfo{}
	}
	resp := struct {
		Data    []ModelInfo `json:"data"`
		HasMore bool        `json:"has_more"`
		FirstID *string     `json:"first_id"`
		LastID  *string     `json:"last_id"`
	}{Data: data}
	if len(data) > 0 {
		resp.FirstID, resp.LastID = &data[0].ID, &data[len(data)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// Preload starts loading the token counter's encoding in the background,
// so that the first request that needs a token count does not wait for it.
// The work ends when the encoding is loaded; it happens once per process.
func (rt *Router) Preload() { rt.d.tokens.Preload() }
