package ccr

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault injection: a real listening ccr in front of upstreams that
// misbehave on loopback, and clients that misbehave. Every fault must end
// with a well-formed Anthropic error or stream end, exactly as pinned
// here; the router must keep serving; and when everything is closed no
// goroutine and no connection may be left.

// wireFormat is an upstream API format as the fault upstreams speak it.
type wireFormat struct {
	name     string
	provider func(name, base string) ProviderConfig
	json     string   // a complete non-streaming answer
	frames   []string // a complete stream, one event per frame
	delta    string   // one more content event, for endless streams
}

var faultFormats = []wireFormat{
	{
		name:     "anthropic",
		provider: func(name, base string) ProviderConfig { return anthropicProvider(name, base) },
		json:     anthropicReply,
		frames:   sseFrames,
		delta:    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"more \"}}\n\n",
	},
	{
		name: "openai",
		provider: func(name, base string) ProviderConfig {
			return ProviderConfig{Name: name, BaseURL: base + "/v1/chat/completions", APIKeys: []Secret{Secret("sk-" + name + "-key")}, Models: []string{"claude-up"}}
		},
		json: `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-up","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`,
		frames: []string{
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"},\"finish_reason\":null}]}\n\n",
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n",
			"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n",
			"data: [DONE]\n\n",
		},
		delta: "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"more \"},\"finish_reason\":null}]}\n\n",
	},
}

// answer answers normally in format f.
func (f wireFormat) answer(w http.ResponseWriter, body []byte) {
	if isStream(body) {
		writeSSE(w, f.frames...)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, f.json)
}

// connCounter counts a server's open connections through ConnState.
type connCounter struct{ open atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

// countedServer starts an httptest server for h whose open connections
// are counted.
func countedServer(t *testing.T, h http.Handler, conns *connCounter) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = conns.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// rawUpstream is a TCP server that reads one HTTP request per connection
// and then does whatever handle does with the raw connection, for faults
// net/http will not produce (resets at chosen points).
type rawUpstream struct {
	ln   net.Listener
	wg   sync.WaitGroup
	open atomic.Int64
}

func newRawUpstream(t *testing.T, handle func(c net.Conn, req *http.Request)) *rawUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	u.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.open.Add(1)
			u.wg.Go(func() {
				defer u.open.Add(-1)
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				handle(c, req)
			})
		}
	})
	t.Cleanup(u.close)
	return u
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

func (u *rawUpstream) close() {
	u.ln.Close()
	u.wg.Wait()
}

// reset closes c with a TCP RST instead of a FIN.
func reset(c net.Conn) {
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

// writeChunked writes a chunked 200 event-stream response head and frames.
func writeChunked(c net.Conn, frames ...string) {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	for _, f := range frames {
		fmt.Fprintf(c, "%x\r\n%s\r\n", len(f), f)
	}
}

// faultCase is one fault and the exact outcome the client must see.
type faultCase struct {
	name     string
	provider string // the fault upstream's provider name
	stream   bool
	status   int
	errType  string
	errMsg   string
	events   int // events before the error frame (committed streams)
}

// faultEnv is a listening ccr with one provider per fault.
type faultEnv struct {
	f        wireFormat
	rt       *Router
	srv      *httptest.Server
	client   *http.Client
	conns    connCounter // ccr's client connections
	upConns  connCounter // fault upstreams' connections (net/http ones)
	raws     []*rawUpstream
	endless  atomic.Int64 // endless handlers running
	endlessN atomic.Int64 // endless handlers started
}

const (
	faultMaxEvent = 64 << 10
	faultMaxResp  = 256 << 10
)

func newFaultEnv(t *testing.T, f wireFormat) *faultEnv {
	env := &faultEnv{f: f}
	var providers []ProviderConfig
	add := func(name, base string) { providers = append(providers, f.provider(name, base)) }
	handler := func(h func(w http.ResponseWriter, r *http.Request, body []byte)) string {
		return countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			h(w, r, body)
		}), &env.upConns).URL
	}
	raw := func(h func(c net.Conn, req *http.Request)) string {
		u := newRawUpstream(t, h)
		env.raws = append(env.raws, u)
		return u.url()
	}
	add("ok", handler(func(w http.ResponseWriter, r *http.Request, body []byte) { f.answer(w, body) }))
	add("refused", deadURL(t))
	add("reset-headers", raw(func(c net.Conn, _ *http.Request) { reset(c) }))
	add("reset-stream", raw(func(c net.Conn, _ *http.Request) {
		writeChunked(c, f.frames[:2]...)
		time.Sleep(50 * time.Millisecond) // let the frames out first
		reset(c)
	}))
	add("reset-json", raw(func(c net.Conn, _ *http.Request) {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(f.json), f.json[:len(f.json)/2])
		time.Sleep(50 * time.Millisecond)
		reset(c)
	}))
	add("close-stream", raw(func(c net.Conn, _ *http.Request) {
		// The stream's body ends (a clean FIN) before its terminal event.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"+strings.Join(f.frames[:2], ""))
	}))
	add("garbage-json", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	}))
	add("garbage-sse", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>\n")
	}))
	add("garbage-data", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeSSE(w, "data: <html><body>502 Bad Gateway</body></html>\n\n")
	}))
	add("endless", handler(func(w http.ResponseWriter, r *http.Request, body []byte) {
		env.endless.Add(1)
		env.endlessN.Add(1)
		defer env.endless.Add(-1)
		if !isStream(body) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"msg_x","type":"message","content":[{"type":"text","text":"`)
			for {
				if _, err := io.WriteString(w, strings.Repeat("x", 4096)); err != nil {
					return
				}
			}
		}
		if !writeSSE(w, f.frames[:2]...) {
			return
		}
		for writeSSE(w, f.delta) {
			time.Sleep(time.Millisecond)
		}
	}))
	add("endless-line", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if !writeSSE(w, f.frames[:2]...) {
			return
		}
		io.WriteString(w, "data: ")
		chunk := strings.Repeat("y", 4096)
		for writeSSE(w, chunk) {
		}
	}))
	add("huge-json", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(f.json, "hello", strings.Repeat("h", faultMaxResp), 1))
	}))
	add("error-status", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		io.WriteString(w, `{"error":{"message":"internal failure, key sk-error-status-key","type":"server_error"}}`)
	}))
	add("panic", handler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		panic(http.ErrAbortHandler) // net/http's own abort: the connection just closes
	}))

	cfg := Config{
		Providers:          providers,
		Router:             Routes{Default: "ok,claude-up"},
		APIKey:             "client-key",
		Logger:             testLogger(t),
		APITimeout:         2 * time.Second,
		StreamIdleTimeout:  2 * time.Second,
		MaxEventBytes:      faultMaxEvent,
		MaxResponseBytes:   faultMaxResp,
		RequestBodyTimeout: 500 * time.Millisecond,
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.rt = rt
	srv := httptest.NewUnstartedServer(rt)
	srv.Config.ReadHeaderTimeout = 500 * time.Millisecond // as server/main.go sets, shorter
	srv.Config.ConnState = env.conns.hook
	srv.Start()
	env.srv = srv
	env.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	t.Cleanup(func() {
		env.client.CloseIdleConnections()
		srv.Close()
		rt.Close()
	})
	return env
}

// body is a request for provider's model.
func (env *faultEnv) body(provider string, stream bool) string {
	return strings.Replace(msgBody("hi", stream), `"claude-sonnet-4-5"`, `"`+provider+`,claude-up"`, 1)
}

// healthy checks that a normal request, JSON and streamed, still
// succeeds.
func (env *faultEnv) healthy(t *testing.T, after string) {
	t.Helper()
	for _, stream := range []bool{false, true} {
		o := call(t, env.client, env.srv.URL, env.body("ok", stream))
		if o.status != 200 || o.errType != "" || stream && o.lastType() != "message_stop" {
			t.Fatalf("after %s, a normal request (stream %v) failed: %v", after, stream, o)
		}
	}
}

func TestFaults(t *testing.T) {
	baseline := runtime.NumGoroutine()
	for _, f := range faultFormats {
		t.Run(f.name, func(t *testing.T) {
			env := newFaultEnv(t, f)
			env.healthy(t, "start")
			for _, tt := range faultCases(f) {
				t.Run(tt.name, func(t *testing.T) {
					o := call(t, env.client, env.srv.URL, env.body(tt.provider, tt.stream))
					if o.err != nil {
						t.Fatalf("transport error %v", o.err)
					}
					if o.status != tt.status || o.errType != tt.errType || o.errMsg != tt.errMsg {
						t.Errorf("got %v\nwant %d %s %q", o, tt.status, tt.errType, tt.errMsg)
					}
					if tt.status == 200 {
						// Committed: the events so far and the error frame.
						if len(o.events) != tt.events+1 || o.lastType() != "error" {
							t.Errorf("events: %d, last %q; want %d and an error frame", len(o.events), o.lastType(), tt.events)
						}
					} else if ct := o.header.Get("Content-Type"); ct != "application/json" || o.header.Get("Request-Id") == "" {
						t.Errorf("error response headers: %v", o.header)
					}
					if strings.Contains(string(o.body), "sk-") || strings.Contains(string(o.body), ".go:") {
						t.Errorf("a key or a source location reached the client: %s", o.body)
					}
					env.healthy(t, tt.name)
				})
			}
			t.Run("client leaves an endless stream", func(t *testing.T) { env.clientLeaves(t) })
			t.Run("slow headers", func(t *testing.T) { env.slowHeaders(t) })
			t.Run("slow body", func(t *testing.T) { env.slowBody(t) })
			env.healthy(t, "all faults")

			// Nothing left running or open once idle connections close.
			env.client.CloseIdleConnections()
			env.rt.Close()
			waitFor(t, "no request in flight", func() bool { return env.rt.Stats().InFlight == 0 && env.rt.Stats().Streams == 0 })
			waitFor(t, "ccr's connections closed", func() bool { return env.conns.open.Load() == 0 })
			waitFor(t, "upstream connections closed", func() bool {
				n := env.upConns.open.Load()
				for _, u := range env.raws {
					n += u.open.Load()
				}
				return n == 0
			})
		})
	}
	// Everything is closed by the subtests' cleanups: the goroutine count
	// returns to where it was.
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

// faultCases are the upstream faults with the outcome pinned per format.
func faultCases(f wireFormat) []faultCase {
	streamFailed := "upstream stream failed"
	truncated := "upstream stream ended before completion"
	before := 2 // events relayed before a fault after two upstream frames
	malformedJSON := "upstream returned malformed JSON"
	malformedEvent := "upstream sent a malformed stream event"
	emptyStream := truncated
	if f.name == "openai" {
		before = 3 // message_start, content_block_start, one text delta
		malformedJSON = "upstream returned a response that is not valid JSON"
		// The OpenAI converter skips chunks that are not JSON, as some
		// gateways send such keep-alives; a stream of nothing else is
		// empty.
		emptyStream = "upstream returned an empty stream"
		malformedEvent = emptyStream
	}
	return []faultCase{
		{"connection refused", "refused", false, 502, "api_error", "could not reach upstream refused", 0},
		{"connection refused, stream", "refused", true, 502, "api_error", "could not reach upstream refused", 0},
		{"reset before headers", "reset-headers", false, 502, "api_error", "could not reach upstream reset-headers", 0},
		{"reset before headers, stream", "reset-headers", true, 502, "api_error", "could not reach upstream reset-headers", 0},
		{"reset mid-stream", "reset-stream", true, 200, "api_error", streamFailed, before},
		{"reset mid-body", "reset-json", false, 502, "api_error", "upstream connection failed while reading its answer", 0},
		{"stream closed before its end", "close-stream", true, 200, "api_error", truncated, before},
		{"garbage instead of JSON", "garbage-json", false, 502, "api_error", malformedJSON, 0},
		{"garbage instead of SSE", "garbage-sse", true, 502, "api_error", emptyStream, 0},
		{"garbage in SSE data", "garbage-data", true, 502, "api_error", malformedEvent, 0},
		{"endless single line", "endless-line", true, 200, "api_error", "upstream sent an event line over the size limit", before},
		{"endless JSON", "endless", false, 502, "api_error", "upstream response over the size limit", 0},
		{"JSON over the bound", "huge-json", false, 502, "api_error", "upstream response over the size limit", 0},
		{"JSON over the bound, stream", "huge-json", true, 502, "api_error", "upstream response over the size limit", 0},
		{"upstream 500 quoting the key", "error-status", false, 500, "api_error", "internal failure, key [REDACTED]", 0},
		{"upstream aborts", "panic", true, 502, "api_error", "could not reach upstream panic", 0},
	}
}

// clientLeaves reads part of an endless stream and goes away: the router
// must stop reading the upstream at once.
func (env *faultEnv) clientLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", env.srv.URL+"/v1/messages", strings.NewReader(env.body("endless", true)))
	req.Header.Set("x-api-key", "client-key")
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := NewSSEReader(resp.Body)
	for i := range 200 {
		if _, err := r.ReadEvent(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	cancel()
	resp.Body.Close()
	waitFor(t, "the endless upstream handler to stop", func() bool { return env.endless.Load() == 0 })
	waitFor(t, "the access record", func() bool { return lastRecord(t, env.rt).Status == 499 })
	if rec := lastRecord(t, env.rt); rec.Provider != "endless" || !rec.Stream {
		t.Errorf("record = %+v", rec)
	}
}

// slowHeaders sends request headers a byte at a time: the server's
// ReadHeaderTimeout closes the connection. No request reached the router,
// so the answer, if any, is net/http's own: "400 Bad Request" and
// Connection: close.
func (env *faultEnv) slowHeaders(t *testing.T) {
	c, err := net.Dial("tcp", env.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		closed <- b
	}()
	head := "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: client-key\r\nContent-Length: 10\r\n"
	for i := 0; i < len(head); i++ {
		if _, err := c.Write([]byte{head[i]}); err != nil {
			break
		}
		select {
		case b := <-closed:
			if len(b) != 0 && !strings.HasPrefix(string(b), "HTTP/1.1 400 Bad Request\r\n") {
				t.Errorf("answer to a slow-header client: %q", b)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("connection closed after %v", d)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the server still reads headers sent over %v", time.Since(start))
}

// slowBody sends complete headers, then the body a byte at a time: the
// router's RequestBodyTimeout answers 408.
func (env *faultEnv) slowBody(t *testing.T) {
	c, err := net.Dial("tcp", env.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := env.body("ok", false)
	fmt.Fprintf(c, "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: client-key\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	start := time.Now()
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- nil
			return
		}
		o := outcome{status: resp.StatusCode, header: resp.Header}
		o.body, _ = io.ReadAll(resp.Body)
		parseOutcome(&o)
		resp.Body.Close()
		if o.status != 408 || o.errType != "invalid_request_error" || o.errMsg != "request body not received within 500ms" {
			t.Errorf("slow body: %v", o)
		}
		answered <- resp
	}()
	for i := 0; i < len(body); i++ {
		c.Write([]byte{body[i]})
		select {
		case resp := <-answered:
			if resp == nil {
				t.Fatal("no answer to a slow body")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("answered after %v", d)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the router still reads a body sent over %v", time.Since(start))
}

// A client that stops reading a stream, without closing its connection
// (a suspended process), is dropped once a write has been stuck for the
// idle timeout: the upstream request does not stay open for it.
func TestClientStopsReading(t *testing.T) {
	t.Parallel()
	var running atomic.Int64
	big := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + strings.Repeat("z", 32<<10) + "\"}}\n\n"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		running.Add(1)
		defer running.Add(-1)
		if !writeSSE(w, sseFrames[:2]...) {
			return
		}
		for writeSSE(w, big) {
		}
	})
	cfg := testConfig(t, nil, anthropicProvider("a", up.URL))
	cfg.StreamIdleTimeout = 300 * time.Millisecond
	rt, srv := serve(t, cfg)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	body := msgBody("hi", true)
	fmt.Fprintf(c, "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: client-key\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %v, %v", resp, err)
	}
	// Read nothing more, and keep the connection open.
	waitFor(t, "the upstream request to end", func() bool { return running.Load() == 0 && rt.Stats().InFlight == 0 })
	rec := lastRecord(t, rt)
	if rec.Status != 499 || rec.Error != "client stopped reading for 300ms" {
		t.Errorf("record = %+v", rec)
	}
}

// The write and read deadlines a request sets do not outlive it: the next
// request on the same kept-alive connection, well after them, is served.
func TestDeadlinesDoNotOutliveTheRequest(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil, anthropicProvider("a", okUpstream(t).URL))
	cfg.StreamIdleTimeout, cfg.RequestBodyTimeout = 100*time.Millisecond, 100*time.Millisecond
	_, srv := serve(t, cfg)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var reused []bool
	for i := range 3 {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) }}
		ctx := httptrace.WithClientTrace(t.Context(), trace)
		if o := callCtx(ctx, t, client, srv.URL, msgBody("hi", i%2 == 0)); o.status != 200 || o.errType != "" {
			t.Fatalf("request %d: %v", i, o)
		}
	}
	if !slices.Equal(reused, []bool{false, true, true}) {
		t.Errorf("connection reuse %v; want one connection for all", reused)
	}
}
