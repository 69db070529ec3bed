package ccr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// provider is one configured upstream: where it is, how to authenticate,
// its transport and its transformer chains. It is immutable once built,
// except for the key rotation state, which is safe for concurrent use.
type provider struct {
	name    string
	baseURL string
	models  []string
	client  *http.Client
	keys    []*apiKey
	next    atomic.Uint64
	chains  map[string]*chain // by model; "" is the provider-level chain
	sem     chan struct{}     // nil: no concurrency cap
	countUp bool              // count_tokens: ask the upstream
	secrets [][]byte          // every key, for redaction
}

// apiKey is one of a provider's keys with its health.
type apiKey struct {
	value       Secret
	fingerprint string       // see keyFingerprint
	coolUntil   atomic.Int64 // unix nanoseconds; 0 when usable
	disabled    atomic.Bool  // answered 401/403: set aside until reload
}

// chain is a resolved transformer chain: a format and its hooks.
type chain struct {
	tr    Transformer
	hooks []Hook
	// request reports whether any hook edits the hub request, which
	// rules out byte-for-byte passthrough.
	request bool
}

// passthrough reports whether the chain forwards the client's body as it
// came: the Anthropic format with no hooks, which needs only the routed
// model (see sketchRequest).
func (c *chain) passthrough() bool {
	_, ok := c.tr.(*anthropic)
	return ok && len(c.hooks) == 0
}

// chainFor returns the chain for model.
func (p *provider) chainFor(model string) *chain {
	if c, ok := p.chains[model]; ok {
		return c
	}
	return p.chains[""]
}

// pickKey returns the index of the next usable key in round-robin order,
// -1 when the provider has no keys. When every key is cooling down or set
// aside it returns the one that becomes usable first, so that a request is
// still attempted and its error reaches the client.
func (p *provider) pickKey(now time.Time) int {
	n := len(p.keys)
	if n == 0 {
		return -1
	}
	start := int(p.next.Add(1)-1) % n
	best, bestUntil := -1, int64(0)
	for i := 0; i < n; i++ {
		k := (start + i) % n
		key := p.keys[k]
		if key.disabled.Load() {
			continue
		}
		until := key.coolUntil.Load()
		if until <= now.UnixNano() {
			return k
		}
		if best < 0 || until < bestUntil {
			best, bestUntil = k, until
		}
	}
	if best < 0 {
		return start
	}
	return best
}

// keyStatus reacts to an upstream status for the key at index k: a 429
// cools the key down for its Retry-After (30s when absent, at most
// maxKeyCooldown); a 401 or 403 sets it aside until the next reload when
// the provider has other keys. It reports whether this call set the key
// aside, so that the caller logs it once.
func (p *provider) keyStatus(k int, status int, header http.Header, now time.Time) (setAside bool) {
	if k < 0 || k >= len(p.keys) {
		return false
	}
	switch status {
	case http.StatusTooManyRequests:
		d := retryAfter(header, now)
		if d <= 0 {
			d = 30 * time.Second
		}
		d = min(d, maxKeyCooldown)
		p.keys[k].coolUntil.Store(now.Add(d).UnixNano())
	case http.StatusUnauthorized, http.StatusForbidden:
		if len(p.keys) > 1 {
			return p.keys[k].disabled.CompareAndSwap(false, true)
		}
	}
	return false
}

// maxKeyCooldown bounds how long a 429 takes a key out of rotation,
// whatever its Retry-After says.
const maxKeyCooldown = 10 * time.Minute

// keyFingerprint identifies key k in logs without revealing it.
func (p *provider) keyFingerprint(k int) string {
	if k < 0 || k >= len(p.keys) {
		return ""
	}
	return p.keys[k].fingerprint
}

// newRequest builds the outbound request for up. It is a fresh request
// carrying only the headers that belong upstream: never the client's
// credentials, never its Accept-Encoding.
//
// The request's body lets go of up.Body after [releaseRequestBody], once
// the transport has finished sending it: the transport keeps the request
// for as long as the answer is read, which for a stream may be minutes.
func (p *provider) newRequest(ctx context.Context, up *UpstreamRequest, key int) (*http.Request, error) {
	target := up.URL
	if target == "" {
		target = joinURL(p.baseURL, up.Path)
	}
	body := &upstreamRequestBody{parts: up.parts}
	if body.parts == nil {
		body.parts = [][]byte{up.Body}
	}
	n := 0
	for _, b := range body.parts {
		n += len(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("ccr: provider %s: build request: %w", p.name, err)
	}
	req.ContentLength = int64(n)
	if n > 0 {
		req.Body, _ = body.open()
		req.GetBody = body.open
	}
	for k, vs := range up.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	if up.Stream {
		req.Header.Set("Accept", "text/event-stream")
	} else if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if key >= 0 {
		secret := string(p.keys[key].value)
		switch up.Auth {
		case "", "bearer":
			req.Header.Set("Authorization", "Bearer "+secret)
		case "x-api-key":
			req.Header.Set("X-Api-Key", secret)
		case "x-goog-api-key":
			req.Header.Set("X-Goog-Api-Key", secret)
		case "none":
		default:
			return nil, fmt.Errorf("ccr: provider %s: unknown auth scheme %q", p.name, up.Auth)
		}
	}
	return req, nil
}

// releaseRequestBody lets the body of a request made by newRequest drop
// its bytes once the transport is done with them. Call it when the
// request's answer has arrived.
func releaseRequestBody(r *http.Request) {
	if rd, ok := r.Body.(*upstreamRequestReader); ok {
		rd.u.release()
	}
}

// upstreamRequestBody is the bytes of an upstream request, in one or more
// parts, for the request's Body and GetBody. Once released, and once every
// reader the transport opened is closed (the transport closes them when it
// has sent the body), it drops the bytes.
type upstreamRequestBody struct {
	mu       sync.Mutex
	parts    [][]byte
	readers  int // opened and not yet closed
	released bool
}

func (u *upstreamRequestBody) open() (io.ReadCloser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.readers++
	return &upstreamRequestReader{u: u}, nil
}

func (u *upstreamRequestBody) release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.released = true
	if u.readers == 0 {
		u.parts = nil
	}
}

type upstreamRequestReader struct {
	u         *upstreamRequestBody
	part, off int // the next byte to read: u.parts[part][off]
	closed    bool
}

func (r *upstreamRequestReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.u.mu.Lock()
	defer r.u.mu.Unlock()
	n := 0
	for !r.closed && r.part < len(r.u.parts) && n < len(p) {
		c := copy(p[n:], r.u.parts[r.part][r.off:])
		n += c
		r.advance(c)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// writeTo writes to w up to limit of the bytes not yet read, straight from
// the body's parts (in one writev on a TCP connection), and returns how
// many it wrote. The write happens outside the lock, which release and
// Close take: the parts stay valid while it holds them, even if the body
// drops them meanwhile.
func (r *upstreamRequestReader) writeTo(w io.Writer, limit int64) (int64, error) {
	r.u.mu.Lock()
	var bufs net.Buffers
	if !r.closed {
		for i := r.part; i < len(r.u.parts) && limit > 0; i++ {
			b := r.u.parts[i]
			if i == r.part {
				b = b[r.off:]
			}
			if int64(len(b)) > limit {
				b = b[:limit]
			}
			if len(b) > 0 {
				bufs = append(bufs, b)
				limit -= int64(len(b))
			}
		}
	}
	r.u.mu.Unlock()
	if len(bufs) == 0 {
		return 0, nil
	}
	n, err := bufs.WriteTo(w)
	r.u.mu.Lock()
	defer r.u.mu.Unlock()
	r.advance(int(n))
	return n, err
}

// advance moves the read position n bytes on, past any part it uses up.
// The caller holds the lock.
func (r *upstreamRequestReader) advance(n int) {
	for r.part < len(r.u.parts) {
		c := min(n, len(r.u.parts[r.part])-r.off)
		n -= c
		if r.off += c; r.off < len(r.u.parts[r.part]) {
			return
		}
		r.part, r.off = r.part+1, 0
	}
}

func (r *upstreamRequestReader) Close() error {
	r.u.mu.Lock()
	defer r.u.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.u.readers--
		if r.u.readers == 0 && r.u.released {
			r.u.parts = nil
		}
	}
	return nil
}

// redact replaces every key of the provider found in s.
func (p *provider) redact(s string) string {
	for _, k := range p.secrets {
		if len(k) >= 4 && strings.Contains(s, string(k)) {
			s = strings.ReplaceAll(s, string(k), "[REDACTED]")
		}
	}
	return redactCutKey(s, p.secrets)
}

// redactCutKey removes the start of a key that a message truncated to a
// size limit ends with (before its "..." marker): the cut keeps no more
// than its first three bytes.
func redactCutKey(s string, secrets [][]byte) string {
	body, marker := s, ""
	if strings.HasSuffix(body, "...") {
		body, marker = body[:len(body)-3], "..."
	}
	for _, k := range secrets {
		for n := len(k) - 1; n >= 4; n-- {
			if strings.HasSuffix(body, string(k[:n])) {
				return body[:len(body)-n] + "[REDACTED]" + marker
			}
		}
	}
	return s
}

// redact replaces every provider's keys found in s: an upstream may
// quote its own key, and a gateway another's.
func (st *state) redact(s string) string {
	for _, p := range st.providers {
		s = p.redact(s)
	}
	return s
}

// redactBytes is redact for a body.
func (p *provider) redactBytes(b []byte) []byte {
	for _, k := range p.secrets {
		if len(k) >= 4 && bytes.Contains(b, k) {
			b = bytes.ReplaceAll(b, k, []byte("[REDACTED]"))
		}
	}
	return b
}

// acquire takes a concurrency slot, waiting in FIFO order; release gives
// it back.
func (p *provider) acquire(ctx context.Context) (release func(), err error) {
	if p.sem == nil {
		return func() {}, nil
	}
	select {
	case p.sem <- struct{}{}:
		return func() { <-p.sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// joinURL resolves path against base: an empty path is base itself; a
// path starting with '?' adds a query; otherwise base gets a '/' if it
// lacks one.
func joinURL(base, path string) string {
	switch {
	case path == "":
		return base
	case strings.HasPrefix(path, "?"):
		return base + path
	case strings.HasSuffix(base, "/") && strings.HasPrefix(path, "/"):
		return base + path[1:]
	case strings.HasSuffix(base, "/") || strings.HasPrefix(path, "/"):
		return base + path
	}
	return base + "/" + path
}

// retryAfter parses Retry-After (seconds or an HTTP date) and
// retry-after-ms.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if ms := h.Get("Retry-After-Ms"); ms != "" {
		if n, err := strconv.ParseFloat(ms, 64); err == nil && n >= 0 {
			return time.Duration(n * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// transports shares tuned transports between config snapshots, so that a
// reload that keeps the network settings keeps the open connections.
type transports struct {
	mu sync.Mutex
	m  map[string]*http.Transport
	// bufs holds the 32 KB buffers that connections copy request bodies
	// through (see bodyConn).
	bufs sync.Pool
}

func (ts *transports) get(proxy string) (*http.Transport, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.m[proxy]; ok {
		return t, nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bodyConn{Conn: c, bufs: &ts.bufs}, nil
	}
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ExpectContinueTimeout = 0
	// Small connection buffers: a body larger than them is read and
	// written past them, and every open stream holds one of each. The
	// write buffer takes a request's headers (half a kilobyte, typically)
	// and the first bytes of its body, which goes out past it.
	t.ReadBufferSize, t.WriteBufferSize = 2<<10, 1<<10
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil {
			return nil, fmt.Errorf("ccr: proxy URL: %w", err)
		}
		t.Proxy = http.ProxyURL(u)
	} else {
		t.Proxy = nil
	}
	if ts.m == nil {
		ts.m = make(map[string]*http.Transport)
	}
	ts.m[proxy] = t
	return t, nil
}

// bodyConn is a connection to an upstream that sends request bodies
// without a buffer of their own. The transport hands a body (after the
// first bytes, which share a buffer with the headers) to the connection's
// ReadFrom, wrapped in an io.LimitedReader of its Content-Length;
// net.TCPConn's ReadFrom would copy it through a new 32 KB buffer, a
// third of what a request allocates. A body made by newRequest is written
// straight from its bytes; any other through a buffer from a pool. (Over
// TLS the transport writes to a tls.Conn, which has no ReadFrom; over
// HTTP/2 it copies bodies through pooled buffers of its own.)
type bodyConn struct {
	net.Conn
	bufs *sync.Pool // of *[]byte
}

func (c *bodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if br, ok := lr.R.(*upstreamRequestReader); ok {
			n, err := br.writeTo(c.Conn, lr.N)
			lr.N -= n
			return n, err
		}
	}
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 32<<10)
		bp = &b
	}
	defer c.bufs.Put(bp)
	// The struct hides the connection's own ReadFrom, which would
	// allocate.
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bp)
}

// semaphores shares providers' concurrency slots between config
// snapshots, so that streams still running on an old snapshot count
// against the cap of the new one. A changed cap starts a new semaphore.
type semaphores struct {
	mu sync.Mutex
	m  map[semKey]chan struct{}
}

type semKey struct {
	provider string
	cap      int
}

func (ss *semaphores) get(provider string, cap int) chan struct{} {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := semKey{provider, cap}
	if s, ok := ss.m[k]; ok {
		return s
	}
	if ss.m == nil {
		ss.m = make(map[semKey]chan struct{})
	}
	s := make(chan struct{}, cap)
	ss.m[k] = s
	return s
}

func (ts *transports) closeIdle() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.m {
		t.CloseIdleConnections()
	}
}

// buildProvider resolves one provider's configuration.
func buildProvider(i int, pc ProviderConfig, cfg *Config, defs map[string]TransformerDef, rt http.RoundTripper, ps *problems) *provider {
	path := fmt.Sprintf("Providers[%d]", i)
	p := &provider{
		name:    pc.Name,
		baseURL: pc.BaseURL,
		models:  append([]string(nil), pc.Models...),
		client:  &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		chains:  make(map[string]*chain),
	}
	if pc.Name == "" {
		ps.add(path+".name", "required")
	} else if strings.ContainsAny(pc.Name, ",") {
		ps.add(path+".name", "must not contain a comma")
	}
	if u, err := url.Parse(pc.BaseURL); pc.BaseURL == "" {
		ps.add(path+".api_base_url", "required")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add(path+".api_base_url", "not a URL")
	}
	p.countUp = pc.CountTokens == "upstream"
	for i, k := range pc.APIKeys {
		sum := sha256.Sum256([]byte(k))
		p.keys = append(p.keys, &apiKey{value: k, fingerprint: fmt.Sprintf("#%d:%x", i, sum[:3])})
		p.secrets = append(p.secrets, []byte(k))
	}
	if pc.MaxConcurrency < 0 {
		ps.add(path+".max_concurrency", "must not be negative")
	}
	env := cfg.Env
	if env == nil {
		env = func(string) string { return "" }
	}
	build := func(model string, uses []TransformerUse, usePath []string) *chain {
		c := &Chain{Provider: pc.Name, BaseURL: pc.BaseURL, Model: model, Env: env, Transport: rt}
		for j, u := range uses {
			def, ok := defs[u.Name]
			if !ok {
				ps.add(usePath[j], "unknown transformer %q", u.Name)
				continue
			}
			if def.Apply == nil {
				continue
			}
			if err := def.Apply(c, u.Options); err != nil {
				ps.add(usePath[j], "%v", err)
			}
		}
		tr := c.Format
		if tr == nil {
			tr = NewOpenAI(c.OpenAI)
		}
		ch := &chain{tr: tr, hooks: append(c.Hooks, cfg.Hooks...)}
		for _, h := range ch.hooks {
			if h.Request != nil {
				ch.request = true
			}
		}
		return ch
	}
	paths := func(prefix string, n int) []string {
		out := make([]string, n)
		for j := range out {
			out[j] = fmt.Sprintf("%s[%d]", prefix, j)
		}
		return out
	}
	p.chains[""] = build("", pc.Use, paths(path+".transformer.use", len(pc.Use)))
	for _, model := range sortedKeys(pc.ModelUse) {
		mu := pc.ModelUse[model]
		all := append(append([]TransformerUse(nil), pc.Use...), mu...)
		mp := path + ".transformer." + model + ".use"
		if !isIdentKey(model) {
			mp = path + ".transformer[" + strconv.Quote(model) + "].use"
		}
		p.chains[model] = build(model, all, append(paths(path+".transformer.use", len(pc.Use)), paths(mp, len(mu))...))
	}
	return p
}

// dedupProblems drops repeated problems: building a model chain applies
// the provider-level entries again and would report theirs twice.
func dedupProblems(ps problems) problems {
	seen := make(map[Problem]bool, len(ps))
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// decodeOptions decodes a transformer's options strictly into v: unknown
// fields are errors. nil options leave v unchanged.
func decodeOptions(options json.RawMessage, v any) error {
	if len(options) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(options))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad options: %v", err)
	}
	return nil
}
