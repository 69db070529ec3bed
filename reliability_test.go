package ccr

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file proves the request pipeline's reliability mechanisms against
// real listening routers: timeouts, fallback, key rotation and limits.
// faults_test.go drives misbehaving upstreams and clients, leak_test.go
// counts what is left behind, security_test.go checks the reference's
// weaknesses.

// sseFrames are anthropicSSE's events, one wire frame each.
var sseFrames = func() []string {
	var out []string
	for _, f := range strings.SplitAfter(anthropicSSE, "\n\n") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}()

// msgBody returns a Messages request whose user text is text.
func msgBody(text string, stream bool) string {
	return fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":%v,"messages":[{"role":"user","content":%q}]}`, stream, text)
}

// userText extracts the first user message text from an upstream body, to
// tell requests apart in a fake upstream.
func userText(body []byte) string {
	var r struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(body, &r)
	if len(r.Messages) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(r.Messages[0].Content, &s) == nil {
		return s
	}
	return string(r.Messages[0].Content)
}

// isStream reports whether an upstream body asks for a stream.
func isStream(body []byte) bool {
	var r struct {
		Stream bool `json:"stream"`
	}
	json.Unmarshal(body, &r)
	return r.Stream
}

// writeSSE writes frames, flushing after each; it stops when the client
// has gone.
func writeSSE(w http.ResponseWriter, frames ...string) bool {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	for _, f := range frames {
		if _, err := io.WriteString(w, f); err != nil {
			return false
		}
		if http.NewResponseController(w).Flush() != nil {
			return false
		}
	}
	return true
}

// answerOK answers an Anthropic request normally: JSON or the whole
// stream, as asked.
func answerOK(w http.ResponseWriter, body []byte) {
	if isStream(body) {
		writeSSE(w, sseFrames...)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, anthropicReply)
}

// newUpstream starts a loopback upstream that reads the request body and
// hands it to h.
func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// okUpstream answers every request normally.
func okUpstream(t *testing.T) *httptest.Server {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { answerOK(w, body) })
}

// deadURL returns the URL of a loopback port nothing listens on: port 1,
// which no test listener (they take ephemeral ports) can occupy, unlike a
// port freed after use.
func deadURL(t *testing.T) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:1", time.Second)
	if err == nil {
		c.Close()
		t.Skip("something listens on 127.0.0.1:1")
	}
	return "http://127.0.0.1:1"
}

// anthropicProvider is a provider speaking the Anthropic format at url.
func anthropicProvider(name, url string, keys ...Secret) ProviderConfig {
	if len(keys) == 0 {
		keys = []Secret{Secret("sk-" + name + "-key")}
	}
	return ProviderConfig{Name: name, BaseURL: url + "/v1/messages", APIKeys: keys, Models: []string{"claude-up"},
		Use: []TransformerUse{{Name: "Anthropic"}}}
}

// logSink collects log output; safe for concurrent use.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the JSON log records whose msg is msg.
func (l *logSink) records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// testConfig routes default to the first provider and falls back to the
// others in order; it logs as JSON into sink when sink is not nil.
func testConfig(t *testing.T, sink *logSink, providers ...ProviderConfig) Config {
	cfg := Config{
		Providers: providers,
		Router:    Routes{Default: providers[0].Name + ",claude-up"},
		APIKey:    "client-key",
		Logger:    testLogger(t),
	}
	for _, p := range providers[1:] {
		if cfg.Fallback == nil {
			cfg.Fallback = map[string][]string{}
		}
		cfg.Fallback[ScenarioDefault] = append(cfg.Fallback[ScenarioDefault], p.Name+",claude-up")
	}
	if sink != nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.MultiWriter(sink, t.Output()), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return cfg
}

// serve starts a real listening ccr for cfg.
func serve(t *testing.T, cfg Config) (*Router, *httptest.Server) {
	t.Helper()
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		srv.Close()
		rt.Close()
	})
	return rt, srv
}

// outcome is what a client saw.
type outcome struct {
	status  int
	header  http.Header
	body    []byte
	events  []Event // for event streams
	errType string  // the JSON error's or the error frame's error.type
	errMsg  string
	err     error // transport error reading the response
}

// lastType is the type of the last event received.
func (o outcome) lastType() string {
	if len(o.events) == 0 {
		return ""
	}
	return o.events[len(o.events)-1].Type
}

func (o outcome) String() string {
	return fmt.Sprintf("status %d, error %s %q, %d events (last %q), err %v, body %.300s", o.status, o.errType, o.errMsg, len(o.events), o.lastType(), o.err, o.body)
}

// call posts body to the router at base with the client key.
func call(t *testing.T, c *http.Client, base, body string) outcome {
	t.Helper()
	return callCtx(t.Context(), t, c, base, body)
}

func callCtx(ctx context.Context, t *testing.T, c *http.Client, base, body string) outcome {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", "client-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	o := outcome{status: resp.StatusCode, header: resp.Header}
	o.body, o.err = io.ReadAll(resp.Body)
	parseOutcome(&o)
	return o
}

// parseOutcome fills events and the error fields from o.body.
func parseOutcome(o *outcome) {
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if strings.HasPrefix(o.header.Get("Content-Type"), "text/event-stream") {
		r := NewSSEReader(bytes.NewReader(o.body))
		for {
			ev, err := r.ReadEvent()
			if err != nil {
				break
			}
			o.events = append(o.events, ev)
			if ev.Type == "error" && json.Unmarshal(ev.Data, &e) == nil {
				o.errType, o.errMsg = e.Error.Type, e.Error.Message
			}
		}
		return
	}
	if o.status != 200 && json.Unmarshal(o.body, &e) == nil && e.Type == "error" {
		o.errType, o.errMsg = e.Error.Type, e.Error.Message
	}
}

// lastRecord returns the newest access record.
func lastRecord(t *testing.T, rt *Router) RequestRecord {
	t.Helper()
	recs := rt.RecentRequests()
	if len(recs) == 0 {
		t.Fatal("no access record")
	}
	return recs[0]
}

// attemptSummary renders a record's attempts as "provider:status,...".
func attemptSummary(rec RequestRecord) string {
	var parts []string
	for _, a := range rec.Attempts {
		parts = append(parts, fmt.Sprintf("%s:%d", a.Provider, a.Status))
	}
	return strings.Join(parts, ",")
}

// block waits until the client goes or d passes.
func block(r *http.Request, d time.Duration) {
	select {
	case <-r.Context().Done():
	case <-time.After(d):
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	const fb, idle = 300 * time.Millisecond, 300 * time.Millisecond
	for _, tt := range []struct {
		name     string
		stream   bool
		upstream func(w http.ResponseWriter, r *http.Request, body []byte)
		// want
		status  int
		errType string
		msg     string // in the client's error message
		cause   string // in the access log's cause
		events  int    // events before the error frame, for committed streams
	}{
		{"no headers, json", false, func(w http.ResponseWriter, r *http.Request, _ []byte) { block(r, 10*time.Second) },
			504, "timeout_error", "upstream a did not answer within 300ms", "first byte timeout", 0},
		{"no headers, stream", true, func(w http.ResponseWriter, r *http.Request, _ []byte) { block(r, 10*time.Second) },
			504, "timeout_error", "upstream a did not answer within 300ms", "first byte timeout", 0},
		{"headers then silence, stream", true, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			block(r, 10*time.Second)
		}, 504, "timeout_error", "idle", "upstream stream idle", 0},
		{"headers then silence, json", false, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			block(r, 10*time.Second)
		}, 504, "timeout_error", "idle", "upstream stream idle", 0},
		{"silence after two events", true, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			writeSSE(w, sseFrames[:2]...)
			block(r, 10*time.Second)
		}, 200, "timeout_error", "idle", "upstream stream idle", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sink logSink
			up := newUpstream(t, tt.upstream)
			cfg := testConfig(t, &sink, anthropicProvider("a", up.URL))
			cfg.APITimeout, cfg.StreamIdleTimeout = fb, idle
			rt, srv := serve(t, cfg)
			start := time.Now()
			o := call(t, nil, srv.URL, msgBody("hi", tt.stream))
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if o.status != tt.status || o.errType != tt.errType || !strings.Contains(o.errMsg, tt.msg) {
				t.Errorf("got %v\nwant status %d, %s containing %q", o, tt.status, tt.errType, tt.msg)
			}
			if tt.status == 200 {
				// Committed: the events so far, then the error frame, and
				// nothing claiming success.
				if len(o.events) != tt.events+1 || o.lastType() != "error" {
					t.Errorf("events = %d, last %q; want %d then error", len(o.events), o.lastType(), tt.events)
				}
			} else if ct := o.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q; want application/json", ct)
			}
			rec := lastRecord(t, rt)
			if rec.Status != tt.status || !strings.Contains(rec.Error, tt.msg) || len(rec.Attempts) != 1 {
				t.Errorf("record = %+v", rec)
			}
			logged := sink.records("request")
			if len(logged) != 1 || !strings.Contains(fmt.Sprint(logged[0]["cause"]), tt.cause) {
				t.Errorf("access log = %v; want cause containing %q", logged, tt.cause)
			}
		})
	}
}

// A healthy stream whose events are spread over more than both timeouts
// completes: the first-byte timeout stops at the headers and the idle
// timeout restarts at every event.
func TestSlowHealthyStreamCompletes(t *testing.T) {
	t.Parallel()
	const gap = 120 * time.Millisecond
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(gap)
		for _, f := range sseFrames {
			if !writeSSE(w, f) {
				return
			}
			time.Sleep(gap)
		}
	})
	cfg := testConfig(t, nil, anthropicProvider("a", up.URL))
	// Three gaps of margin: a loaded machine stretches sleeps.
	cfg.APITimeout, cfg.StreamIdleTimeout = 3*gap, 3*gap
	rt, srv := serve(t, cfg)
	start := time.Now()
	o := call(t, nil, srv.URL, msgBody("hi", true))
	if d := time.Since(start); d < time.Duration(len(sseFrames))*gap {
		t.Fatalf("stream took %v; the test needs it slower than the timeouts", d)
	}
	if o.status != 200 || o.errType != "" || len(o.events) != len(sseFrames) || o.lastType() != "message_stop" {
		t.Errorf("slow stream: %v", o)
	}
	if rec := lastRecord(t, rt); rec.Status != 200 || rec.Error != "" {
		t.Errorf("record = %+v", rec)
	}
}

// A non-streaming answer that takes longer than the idle timeout to
// start, but arrives within the first-byte timeout, is served.
func TestSlowJSONWithinFirstByteTimeout(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(300 * time.Millisecond)
		answerOK(w, body)
	})
	cfg := testConfig(t, nil, anthropicProvider("a", up.URL))
	cfg.APITimeout, cfg.StreamIdleTimeout = 2*time.Second, 100*time.Millisecond
	_, srv := serve(t, cfg)
	if o := call(t, nil, srv.URL, msgBody("hi", false)); o.status != 200 || string(o.body) != anthropicReply {
		t.Errorf("slow JSON: %v", o)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// statusUpstream answers every request with status and an Anthropic error
// body, adding header when not nil.
func statusUpstream(t *testing.T, status int, header map[string]string) *httptest.Server {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"%s","message":"primary says %d"}}`, ErrorType(status), status)
	})
}

func TestFallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		stream  bool
		primary func(t *testing.T) string // the primary's base URL
		// want
		status   int
		errType  string
		attempts string
		lastType string // for streams
	}{
		{"connection refused", false, deadURL, 200, "", "a:502,b:200", ""},
		{"connection refused, stream", true, deadURL, 200, "", "a:502,b:200", "message_stop"},
		{"no headers in time", false, func(t *testing.T) string {
			return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { block(r, 10*time.Second) }).URL
		}, 200, "", "a:504,b:200", ""},
		{"silent stream before any event", true, func(t *testing.T) string {
			return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				http.NewResponseController(w).Flush()
				block(r, 10*time.Second)
			}).URL
		}, 200, "", "a:200,b:200", "message_stop"},
		{"429", false, func(t *testing.T) string { return statusUpstream(t, 429, map[string]string{"Retry-After": "60"}).URL }, 200, "", "a:429,b:200", ""},
		{"500", false, func(t *testing.T) string { return statusUpstream(t, 500, nil).URL }, 200, "", "a:500,b:200", ""},
		{"502, stream", true, func(t *testing.T) string { return statusUpstream(t, 502, nil).URL }, 200, "", "a:502,b:200", "message_stop"},
		{"503", false, func(t *testing.T) string { return statusUpstream(t, 503, nil).URL }, 200, "", "a:503,b:200", ""},
		{"529, stream", true, func(t *testing.T) string { return statusUpstream(t, 529, nil).URL }, 200, "", "a:529,b:200", "message_stop"},
		{"error event before any other", true, func(t *testing.T) string {
			return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeSSE(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n")
			}).URL
		}, 200, "", "a:200,b:200", "message_stop"},
		// Not retried: the request itself, or the credentials, are wrong.
		{"400", false, func(t *testing.T) string { return statusUpstream(t, 400, nil).URL }, 400, "invalid_request_error", "a:400", ""},
		{"401", false, func(t *testing.T) string { return statusUpstream(t, 401, nil).URL }, 401, "authentication_error", "a:401", ""},
		{"404", true, func(t *testing.T) string { return statusUpstream(t, 404, nil).URL }, 404, "not_found_error", "a:404", ""},
		// Not retried: something already reached the client.
		{"reset after two events", true, func(t *testing.T) string {
			return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeSSE(w, sseFrames[:2]...)
				panic(http.ErrAbortHandler)
			}).URL
		}, 200, "api_error", "a:200", "error"},
		{"error event after two events", true, func(t *testing.T) string {
			return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeSSE(w, sseFrames[0], sseFrames[1], "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n")
			}).URL
		}, 200, "overloaded_error", "a:200", "error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := okUpstream(t)
			cfg := testConfig(t, nil, anthropicProvider("a", tt.primary(t)), anthropicProvider("b", b.URL))
			cfg.APITimeout, cfg.StreamIdleTimeout = 300*time.Millisecond, 300*time.Millisecond
			rt, srv := serve(t, cfg)
			o := call(t, nil, srv.URL, msgBody("hi", tt.stream))
			if o.status != tt.status || o.errType != tt.errType || o.lastType() != tt.lastType {
				t.Errorf("got %v\nwant status %d, error %q, last event %q", o, tt.status, tt.errType, tt.lastType)
			}
			if !tt.stream && tt.status == 200 && string(o.body) != anthropicReply {
				t.Errorf("body = %s", o.body)
			}
			rec := lastRecord(t, rt)
			if got := attemptSummary(rec); got != tt.attempts {
				t.Errorf("attempts = %s; want %s (%+v)", got, tt.attempts, rec.Attempts)
			}
			for i, a := range rec.Attempts {
				if i < len(rec.Attempts)-1 && a.Error == "" {
					t.Errorf("attempt %d has no error: %+v", i, a)
				}
				if a.Key == "" || strings.Contains(a.Key, "sk-") {
					t.Errorf("attempt %d key = %q; want a fingerprint", i, a.Key)
				}
			}
			if rec.Status != tt.status {
				t.Errorf("record status %d; want %d", rec.Status, tt.status)
			}
		})
	}
}

// When the routed provider and every fallback fail, the client gets the
// routed provider's error, and every attempt is in the record.
func TestFallbackAllFailReturnsOriginal(t *testing.T) {
	t.Parallel()
	a := statusUpstream(t, 529, nil)
	b := statusUpstream(t, 401, nil)
	c := statusUpstream(t, 500, nil)
	cfg := testConfig(t, nil, anthropicProvider("a", a.URL), anthropicProvider("b", b.URL), anthropicProvider("c", c.URL), anthropicProvider("d", deadURL(t)))
	rt, srv := serve(t, cfg)
	o := call(t, nil, srv.URL, msgBody("hi", true))
	if o.status != 529 || o.errType != "overloaded_error" || o.errMsg != "primary says 529" {
		t.Errorf("got %v; want the primary's 529", o)
	}
	if got := attemptSummary(lastRecord(t, rt)); got != "a:529,b:401,c:500,d:502" {
		t.Errorf("attempts = %s", got)
	}
}

// A short Retry-After is waited for and the request tried again; a long
// one is passed on to the client at once.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		header   map[string]string
		status   int
		attempts string
		minWait  time.Duration
	}{
		{"retry-after-ms", map[string]string{"Retry-After-Ms": "400"}, 200, "a:429,a:200", 400 * time.Millisecond},
		{"retry-after seconds", map[string]string{"Retry-After": "1"}, 200, "a:429,a:200", time.Second},
		{"beyond the bound", map[string]string{"Retry-After": "60"}, 429, "a:429", 0},
		{"none", nil, 429, "a:429", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if n.Add(1) == 1 {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(429)
					io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)
					return
				}
				answerOK(w, body)
			})
			rt, srv := serve(t, testConfig(t, nil, anthropicProvider("a", up.URL)))
			start := time.Now()
			o := call(t, nil, srv.URL, msgBody("hi", false))
			d := time.Since(start)
			if o.status != tt.status || d < tt.minWait || tt.minWait == 0 && d > 2*time.Second {
				t.Errorf("got %v after %v; want %d after at least %v", o, d, tt.status, tt.minWait)
			}
			if tt.status == 429 {
				if o.errType != "rate_limit_error" || o.header.Get("Retry-After") != tt.header["Retry-After"] {
					t.Errorf("429 relayed as %v, Retry-After %q", o, o.header.Get("Retry-After"))
				}
			}
			if got := attemptSummary(lastRecord(t, rt)); got != tt.attempts {
				t.Errorf("attempts = %s; want %s", got, tt.attempts)
			}
		})
	}
}

// keyUpstream answers by the x-api-key it receives: status[key] when set,
// else normally. It records the keys in arrival order.
type keyUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	keys []string
}

func newKeyUpstream(t *testing.T, status map[string]int, header map[string]string) *keyUpstream {
	ku := &keyUpstream{}
	ku.Server = newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		k := r.Header.Get("X-Api-Key")
		ku.mu.Lock()
		ku.keys = append(ku.keys, k)
		ku.mu.Unlock()
		if s := status[k]; s != 0 {
			for hk, hv := range header {
				w.Header().Set(hk, hv)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(s)
			// Some servers quote the key they were sent.
			fmt.Fprintf(w, `{"type":"error","error":{"type":"%s","message":"key %s refused"}}`, ErrorType(s), k)
			return
		}
		answerOK(w, body)
	})
	return ku
}

func (ku *keyUpstream) seen() []string {
	ku.mu.Lock()
	defer ku.mu.Unlock()
	out := slices.Clone(ku.keys)
	ku.keys = nil
	return out
}

// routerClock makes the router's clock controllable: rt.d.now is read for
// key cooldowns.
func routerClock(rt *Router) *atomic.Int64 {
	var offset atomic.Int64
	base := time.Now()
	rt.d.now = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	return &offset
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	keys := []Secret{"sk-key-0000", "sk-key-1111", "sk-key-2222"}

	t.Run("round robin", func(t *testing.T) {
		t.Parallel()
		up := newKeyUpstream(t, nil, nil)
		_, srv := serve(t, testConfig(t, nil, anthropicProvider("a", up.URL, keys...)))
		for range 6 {
			if o := call(t, nil, srv.URL, msgBody("hi", false)); o.status != 200 {
				t.Fatal(o)
			}
		}
		want := []string{"sk-key-0000", "sk-key-1111", "sk-key-2222", "sk-key-0000", "sk-key-1111", "sk-key-2222"}
		if got := up.seen(); !slices.Equal(got, want) {
			t.Errorf("keys used %v; want %v", got, want)
		}
	})

	t.Run("429 cools the key down for its Retry-After", func(t *testing.T) {
		t.Parallel()
		up := newKeyUpstream(t, map[string]int{"sk-key-0000": 429}, map[string]string{"Retry-After": "20"})
		rt, srv := serve(t, testConfig(t, nil, anthropicProvider("a", up.URL, keys...)))
		clock := routerClock(rt)
		o := call(t, nil, srv.URL, msgBody("hi", false))
		rec := lastRecord(t, rt)
		if o.status != 200 || attemptSummary(rec) != "a:429,a:200" || rec.Attempts[0].Key == rec.Attempts[1].Key {
			t.Fatalf("first request: %v, attempts %+v", o, rec.Attempts)
		}
		for range 4 {
			call(t, nil, srv.URL, msgBody("hi", false))
		}
		if got := up.seen(); slices.Contains(got[1:], "sk-key-0000") || len(got) != 6 {
			t.Errorf("keys used %v; the cooling key must not be used", got)
		}
		clock.Add(int64(21 * time.Second))
		for range 3 {
			call(t, nil, srv.URL, msgBody("hi", false))
		}
		if got := up.seen(); !slices.Contains(got, "sk-key-0000") {
			t.Errorf("keys used after the cooldown %v; want the key back", got)
		}
	})

	for _, status := range []int{401, 403} {
		t.Run(fmt.Sprintf("%d sets the key aside and reports it", status), func(t *testing.T) {
			t.Parallel()
			var sink logSink
			up := newKeyUpstream(t, map[string]int{"sk-key-1111": status}, nil)
			rt, srv := serve(t, testConfig(t, &sink, anthropicProvider("a", up.URL, keys...)))
			for range 6 {
				if o := call(t, nil, srv.URL, msgBody("hi", false)); o.status != 200 {
					t.Fatalf("client saw %v; another key should have answered", o)
				}
			}
			got := up.seen()
			if n := strings.Count(strings.Join(got, " "), "sk-key-1111"); n != 1 || len(got) != 7 {
				t.Errorf("keys used %v; want the bad key once, then never", got)
			}
			warns := sink.records("provider key set aside until the next reload")
			if len(warns) != 1 || warns[0]["level"] != "WARN" || !regexp.MustCompile(`^#1:[0-9a-f]{6}$`).MatchString(fmt.Sprint(warns[0]["key"])) {
				t.Errorf("set-aside log = %v; want one WARN naming key #1 by fingerprint", warns)
			}
			if strings.Contains(sink.String(), "sk-key-") {
				t.Errorf("a key reached the log:\n%s", sink.String())
			}
			for _, rec := range rt.RecentRequests() {
				for _, a := range rec.Attempts {
					if strings.Contains(a.Error+a.Key, "sk-key-") {
						t.Errorf("a key in the record: %+v", a)
					}
				}
			}
		})
	}

	t.Run("every key refused", func(t *testing.T) {
		t.Parallel()
		up := newKeyUpstream(t, map[string]int{"sk-key-0000": 401, "sk-key-1111": 401}, nil)
		rt, srv := serve(t, testConfig(t, nil, anthropicProvider("a", up.URL, keys[:2]...)))
		o := call(t, nil, srv.URL, msgBody("hi", false))
		if o.status != 401 || o.errType != "authentication_error" || !strings.HasPrefix(o.errMsg, "upstream a: ") || strings.Contains(string(o.body), "sk-key-") {
			t.Errorf("got %v; want 401 naming the upstream, without the key", o)
		}
		if got := attemptSummary(lastRecord(t, rt)); got != "a:401,a:401" {
			t.Errorf("attempts = %s", got)
		}
	})

	t.Run("a single key is never set aside", func(t *testing.T) {
		t.Parallel()
		up := newKeyUpstream(t, map[string]int{"sk-key-0000": 401}, nil)
		_, srv := serve(t, testConfig(t, nil, anthropicProvider("a", up.URL, keys[0])))
		for range 2 {
			if o := call(t, nil, srv.URL, msgBody("hi", false)); o.status != 401 || strings.Contains(string(o.body), "sk-key") {
				t.Errorf("got %v", o)
			}
		}
		if got := up.seen(); len(got) != 2 {
			t.Errorf("keys used %v; want the only key twice", got)
		}
	})
}

// post sends body with an explicit length or, when chunked, without one.
func postRaw(t *testing.T, base string, body io.Reader, length int64) outcome {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/messages", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("x-api-key", "client-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	o := outcome{status: resp.StatusCode, header: resp.Header}
	o.body, o.err = io.ReadAll(resp.Body)
	parseOutcome(&o)
	return o
}

// padded returns a Messages request body of exactly n bytes.
func padded(t *testing.T, n int) string {
	b := msgBody("", false)
	if n < len(b) {
		t.Fatalf("padded(%d): the smallest body has %d bytes", n, len(b))
	}
	return msgBody(strings.Repeat("x", n-len(b)), false)
}

func TestRequestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 4096
	cfg := testConfig(t, nil, anthropicProvider("a", okUpstream(t).URL))
	cfg.MaxRequestBytes = limit
	_, srv := serve(t, cfg)
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool
		status  int
	}{
		{"at the limit", limit, false, 200},
		{"at the limit, chunked", limit, true, 200},
		{"over, with Content-Length", limit + 1, false, 413},
		{"over, chunked", limit + 1, true, 413},
		{"far over, chunked", 10 * limit, true, 413},
	} {
		body := padded(t, tt.size)
		var r io.Reader = strings.NewReader(body)
		length := int64(len(body))
		if tt.chunked {
			r, length = io.MultiReader(r), -1 // hide the length
		}
		o := postRaw(t, srv.URL, r, length)
		if o.status != tt.status {
			t.Errorf("%s: %v; want %d", tt.name, o, tt.status)
		}
		if tt.status == 413 && (o.errType != "request_too_large" || o.errMsg != "request body exceeds 4096 bytes") {
			t.Errorf("%s: %v", tt.name, o)
		}
	}
	if o := call(t, nil, srv.URL, msgBody("hi", false)); o.status != 200 {
		t.Errorf("after the refusals: %v", o)
	}
}

func TestResponseBodyLimit(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json") // even to a stream request
		io.WriteString(w, anthropicReply)
	})
	for _, tt := range []struct {
		limit  int64
		stream bool
		status int
	}{
		{int64(len(anthropicReply)), false, 200},
		{int64(len(anthropicReply)), true, 200},
		{int64(len(anthropicReply)) - 1, false, 502},
		{int64(len(anthropicReply)) - 1, true, 502},
	} {
		cfg := testConfig(t, nil, anthropicProvider("a", up.URL))
		cfg.MaxResponseBytes = tt.limit
		_, srv := serve(t, cfg)
		o := call(t, nil, srv.URL, msgBody("hi", tt.stream))
		if o.status != tt.status {
			t.Errorf("limit %d, stream %v: %v; want %d", tt.limit, tt.stream, o, tt.status)
		}
		if tt.status == 502 && (o.errType != "api_error" || o.errMsg != "upstream response over the size limit") {
			t.Errorf("limit %d: %v", tt.limit, o)
		}
		if tt.status == 200 && tt.stream && o.lastType() != "message_stop" {
			t.Errorf("JSON answer to a stream request not converted: %v", o)
		}
	}
}

// deltaOfLine returns a text delta event whose data line is exactly n
// bytes long.
func deltaOfLine(n int) string {
	const pre, post = `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`, `"}}`
	return "event: content_block_delta\n" + pre + strings.Repeat("y", n-len(pre)-len(post)) + post + "\n\n"
}

func TestEventSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	for _, tt := range []struct {
		name   string
		frames []string
		status int
		last   string
		events int
	}{
		{"line at the limit", append(slices.Clone(sseFrames[:2]), append([]string{deltaOfLine(limit)}, sseFrames[2:]...)...), 200, "message_stop", len(sseFrames) + 1},
		{"line over the limit first", []string{deltaOfLine(limit + 1)}, 502, "", 0},
		{"line over the limit later", append(slices.Clone(sseFrames[:2]), deltaOfLine(limit+1)), 200, "error", 3},
		{"data lines adding up over the limit", append(slices.Clone(sseFrames[:2]), "event: content_block_delta\n"+strings.Repeat("data: "+strings.Repeat("z", 100)+"\n", 11)+"\n"), 200, "error", 3},
		{"endless line", append(slices.Clone(sseFrames[:2]), "data: "+strings.Repeat("w", 1<<20)), 200, "error", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeSSE(w, tt.frames...) })
			cfg := testConfig(t, nil, anthropicProvider("a", up.URL))
			cfg.MaxEventBytes = limit
			_, srv := serve(t, cfg)
			o := call(t, nil, srv.URL, msgBody("hi", true))
			if o.status != tt.status || o.lastType() != tt.last || len(o.events) != tt.events {
				t.Errorf("got %v; want %d, %d events, last %q", o, tt.status, tt.events, tt.last)
			}
			if tt.status != 200 || tt.last == "error" {
				if o.errType != "api_error" || !strings.Contains(o.errMsg, "over the size limit") {
					t.Errorf("error %s %q; want api_error about the size limit", o.errType, o.errMsg)
				}
			}
		})
	}
}

// gatedUpstream holds every request until released, one per token sent on
// gate, and records the arrival order of the user texts.
type gatedUpstream struct {
	*httptest.Server
	gate    chan struct{}
	mu      sync.Mutex
	arrived []string
}

func newGatedUpstream(t *testing.T) *gatedUpstream {
	g := &gatedUpstream{gate: make(chan struct{})}
	g.Server = newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		g.mu.Lock()
		g.arrived = append(g.arrived, userText(body))
		g.mu.Unlock()
		select {
		case <-g.gate:
		case <-r.Context().Done():
			return
		}
		answerOK(w, body)
	})
	return g
}

func (g *gatedUpstream) arrivals() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.arrived)
}

// waitFor polls cond every 5ms for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A provider's max_concurrency queues its requests in arrival order,
// while other providers' requests go straight through.
func TestMaxConcurrencyQueuesFairly(t *testing.T) {
	t.Parallel()
	slow := newGatedUpstream(t)
	fast := okUpstream(t)
	ps := anthropicProvider("slow", slow.URL)
	ps.MaxConcurrency = 2
	cfg := testConfig(t, nil, ps, anthropicProvider("fast", fast.URL))
	cfg.Fallback = nil
	rt, srv := serve(t, cfg)
	explicit := func(provider, text string) string {
		return strings.Replace(msgBody(text, false), `"claude-sonnet-4-5"`, `"`+provider+`,claude-up"`, 1)
	}
	var wg sync.WaitGroup
	results := make([]outcome, 6)
	start := func(i int) {
		wg.Go(func() { results[i] = call(t, nil, srv.URL, explicit("slow", fmt.Sprint("r", i))) })
	}
	start(0)
	start(1)
	waitFor(t, "two requests upstream", func() bool { return len(slow.arrivals()) == 2 })
	for i := 2; i < 6; i++ {
		start(i)
		waitFor(t, fmt.Sprint("request ", i, " in flight"), func() bool { return rt.Stats().InFlight == int64(i+1) })
		time.Sleep(30 * time.Millisecond) // let it reach the queue
	}
	// The slow provider is saturated; the fast one is not held up.
	for range 10 {
		t0 := time.Now()
		if o := call(t, nil, srv.URL, explicit("fast", "f")); o.status != 200 || time.Since(t0) > 2*time.Second {
			t.Fatalf("fast provider while slow is saturated: %v after %v", o, time.Since(t0))
		}
	}
	if got := slow.arrivals(); len(got) != 2 {
		t.Fatalf("upstream saw %v while at max_concurrency 2", got)
	}
	for i := 0; i < 6; i++ {
		slow.gate <- struct{}{}
		if i < 4 {
			waitFor(t, "the next queued request upstream", func() bool { return len(slow.arrivals()) == i+3 })
		}
	}
	wg.Wait()
	got := slow.arrivals()
	if want := []string{"r2", "r3", "r4", "r5"}; !slices.Equal(got[2:], want) {
		t.Errorf("queued requests reached the upstream in order %v; want %v", got[2:], want)
	}
	for i, o := range results {
		if o.status != 200 {
			t.Errorf("request %d: %v", i, o)
		}
	}
}

// Waiting for a slot counts against the first-byte timeout: a request that
// cannot get one in time fails with 504, or goes to a fallback.
func TestMaxConcurrencyQueueTimeout(t *testing.T) {
	t.Parallel()
	for _, withFallback := range []bool{false, true} {
		slow := newGatedUpstream(t)
		ps := anthropicProvider("slow", slow.URL)
		ps.MaxConcurrency = 1
		providers := []ProviderConfig{ps}
		if withFallback {
			providers = append(providers, anthropicProvider("b", okUpstream(t).URL))
		}
		cfg := testConfig(t, nil, providers...)
		cfg.APITimeout = 5 * time.Second
		rt, srv := serve(t, cfg)
		var wg sync.WaitGroup
		wg.Go(func() { call(t, nil, srv.URL, msgBody("holder", false)) })
		waitFor(t, "the holder upstream", func() bool { return slices.Contains(slow.arrivals(), "holder") })
		// Shorten the timeout for the queued request only: a reload keeps
		// the holder on its configuration.
		cfg.APITimeout = 300 * time.Millisecond
		if err := rt.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		o := call(t, nil, srv.URL, msgBody("queued", false))
		if withFallback {
			if o.status != 200 || attemptSummary(lastRecord(t, rt)) != "slow:504,b:200" {
				t.Errorf("with a fallback: %v, attempts %s", o, attemptSummary(lastRecord(t, rt)))
			}
		} else if o.status != 504 || o.errType != "timeout_error" || !strings.Contains(o.errMsg, "max_concurrency") {
			t.Errorf("queued past the timeout: %v", o)
		}
		slow.gate <- struct{}{}
		wg.Wait()
	}
}

// An upstream that streams although asked for JSON is collected into one
// message: under the response size limit, and in time linear in its size.
func TestStreamCollectedForJSONIsBounded(t *testing.T) {
	t.Parallel()
	const deltas = 100_000
	delta := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"0123456789\"}}\n\n"
	many := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		bw := bufio.NewWriterSize(w, 64<<10)
		io.WriteString(bw, sseFrames[0]+sseFrames[1])
		for range deltas {
			io.WriteString(bw, delta)
		}
		for _, f := range sseFrames[5:] {
			io.WriteString(bw, f)
		}
		bw.Flush()
	})
	endless := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeSSE(w, sseFrames[:2]...)
		for writeSSE(w, strings.Repeat(delta, 100)) {
		}
	})
	t.Run("large", func(t *testing.T) {
		t.Parallel()
		_, srv := serve(t, testConfig(t, nil, anthropicProvider("a", many.URL)))
		start := time.Now()
		o := call(t, nil, srv.URL, msgBody("hi", false))
		var resp Response
		if err := json.Unmarshal(o.body, &resp); o.status != 200 || err != nil || len(resp.Content) != 1 || len(resp.Content[0].Text) != 10*deltas {
			t.Fatalf("collected %v", o)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("collecting %d deltas took %v", deltas, d)
		}
	})
	t.Run("endless", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, nil, anthropicProvider("a", endless.URL))
		cfg.MaxResponseBytes = 1 << 20
		_, srv := serve(t, cfg)
		o := call(t, nil, srv.URL, msgBody("hi", false))
		if o.status != 502 || o.errType != "api_error" || o.errMsg != "upstream response over the size limit" {
			t.Errorf("endless stream for a JSON request: %v", o)
		}
	})
}
