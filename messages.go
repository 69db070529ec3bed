package ccr

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// maxRetryWait bounds how long a request waits for an upstream's
// Retry-After before trying again.
const maxRetryWait = 10 * time.Second

// exchange is one client request's journey through the router.
type exchange struct {
	st      *state
	w       http.ResponseWriter
	r       *http.Request
	in      routeInput // the request, maybe only sketched
	rec     RequestRecord
	session string
	start   time.Time
	// timing
	routeDur    time.Duration
	convertDur  time.Duration
	upstreamDur time.Duration // from sending the upstream request to its response headers
	upstreamAt  time.Time     // first upstream response headers
	sw          *SSEWriter
	rc          *http.ResponseController // for write deadlines; nil until needed
	flushErr    error                    // a failed flush of deferred events
}

func (st *state) handleMessages(w http.ResponseWriter, r *http.Request) {
	x := &exchange{st: st, w: w, r: r, start: st.d.now()}
	x.rec = RequestRecord{ID: randomID("req_", 24), Time: x.start, Method: r.Method, Path: r.URL.Path}
	w.Header().Set("Request-Id", x.rec.ID)
	st.d.inFlight.Add(1)
	defer st.d.inFlight.Add(-1)
	err := x.runSafely()
	if err != nil {
		x.fail(err)
	}
	if x.sw != nil {
		x.sw.close() // no keep-alive write once the handler returns
	}
	x.finish()
}

// runSafely runs the exchange, turning a panic (in a transformer or a
// hook, say) into a 500 for this request alone: the client gets a clean
// "internal error", the log the value and the stack.
func (x *exchange) runSafely() (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		x.st.log.LogAttrs(context.WithoutCancel(x.r.Context()), slog.LevelError, "panic serving request",
			slog.String(LogKeyRequestID, x.rec.ID), slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
		err = &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "internal error", Err: fmt.Errorf("ccr: panic: %v", v)}
	}()
	return x.run()
}

func (x *exchange) run() error {
	body, err := x.st.readBody(x.w, x.r)
	if err != nil {
		return err
	}
	// Routing and the passthrough need only a sketch of the body; a
	// conversion decodes it in full when its provider is tried.
	x.in.body = body
	if x.st.passthrough && x.st.cfg.RouteFunc == nil {
		if sk, ok := sketchRequest(body); ok {
			x.in.sk = &sk
			x.in.req = sk.request(body)
		}
	}
	if x.in.req == nil {
		if x.in.req, err = parseMessages(body, false); err != nil {
			return err
		}
	}
	req := x.in.req
	req.Raw = body
	req.Header = x.r.Header
	req.ClientModel = req.Model
	x.rec.ClientModel = req.Model
	x.rec.Stream = req.Stream
	x.session = sessionID(x.r, req)

	t0 := time.Now()
	dec, err := x.st.routeInput(x.r.Context(), x.r, &x.in, x.session)
	x.routeDur = time.Since(t0)
	if err != nil {
		return err
	}
	x.rec.Route = dec.scenario
	targets := []target{{p: dec.provider, model: dec.model}}
	for _, fb := range x.st.fallback[dec.scenario] {
		name, model, _ := splitRoute(fb)
		if p := x.st.lookup(name); p != nil {
			targets = append(targets, target{p: p, model: canonicalModel(p, model), fallback: true})
		}
	}
	return x.try(targets)
}

type target struct {
	p        *provider
	model    string
	fallback bool
}

// retryable reports whether an attempt's failure may be retried
// elsewhere: a connection error, a first-byte timeout, 408, 429 or 5xx.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		s := e.status()
		return s == 408 || s == 429 || s >= 500
	}
	return true
}

// try runs the attempts: each target in order, a second key of the same
// provider after a 401, 403 or 429, and one wait for a short Retry-After.
// It stops at the first attempt that succeeds, once anything has been
// written to the client, or when the client has gone. The routed target
// gives way to the fallbacks only on a retryable failure; a failing
// fallback gives way to the next whatever its failure. When all fail, the
// client gets the first failure, the routed provider's, as the reference
// does.
func (x *exchange) try(targets []target) error {
	var first error
	waited := false
	for i := 0; i < len(targets); i++ {
		t := targets[i]
		key := t.p.pickKey(x.st.d.now())
		err := x.attempt(t, key)
		if err == nil {
			return nil
		}
		if x.committed() || x.r.Context().Err() != nil {
			return err
		}
		if first == nil {
			first = err
		}
		var e *Error
		isErr := errors.As(err, &e)
		// Another key of the same provider, once per key.
		if isErr && (e.Status == 401 || e.Status == 403 || e.Status == 429) && len(t.p.keys) > 1 && x.keyAttempts(t.p) < len(t.p.keys) {
			if k := t.p.pickKey(x.st.d.now()); k != key && !t.p.keys[k].disabled.Load() && t.p.keys[k].coolUntil.Load() <= x.st.d.now().UnixNano() {
				targets = append(targets[:i+1], append([]target{t}, targets[i+1:]...)...)
				continue
			}
		}
		if !retryable(err) && !t.fallback {
			return err
		}
		if i == len(targets)-1 && !waited && isErr {
			if d := retryAfter(e.Header, x.st.d.now()); d > 0 && d <= maxRetryWait {
				waited = true
				timer := time.NewTimer(d)
				select {
				case <-timer.C:
				case <-x.r.Context().Done():
					timer.Stop()
					return x.r.Context().Err()
				}
				targets = append(targets, t)
			}
		}
	}
	return first
}

func (x *exchange) keyAttempts(p *provider) int {
	n := 0
	for _, a := range x.rec.Attempts {
		if a.Provider == p.name {
			n++
		}
	}
	return n
}

func (x *exchange) committed() bool { return x.sw != nil && x.sw.Started() }

// attempt sends the request to one provider and relays the answer.
func (x *exchange) attempt(t target, key int) (err error) {
	at := Attempt{Provider: t.p.name, Model: t.model, Key: t.p.keyFingerprint(key)}
	start := time.Now()
	x.rec.Provider, x.rec.Model = t.p.name, t.model
	defer func() {
		at.MS = ms(time.Since(start))
		if err != nil {
			e := asError(err)
			if at.Status == 0 {
				at.Status = e.status()
			}
			at.Error = x.st.redact(e.Message)
		}
		x.rec.Attempts = append(x.rec.Attempts, at)
	}()

	ctx := x.r.Context()
	ch := t.p.chainFor(t.model)
	if !ch.passthrough() {
		if _, err := x.in.full(); err != nil {
			return err
		}
	}
	req := x.prepare(t, ch)
	if ch.request {
		req = req.Clone()
		req.Raw = nil
		for _, h := range ch.hooks {
			if h.Request != nil {
				if err := h.Request(ctx, req); err != nil {
					return fmt.Errorf("ccr: hook %s: %w", h.Name, err)
				}
			}
		}
	}
	t0 := time.Now()
	up, err := ch.tr.TransformRequest(ctx, req)
	if err != nil {
		return err
	}
	if up.parts != nil && len(ch.hooks) > 0 {
		up.Body, up.parts = bytes.Join(up.parts, nil), nil
	}
	for _, h := range ch.hooks {
		if h.Upstream != nil {
			if err := h.Upstream(ctx, req, up); err != nil {
				return fmt.Errorf("ccr: hook %s: %w", h.Name, err)
			}
		}
	}
	x.convertDur += time.Since(t0)

	upCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The first-byte timeout runs from here: the wait for a free slot of a
	// busy provider counts, since the client waits all the same.
	var fbTimer *time.Timer
	if x.st.firstByte > 0 {
		fbTimer = time.AfterFunc(x.st.firstByte, func() { cancel(ErrFirstByteTimeout) })
		defer fbTimer.Stop()
	}
	release, err := t.p.acquire(upCtx)
	if err != nil {
		return x.queueError(t.p, upCtx, err)
	}
	defer release()

	hreq, err := t.p.newRequest(upCtx, up, key)
	if err != nil {
		return err
	}
	sent := time.Now()
	resp, err := t.p.client.Do(hreq)
	releaseRequestBody(hreq)
	if fbTimer != nil {
		fbTimer.Stop()
	}
	if err != nil {
		return x.transportError(t.p, upCtx, err)
	}
	defer resp.Body.Close()
	x.upstreamAt = time.Now()
	x.upstreamDur = x.upstreamAt.Sub(sent)
	at.Status = resp.StatusCode
	if t.p.keyStatus(key, resp.StatusCode, resp.Header, x.st.d.now()) {
		x.st.log.LogAttrs(ctx, slog.LevelWarn, "provider key set aside until the next reload",
			slog.String(LogKeyProvider, t.p.name), slog.String("key", at.Key), slog.Int(LogKeyStatus, resp.StatusCode), slog.String(LogKeyRequestID, x.rec.ID))
	}

	// Silence on the body, streamed or not, is bounded by the idle
	// timeout.
	body := &upstreamBody{r: resp.Body, ctx: upCtx, size: resp.ContentLength}
	if x.st.idle > 0 {
		body.idle = x.st.idle
		body.timer = time.AfterFunc(x.st.idle, func() { cancel(ErrStreamIdle) })
		defer body.timer.Stop()
	}

	if resp.StatusCode/100 != 2 {
		b, rerr := io.ReadAll(io.LimitReader(body, 64<<10))
		if rerr != nil && len(b) == 0 {
			if x.r.Context().Err() != nil {
				return x.r.Context().Err()
			}
			return &Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %s answered %d", t.p.name, resp.StatusCode), Err: rerr}
		}
		// Some servers quote the key they were sent: remove it before the
		// transformer cuts the body to a message, which could split it.
		b = t.p.redactBytes(b)
		e := ch.tr.TransformError(resp.StatusCode, resp.Header, b)
		if e == nil {
			e = &Error{Status: resp.StatusCode}
		}
		e.Message = t.p.redact(e.Message)
		if e.Status == http.StatusUnauthorized && !strings.HasPrefix(e.Message, "upstream ") {
			e.Message = "upstream " + t.p.name + ": " + e.Message
		}
		if e.Err == nil {
			e.Err = fmt.Errorf("upstream %s status %d", t.p.name, resp.StatusCode)
		}
		return e
	}

	if isEventStream(resp.Header) {
		if !req.Stream {
			// An upstream that streams although asked not to: collect
			// the converted events into one message.
			return x.relayStreamAsJSON(ch, req, body)
		}
		return x.relayStream(ch, req, body)
	}
	if req.Stream {
		// Some gateways answer a streaming request with plain JSON: convert
		// it and send it as a stream.
		return x.relayJSONAsStream(ch, req, body)
	}
	return x.relayJSON(ch, req, body)
}

// prepare returns the request as routed to t: the model replaced, and the
// raw body kept only while it can still be forwarded as is.
func (x *exchange) prepare(t target, ch *chain) *Request {
	r := *x.in.req
	r.Model = t.model
	r.Provider = t.p.name
	r.parts = ch.passthrough()
	return &r
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "text/event-stream")
}

func (x *exchange) transportError(p *provider, upCtx context.Context, err error) error {
	if cause := context.Cause(upCtx); cause != nil && x.r.Context().Err() == nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if x.r.Context().Err() != nil {
		return x.r.Context().Err()
	}
	if errors.Is(err, ErrFirstByteTimeout) {
		return &Error{Status: http.StatusGatewayTimeout, Type: "timeout_error", Message: "upstream " + p.name + " did not answer within " + x.st.firstByte.String(), Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Status: http.StatusGatewayTimeout, Type: "timeout_error", Message: "upstream " + p.name + " timed out", Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "could not reach upstream " + p.name, Err: err}
}

// queueError reports why waiting for a concurrency slot failed.
func (x *exchange) queueError(p *provider, upCtx context.Context, err error) error {
	if x.r.Context().Err() != nil {
		return x.r.Context().Err()
	}
	if errors.Is(context.Cause(upCtx), ErrFirstByteTimeout) {
		return &Error{Status: http.StatusGatewayTimeout, Type: "timeout_error",
			Message: "upstream " + p.name + " is at its max_concurrency: no slot free within " + x.st.firstByte.String(), Err: ErrFirstByteTimeout}
	}
	return err
}

// upstreamBody reads an upstream body and reports why a read failed when
// the router cancelled it. The idle timer runs only while a read waits on
// the upstream, so a slow client does not count as upstream silence.
type upstreamBody struct {
	r   io.Reader
	ctx context.Context
	// beforeRead, if set, runs before each read, which may wait for the
	// upstream.
	beforeRead func()
	size       int64 // the Content-Length, -1 if unknown
	idle       time.Duration
	timer      *time.Timer
}

// readAll reads the whole body, up to max+1 bytes.
func (b *upstreamBody) readAll(max int64) ([]byte, error) {
	hint := b.size
	if hint > max {
		hint = 0
	}
	return readAllHint(io.LimitReader(b, max+1), hint)
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.beforeRead != nil {
		b.beforeRead()
	}
	if b.timer != nil {
		b.timer.Reset(b.idle)
	}
	n, err := b.r.Read(p)
	if b.timer != nil {
		b.timer.Stop()
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return n, cause
		}
	}
	return n, err
}

func (x *exchange) relayJSON(ch *chain, req *Request, body *upstreamBody) error {
	b, err := x.readResponse(body)
	if err != nil {
		return err
	}
	if ch.passthrough() {
		// Relayed as it came: only the usage is read, for the record.
		if u, ok := passthroughUsage(b); ok {
			x.writeJSON(&Response{Usage: u}, b)
			return nil
		}
	}
	resp, err := x.convertResponse(ch, req, b)
	if err != nil {
		return err
	}
	t0 := time.Now()
	out := []byte(resp.Raw)
	if len(out) == 0 || hasResponseHooks(ch) {
		if out, err = encodeResponse(resp); err != nil {
			return err
		}
	}
	x.convertDur += time.Since(t0)
	x.writeJSON(resp, out)
	return nil
}

// upstreamResponse reads the upstream JSON body, bounded by the response
// size limit, and converts it, with the chain's response hooks applied.
func (x *exchange) upstreamResponse(ch *chain, req *Request, body *upstreamBody) (*Response, error) {
	b, err := x.readResponse(body)
	if err != nil {
		return nil, err
	}
	return x.convertResponse(ch, req, b)
}

// readResponse reads the upstream JSON body, bounded by the response size
// limit.
func (x *exchange) readResponse(body *upstreamBody) ([]byte, error) {
	b, err := body.readAll(x.st.maxResp)
	if err != nil {
		return nil, x.readError(err)
	}
	if int64(len(b)) > x.st.maxResp {
		return nil, asError(ErrBodyTooLarge)
	}
	return b, nil
}

// convertResponse converts an upstream JSON body, with the chain's
// response hooks applied.
func (x *exchange) convertResponse(ch *chain, req *Request, b []byte) (*Response, error) {
	t0 := time.Now()
	resp, err := ch.tr.TransformResponse(x.r.Context(), req, b)
	if err != nil {
		return nil, err
	}
	for i := len(ch.hooks) - 1; i >= 0; i-- {
		if h := ch.hooks[i].Response; h != nil {
			if err := h(x.r.Context(), req, resp); err != nil {
				return nil, fmt.Errorf("ccr: hook %s: %w", ch.hooks[i].Name, err)
			}
		}
	}
	x.convertDur += time.Since(t0)
	return resp, nil
}

// writeJSON answers with out, the encoding of resp, and records the
// answer.
func (x *exchange) writeJSON(resp *Response, out []byte) {
	x.noteUsage(resp.Usage, true)
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Server-Timing", x.serverTiming())
	x.w.WriteHeader(http.StatusOK)
	x.rec.Status = http.StatusOK
	x.rec.TTFBMS = ms(time.Since(x.start))
	x.writeDeadline()
	x.w.Write(out)
}

func hasResponseHooks(ch *chain) bool {
	for _, h := range ch.hooks {
		if h.Response != nil {
			return true
		}
	}
	return false
}

func (x *exchange) readError(err error) error {
	if x.r.Context().Err() != nil {
		return x.r.Context().Err()
	}
	if errors.Is(err, ErrStreamIdle) || errors.Is(err, ErrFirstByteTimeout) {
		return err
	}
	return &Error{Status: http.StatusBadGateway, Message: "upstream connection failed while reading its answer", Err: err}
}

func (x *exchange) relayJSONAsStream(ch *chain, req *Request, body *upstreamBody) error {
	resp, err := x.upstreamResponse(ch, req, body)
	if err != nil {
		return err
	}
	return x.writeStream(responseEvents(resp))
}

// relayStreamAsJSON converts an upstream event stream and answers with the
// complete message.
func (x *exchange) relayStreamAsJSON(ch *chain, req *Request, body io.Reader) error {
	// The whole answer is held in memory: bound it as a JSON body is.
	body = &capReader{r: body, left: x.st.maxResp}
	resp, err := collectMessage(x.hubStream(ch, req, body))
	if err != nil {
		return x.streamError(err)
	}
	out, err := encodeResponse(resp)
	if err != nil {
		return err
	}
	x.writeJSON(resp, out)
	return nil
}

// capReader fails with ErrBodyTooLarge once more than left bytes have
// been read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, ErrBodyTooLarge
	}
	return n, err
}

// hubStream returns the converted event stream of an upstream body, with
// the chain's stream hooks applied. They get the request's stream view.
func (x *exchange) hubStream(ch *chain, req *Request, body io.Reader) EventReader {
	sse := newPooledSSEReader(body, &x.st.d.sseSlabs)
	sse.DispatchAtEOF = true
	sse.MaxLineBytes = x.st.maxEvent
	req = streamView(req)
	src := ch.tr.TransformStream(x.r.Context(), req, sse)
	for i := len(ch.hooks) - 1; i >= 0; i-- {
		if h := ch.hooks[i].Stream; h != nil {
			src = h(x.r.Context(), req, src)
		}
	}
	return src
}

// relayStream converts and relays an upstream event stream.
func (x *exchange) relayStream(ch *chain, req *Request, body *upstreamBody) error {
	body.beforeRead = x.flushStream
	return x.writeStream(x.hubStream(ch, req, body))
}

// flushStream flushes the events written to the client and not yet
// flushed; writeStream reports a failure.
func (x *exchange) flushStream() {
	if x.sw != nil && x.flushErr == nil {
		x.flushErr = x.sw.flush()
	}
}

// writeStream relays hub events to the client. Until the first event is
// written, an error leaves the response uncommitted, so that the caller
// can still answer with a real status or try elsewhere.
func (x *exchange) writeStream(src EventReader) error {
	first, err := src.ReadEvent()
	if err != nil {
		if err == io.EOF {
			return &Error{Status: http.StatusBadGateway, Message: "upstream returned an empty stream"}
		}
		return x.streamError(err)
	}
	sw, err := NewSSEWriter(x.w)
	if err != nil {
		return err
	}
	sw.slabs = &x.st.d.sseSlabs
	x.sw = sw
	// Committed: no other attempt will need the request, which would
	// otherwise stay in memory for as long as the stream runs.
	x.in = routeInput{}
	x.st.d.streams.Add(1)
	defer x.st.d.streams.Add(-1)
	x.rec.Status = http.StatusOK
	x.rec.TTFBMS = ms(time.Since(x.start))

	x.writeDeadline() // before the ping timer can use x.rc
	var ping *time.Timer
	if x.st.pingInterval > 0 {
		var arm func()
		arm = func() {
			x.writeDeadline()
			if sw.ping() {
				ping.Reset(x.st.pingInterval)
			}
		}
		ping = time.AfterFunc(x.st.pingInterval, arm)
	}
	defer func() {
		if ping != nil {
			ping.Stop()
		}
	}()

	// The first event goes out at once; later ones are flushed together
	// when the upstream has nothing more ready (see upstreamBody.Read),
	// so that a burst of events costs one write, as it does a plain proxy.
	write := sw.WriteEvent
	ev := first
	for {
		x.observeEvent(ev)
		x.writeDeadline()
		if err := write(ev); err != nil {
			return x.writeFailed(err)
		}
		write = sw.writeDeferred
		if ping != nil {
			ping.Reset(x.st.pingInterval)
		}
		ev, err = src.ReadEvent()
		if x.flushErr != nil {
			return x.writeFailed(x.flushErr)
		}
		if err == io.EOF {
			if err := sw.flush(); err != nil {
				return x.writeFailed(err)
			}
			return nil
		}
		if err != nil {
			sw.flush()
			return x.streamError(err)
		}
	}
}

// writeFailed reports a failed write to the client.
func (x *exchange) writeFailed(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The client is still connected but has not read for the idle
		// timeout: it is as good as gone (499), and gets no error frame.
		x.sw.close()
		x.rec.Status = 499
		return &Error{Status: http.StatusRequestTimeout, Message: "client stopped reading for " + x.st.idle.String(), Err: err}
	}
	if cerr := x.r.Context().Err(); cerr != nil {
		return cerr
	}
	return fmt.Errorf("ccr: write to client: %w", err)
}

func (x *exchange) streamError(err error) error {
	if x.r.Context().Err() != nil {
		return x.r.Context().Err()
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, ErrStreamIdle), errors.Is(err, ErrTruncated), errors.Is(err, ErrLineTooLong), errors.Is(err, ErrFirstByteTimeout), errors.Is(err, ErrBodyTooLarge):
		return err
	}
	return &Error{Status: http.StatusBadGateway, Message: "upstream stream failed", Err: err}
}

// writeDeadline bounds the next write to the client by the idle timeout,
// so that a client that stops reading without leaving (a suspended
// process) cannot hold the upstream request open forever. net/http clears
// the deadline when the response ends; writers that cannot set one (a
// ResponseRecorder) go without.
func (x *exchange) writeDeadline() {
	if x.st.idle <= 0 {
		return
	}
	if x.rc == nil {
		x.rc = http.NewResponseController(x.w)
	}
	x.rc.SetWriteDeadline(time.Now().Add(x.st.idle)) // safe for concurrent use: net.Conn's is
}

// observeEvent takes usage from message_start and message_delta.
func (x *exchange) observeEvent(ev Event) {
	switch ev.Type {
	case "message_start":
		var m struct {
			Message struct {
				Usage Usage `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(ev.Data, &m) == nil {
			x.noteUsage(m.Message.Usage, false)
		}
	case "message_delta":
		var m struct {
			Usage *struct {
				InputTokens  *int `json:"input_tokens"`
				OutputTokens *int `json:"output_tokens"`
				CacheRead    *int `json:"cache_read_input_tokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(ev.Data, &m) == nil && m.Usage != nil {
			if m.Usage.InputTokens != nil {
				x.rec.InputTokens = *m.Usage.InputTokens
			}
			if m.Usage.OutputTokens != nil {
				x.rec.OutputTokens = *m.Usage.OutputTokens
			}
			if m.Usage.CacheRead != nil {
				x.rec.CacheRead = *m.Usage.CacheRead
			}
			x.st.d.sessions.store(x.session, x.rec.InputTokens+x.rec.CacheRead)
		}
	}
}

func (x *exchange) noteUsage(u Usage, final bool) {
	if u.InputTokens > 0 || final {
		x.rec.InputTokens = u.InputTokens
		x.rec.CacheRead = u.CacheReadInputTokens
	}
	if u.OutputTokens > 0 || final {
		x.rec.OutputTokens = u.OutputTokens
	}
	if final {
		x.st.d.sessions.store(x.session, u.InputTokens+u.CacheReadInputTokens)
	}
}

// serverTiming is the Server-Timing header of a non-streaming answer:
// routing, conversion and the upstream's time to its response headers,
// the phases the access record also carries.
func (x *exchange) serverTiming() string {
	b := make([]byte, 0, 64)
	b = append(b, "route;dur="...)
	b = strconv.AppendFloat(b, ms(x.routeDur), 'f', 3, 64)
	b = append(b, ", convert;dur="...)
	b = strconv.AppendFloat(b, ms(x.convertDur), 'f', 3, 64)
	b = append(b, ", upstream;dur="...)
	b = strconv.AppendFloat(b, ms(x.upstreamDur), 'f', 3, 64)
	return string(b)
}

// fail reports err to the client: as JSON with its status while nothing
// has been sent, as an event: error frame once the stream has started, and
// not at all when the client has gone.
func (x *exchange) fail(err error) {
	x.rec.cause = &redactedError{err: err, msg: x.st.redact(err.Error())}
	if x.r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, x.r.Context().Err())) {
		x.rec.Status = 499
		return
	}
	// A copy for the client: our request id, one of Anthropic's error
	// types (not an upstream's own, such as "server_error"), and no
	// provider key, wherever the upstream put it (an error event quoting
	// the key it was sent, say).
	e2 := *asError(err)
	e2.RequestID = cmp.Or(e2.RequestID, x.rec.ID)
	if !isErrorType(e2.Type) {
		e2.Type = ""
	}
	e2.Message = x.st.redact(e2.Message)
	e := &e2
	x.rec.Error = e.Message
	if x.committed() {
		x.writeDeadline()
		x.sw.WriteEvent(errorEvent(e))
		return
	}
	x.rec.Status = e.status()
	writeJSONError(x.w, e)
}

// redactedError is an error whose text has had the providers' keys
// removed, for the log.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (x *exchange) finish() {
	x.rec.DurationMS = ms(time.Since(x.start))
	x.rec.OverheadMS = ms(x.routeDur + x.convertDur)
	x.rec.RouteMS, x.rec.ConvertMS, x.rec.UpstreamMS = ms(x.routeDur), ms(x.convertDur), ms(x.upstreamDur)
	if x.rec.Status == 0 {
		x.rec.Status = http.StatusOK
	}
	d := x.st.d
	d.total.Add(1)
	if x.rec.Status >= 400 || x.rec.Error != "" {
		d.errors.Add(1)
	}
	ctx := context.WithoutCancel(x.r.Context())
	logRecord(ctx, x.st.log, &x.rec)
	d.trail.add(x.rec)
	if obs := d.observers.Load(); obs != nil {
		for _, f := range *obs {
			f(&x.rec)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// responseEvents turns a complete response into the events of a stream.
func responseEvents(resp *Response) EventReader {
	var b eventBuilder
	u := resp.Usage
	b.start(resp.ID, resp.Model, Usage{InputTokens: u.InputTokens, CacheReadInputTokens: u.CacheReadInputTokens, CacheCreationInputTokens: u.CacheCreationInputTokens})
	for _, c := range resp.Content {
		switch c.Type {
		case "text":
			b.text(c.Text)
		case "thinking":
			b.thinking(c.Thinking)
			b.signature(c.Signature)
		case "tool_use", "server_tool_use":
			b.startTool(c.Type, c.ID, c.Name)
			in := string(c.Input)
			if in == "" {
				in = "{}"
			}
			b.toolInput(in)
		default:
			raw, _ := json.Marshal(c)
			b.block(raw)
		}
	}
	b.finish(resp.StopReason, resp.StopSequence, &u, "")
	events := b.take()
	return EventReaderFunc(func() (Event, error) {
		if len(events) == 0 {
			return Event{}, io.EOF
		}
		ev := events[0]
		events = events[1:]
		return ev, nil
	})
}

// collectMessage reads a whole hub event stream and assembles the message
// it describes, as the Anthropic SDKs' accumulators do.
func collectMessage(src EventReader) (*Response, error) {
	var resp Response
	var blocks []ContentBlock
	// Deltas are appended to byte buffers, not to the blocks' strings,
	// so that collecting is linear in the answer's size.
	type parts struct{ text, thinking, signature, input []byte }
	var acc []parts
	started := false
	for {
		ev, err := src.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch ev.Type {
		case "message_start":
			var m struct {
				Message Response `json:"message"`
			}
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				return nil, fmt.Errorf("ccr: collect message_start: %w", err)
			}
			resp = m.Message
			started = true
		case "content_block_start":
			var m struct {
				Index        int          `json:"index"`
				ContentBlock ContentBlock `json:"content_block"`
			}
			if err := json.Unmarshal(ev.Data, &m); err != nil || m.Index != len(blocks) {
				return nil, fmt.Errorf("ccr: collect content_block_start: bad block %d", m.Index)
			}
			cb := m.ContentBlock
			if cb.Type == "tool_use" || cb.Type == "server_tool_use" {
				cb.Input = nil
			}
			blocks = append(blocks, cb)
			acc = append(acc, parts{})
		case "content_block_delta":
			var m struct {
				Index int `json:"index"`
				Delta struct {
					Type        string `json:"type"`
					Text        string `json:"text"`
					PartialJSON string `json:"partial_json"`
					Thinking    string `json:"thinking"`
					Signature   string `json:"signature"`
				} `json:"delta"`
			}
			if err := json.Unmarshal(ev.Data, &m); err != nil || m.Index < 0 || m.Index >= len(blocks) {
				return nil, fmt.Errorf("ccr: collect content_block_delta: bad block %d", m.Index)
			}
			a := &acc[m.Index]
			switch m.Delta.Type {
			case "text_delta":
				a.text = append(a.text, m.Delta.Text...)
			case "input_json_delta":
				a.input = append(a.input, m.Delta.PartialJSON...)
			case "thinking_delta":
				a.thinking = append(a.thinking, m.Delta.Thinking...)
			case "signature_delta":
				a.signature = append(a.signature, m.Delta.Signature...)
			}
		case "message_delta":
			var m struct {
				Delta struct {
					StopReason   string  `json:"stop_reason"`
					StopSequence *string `json:"stop_sequence"`
				} `json:"delta"`
				Usage map[string]int `json:"usage"`
			}
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				return nil, fmt.Errorf("ccr: collect message_delta: %w", err)
			}
			resp.StopReason, resp.StopSequence = m.Delta.StopReason, m.Delta.StopSequence
			for k, v := range m.Usage {
				switch k {
				case "input_tokens":
					resp.Usage.InputTokens = v
				case "output_tokens":
					resp.Usage.OutputTokens = v
				case "cache_read_input_tokens":
					resp.Usage.CacheReadInputTokens = v
				case "cache_creation_input_tokens":
					resp.Usage.CacheCreationInputTokens = v
				}
			}
		}
	}
	if !started {
		return nil, &Error{Status: http.StatusBadGateway, Message: "upstream returned an empty stream"}
	}
	for i := range blocks {
		b, a := &blocks[i], &acc[i]
		if len(a.text) > 0 {
			b.Text += string(a.text)
		}
		if len(a.thinking) > 0 {
			b.Thinking += string(a.thinking)
		}
		if len(a.signature) > 0 {
			b.Signature += string(a.signature)
		}
		if blocks[i].Type == "tool_use" || blocks[i].Type == "server_tool_use" {
			in := a.input
			if len(bytes.TrimSpace(in)) == 0 {
				in = []byte("{}")
			}
			if !json.Valid(in) {
				return nil, &Error{Status: http.StatusBadGateway, Message: "upstream sent malformed tool input"}
			}
			blocks[i].Input = in
		}
	}
	resp.Content = blocks
	if resp.Content == nil {
		resp.Content = []ContentBlock{}
	}
	resp.Raw = nil
	return &resp, nil
}

// readAllHint is io.ReadAll with a size hint, such as a Content-Length: a body
// of the announced size is read into one buffer, without the copies of
// growing one.
func readAllHint(r io.Reader, hint int64) ([]byte, error) {
	if hint <= 0 || hint > 64<<20 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, hint+1) // +1: the read that finds EOF needs room
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// streamView returns what a stream keeps of its request: everything but
// the conversation (Messages and System), Raw, Metadata and Extra, with
// the tools' types and names only. A stream holds its request for as long
// as it runs, and the conversation and the tool schemas are the bulk of a
// request: a thousand open streams would otherwise hold a thousand
// conversations.
func streamView(req *Request) *Request {
	v := *req
	v.Messages, v.System, v.Raw, v.Metadata, v.Extra = nil, nil, nil, nil, nil
	v.rawModel = rawSpan{}
	if len(req.Tools) > 0 {
		v.Tools = make([]Tool, len(req.Tools))
		for i, t := range req.Tools {
			v.Tools[i] = Tool{Type: t.Type, Name: t.Name, Strict: t.Strict}
		}
	}
	return &v
}
