package ccr

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"time"
)

// Log keys of the access record, written once per request when it ends.
const (
	LogKeyMethod     = "method"
	LogKeyPath       = "path"
	LogKeyRoute      = "route"
	LogKeyProvider   = "provider"
	LogKeyModel      = "model"
	LogKeyStream     = "stream"
	LogKeyStatus     = "status"
	LogKeyDuration   = "dur_ms"
	LogKeyTTFB       = "ttfb_ms"
	LogKeyInTokens   = "in_tokens"
	LogKeyOutTokens  = "out_tokens"
	LogKeyCacheRead  = "cache_read_tokens"
	LogKeyRequestID  = "req_id"
	LogKeyAttempts   = "attempts"
	LogKeyCause      = "cause"
	LogKeyOverhead   = "overhead_ms"
	LogKeyRouteMS    = "route_ms"
	LogKeyConvertMS  = "convert_ms"
	LogKeyUpstreamMS = "upstream_ms"
	LogKeyUpstreamID = "upstream_req_id"
)

// RequestRecord is what the Router remembers of one finished request, for
// the access log, the recent-requests trail and metrics. It holds no
// prompt text and no secret.
type RequestRecord struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Route       string    `json:"route,omitempty"`
	Provider    string    `json:"provider,omitempty"`
	Model       string    `json:"model,omitempty"`
	ClientModel string    `json:"client_model,omitempty"`
	Stream      bool      `json:"stream"`
	Status      int       `json:"status"`
	DurationMS  float64   `json:"duration_ms"`
	TTFBMS      float64   `json:"ttfb_ms,omitempty"`
	OverheadMS  float64   `json:"overhead_ms,omitempty"` // RouteMS + ConvertMS
	// RouteMS, ConvertMS and UpstreamMS are the phases of the
	// Server-Timing header: routing (with token counting), request and
	// response conversion, and the upstream's time to its response
	// headers.
	RouteMS      float64   `json:"route_ms,omitempty"`
	ConvertMS    float64   `json:"convert_ms,omitempty"`
	UpstreamMS   float64   `json:"upstream_ms,omitempty"`
	InputTokens  int       `json:"input_tokens,omitempty"`
	OutputTokens int       `json:"output_tokens,omitempty"`
	CacheRead    int       `json:"cache_read_tokens,omitempty"`
	Error        string    `json:"error,omitempty"`
	Attempts     []Attempt `json:"attempts,omitempty"`

	cause error
}

// Attempt is one upstream attempt of a request: the first, a retry with
// another key, or a fallback.
type Attempt struct {
	Provider string  `json:"provider"`
	Model    string  `json:"model"`
	Key      string  `json:"key,omitempty"` // a fingerprint, never the key
	Status   int     `json:"status,omitempty"`
	Error    string  `json:"error,omitempty"`
	MS       float64 `json:"ms"`
}

// logRecord writes rec as the access record.
func logRecord(ctx context.Context, log *slog.Logger, rec *RequestRecord) {
	level := slog.LevelInfo
	if rec.Status >= 500 || rec.Status == 429 {
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String(LogKeyRequestID, rec.ID),
		slog.String(LogKeyMethod, rec.Method),
		slog.String(LogKeyPath, rec.Path),
		slog.Int(LogKeyStatus, rec.Status),
		slog.Float64(LogKeyDuration, round2(rec.DurationMS)),
	}
	if rec.Route != "" {
		attrs = append(attrs, slog.String(LogKeyRoute, rec.Route), slog.String(LogKeyProvider, rec.Provider),
			slog.String(LogKeyModel, rec.Model), slog.Bool(LogKeyStream, rec.Stream))
	}
	if rec.TTFBMS > 0 {
		attrs = append(attrs, slog.Float64(LogKeyTTFB, round2(rec.TTFBMS)))
	}
	if rec.OverheadMS > 0 {
		attrs = append(attrs, slog.Float64(LogKeyOverhead, round2(rec.OverheadMS)))
	}
	if rec.Route != "" {
		attrs = append(attrs, slog.Float64(LogKeyRouteMS, round3(rec.RouteMS)), slog.Float64(LogKeyConvertMS, round3(rec.ConvertMS)),
			slog.Float64(LogKeyUpstreamMS, round3(rec.UpstreamMS)))
	}
	if rec.InputTokens > 0 || rec.OutputTokens > 0 {
		attrs = append(attrs, slog.Int(LogKeyInTokens, rec.InputTokens), slog.Int(LogKeyOutTokens, rec.OutputTokens))
	}
	if rec.CacheRead > 0 {
		attrs = append(attrs, slog.Int(LogKeyCacheRead, rec.CacheRead))
	}
	if len(rec.Attempts) > 1 {
		attrs = append(attrs, slog.Any(LogKeyAttempts, rec.Attempts))
	}
	if rec.cause != nil {
		attrs = append(attrs, slog.String(LogKeyCause, rec.cause.Error()))
	}
	// Straight to the handler: an access record has no source line worth
	// the stack walk Logger.LogAttrs makes for one.
	r := slog.NewRecord(time.Now(), level, "request", 0)
	r.AddAttrs(attrs...)
	log.Handler().Handle(ctx, r)
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// requestTrail is a bounded ring of recent request records.
type requestTrail struct {
	mu   sync.Mutex
	buf  []RequestRecord
	next int
	full bool
}

func newRequestTrail(n int) *requestTrail { return &requestTrail{buf: make([]RequestRecord, n)} }

func (t *requestTrail) add(rec RequestRecord) {
	rec.cause = nil
	t.mu.Lock()
	t.buf[t.next] = rec
	t.next = (t.next + 1) % len(t.buf)
	if t.next == 0 {
		t.full = true
	}
	t.mu.Unlock()
}

// list returns the records, newest first.
func (t *requestTrail) list() []RequestRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.next
	if t.full {
		n = len(t.buf)
	}
	out := make([]RequestRecord, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, t.buf[(t.next-i+len(t.buf))%len(t.buf)])
	}
	return out
}

// sessionCache remembers the last input-token usage per session (LRU).
type sessionCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type sessionEntry struct {
	id    string
	input int
}

func newSessionCache(max int) *sessionCache {
	return &sessionCache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *sessionCache) lastInput(id string) int {
	if id == "" {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*sessionEntry).input
	}
	return 0
}

func (c *sessionCache) store(id string, input int) {
	if id == "" || input <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		e.Value.(*sessionEntry).input = input
		c.ll.MoveToFront(e)
		return
	}
	c.m[id] = c.ll.PushFront(&sessionEntry{id: id, input: input})
	if c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*sessionEntry).id)
	}
}
