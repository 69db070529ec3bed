package ccr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The leak test runs thousands of requests, a third of them ending in a
// cancellation or a fault, inside a synctest bubble: rt.ServeHTTP is
// called directly and the upstream is an in-bubble RoundTripper whose
// bodies are io.Pipes fed by goroutines. Timeouts run on the bubble's fake
// clock. synctest.Test fails if any goroutine is left blocked when the
// test function returns, so a leaked upstream reader, writer, timer
// callback or queue waiter fails the test without counting goroutines.

// leakMode is how one request of the leak test goes.
type leakMode int

const (
	leakJSON              leakMode = iota // normal JSON answer
	leakStream                            // normal stream, events a fake second apart
	leakClientLeaves                      // the client leaves after three events
	leakClientLeavesEarly                 // the client leaves before any answer
	leakResetMidStream                    // the upstream body fails after two events
	leakFirstByteTimeout                  // no answer: first-byte timeout, then the fallback
	leakIdleMidStream                     // two events, then silence: idle timeout
	leakOverloaded                        // 529: the fallback answers
	leakGarbage                           // an event stream of garbage: the fallback answers
	leakEndlessLeaves                     // an endless stream the client leaves
	leakEndlessLine                       // one line that never ends
	leakQueued                            // a provider capped at 3 concurrent streams
	leakQueuedLeaves                      // the client leaves while queued or streaming
	leakModes
)

// pipeUpstream is an in-bubble http.RoundTripper speaking the Anthropic
// format. Its response bodies are pipes written by goroutines that end
// when the body is closed or the request's context is done, as a real
// transport's connection would.
type pipeUpstream struct {
	live atomic.Int64 // body writers running
	wg   sync.WaitGroup
}

func (u *pipeUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	var mode leakMode
	fmt.Sscanf(userText(body), "mode %d", &mode)
	stream := isStream(body)
	if req.URL.Host == "fallback.test" {
		mode = leakJSON
		if stream {
			mode = leakStream
		}
	}
	var frames []string
	var gap time.Duration
	var endless string
	var fail error
	status := 200
	switch mode {
	case leakJSON:
		if !stream {
			return jsonResponse(req, 200, anthropicReply), nil
		}
		frames = sseFrames
	case leakStream, leakClientLeaves:
		frames, gap = sseFrames, time.Second
	case leakQueued, leakQueuedLeaves:
		frames, gap = sseFrames, 50*time.Millisecond
	case leakClientLeavesEarly, leakFirstByteTimeout:
		<-ctx.Done() // never answers
		return nil, context.Cause(ctx)
	case leakResetMidStream:
		frames, fail = sseFrames[:2], errors.New("connection reset by peer")
	case leakIdleMidStream:
		frames, endless = sseFrames[:2], "silence"
	case leakOverloaded:
		return jsonResponse(req, 529, `{"type":"error","error":{"type":"overloaded_error","message":"overloaded"}}`), nil
	case leakGarbage:
		frames = []string{"data: \x00\xff garbage\n\n", "<html>\n"}
	case leakEndlessLeaves:
		frames, gap, endless = sseFrames[:2], 10*time.Millisecond, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"more\"}}\n\n"
	case leakEndlessLine:
		frames, endless = sseFrames[:2], "data: "+strings.Repeat("x", 8<<10)
	}
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	u.live.Add(1)
	u.wg.Go(func() {
		defer u.live.Add(-1)
		defer func() {
			// stop can win against the cancellation (the done channel
			// closes before after-funcs start), so close here too: a
			// cancelled body must fail, as a real connection's does.
			stop()
			if ctx.Err() != nil {
				pw.CloseWithError(context.Cause(ctx))
			}
		}()
		write := func(s string) bool {
			_, err := io.WriteString(pw, s)
			return err == nil
		}
		for _, f := range frames {
			if !write(f) {
				return
			}
			time.Sleep(gap)
		}
		switch {
		case endless == "silence":
			<-ctx.Done()
			return // the context's close stands: never a clean end
		case endless != "":
			if strings.HasPrefix(endless, "data: x") {
				endless = endless[len("data: "):] // the same line, forever
			}
			for write(endless) {
				time.Sleep(gap)
			}
		}
		pw.CloseWithError(fail)
	})
	h := http.Header{"Content-Type": {"text/event-stream"}}
	return &http.Response{StatusCode: status, Header: h, Body: pr, Request: req}, nil
}

func jsonResponse(req *http.Request, status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req, ContentLength: int64(len(body))}
}

// leavingRecorder is a flushable ResponseWriter whose client leaves after
// a number of writes: it cancels the request's context and fails later
// writes, as a closed connection would.
type leavingRecorder struct {
	*httptest.ResponseRecorder
	mu     sync.Mutex
	writes int
	leave  int // 0: never
	cancel context.CancelFunc
	gone   bool
}

func (w *leavingRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gone {
		return 0, errors.New("write: broken pipe")
	}
	w.writes++
	if w.leave > 0 && w.writes >= w.leave {
		w.gone = true
		w.cancel()
	}
	return w.ResponseRecorder.Write(p)
}

func (w *leavingRecorder) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ResponseRecorder.Flush()
}

func TestNoLeaksOverThousandsOfRequests(t *testing.T) {
	const requests, parallel = 6500, 150
	if testing.Short() {
		t.Skip("thousands of requests")
	}
	synctest.Test(t, func(t *testing.T) {
		up := &pipeUpstream{}
		provider := func(name, host string, maxConc int) ProviderConfig {
			p := anthropicProvider(name, "http://"+host)
			p.MaxConcurrency = maxConc
			return p
		}
		cfg := Config{
			Providers: []ProviderConfig{provider("a", "a.test", 0), provider("b", "fallback.test", 0), provider("c", "c.test", 3)},
			Router:    Routes{Default: "a,claude-up"},
			Fallback:  map[string][]string{ScenarioDefault: {"b,claude-up"}},
			APIKey:    "client-key", Transport: up, Logger: discardLogger(),
			APITimeout: 30 * time.Second, StreamIdleTimeout: 20 * time.Second, MaxEventBytes: 64 << 10,
		}
		rt, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			mode leakMode
			w    *leavingRecorder
		}
		results := make([]result, requests)
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for i := range requests {
			mode := leakMode(i % int(leakModes))
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				model := "claude-sonnet-4-5"
				if mode == leakQueued || mode == leakQueuedLeaves {
					model = "c,claude-up"
				}
				stream := mode != leakJSON
				body := strings.Replace(msgBody(fmt.Sprint("mode ", int(mode)), stream), "claude-sonnet-4-5", model, 1)
				r := httptest.NewRequestWithContext(ctx, "POST", "/v1/messages", strings.NewReader(body))
				r.Header.Set("x-api-key", "client-key")
				w := &leavingRecorder{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
				switch mode {
				case leakClientLeaves:
					w.leave = 3
				case leakEndlessLeaves:
					w.leave = 200
				case leakQueuedLeaves:
					w.leave = 2
				case leakClientLeavesEarly:
					time.AfterFunc(5*time.Second, cancel)
				}
				rt.ServeHTTP(w, r)
				results[i] = result{mode, w}
			})
		}
		wg.Wait()
		synctest.Wait()

		if s := rt.Stats(); s.InFlight != 0 || s.Streams != 0 || s.Total != requests {
			t.Errorf("stats after the run: %+v", s)
		}
		if n := up.live.Load(); n != 0 {
			t.Errorf("%d upstream body writers still running", n)
		}
		// Every request ended as its mode must.
		for i, res := range results {
			o := outcome{status: res.w.Code, header: res.w.Header(), body: res.w.Body.Bytes()}
			parseOutcome(&o)
			var ok bool
			switch res.mode {
			case leakJSON:
				ok = o.status == 200 && string(o.body) == anthropicReply
			case leakStream, leakFirstByteTimeout, leakOverloaded, leakQueued, leakGarbage:
				ok = o.status == 200 && o.lastType() == "message_stop" && o.errType == ""
			case leakClientLeaves, leakEndlessLeaves, leakQueuedLeaves:
				ok = o.status == 200 && o.lastType() != "message_stop" // the client saw the start, then left
			case leakClientLeavesEarly:
				ok = o.status == 200 && len(o.body) == 0 // nothing written: net/http's default
			case leakResetMidStream, leakEndlessLine:
				ok = o.status == 200 && o.errType == "api_error"
			case leakIdleMidStream:
				ok = o.status == 200 && o.errType == "timeout_error"
			}
			if !ok {
				t.Errorf("request %d (mode %d): %v", i, res.mode, o)
			}
		}
		// The access records agree: clients that left are 499s.
		var gone int
		for _, rec := range rt.RecentRequests() {
			if rec.Status == 499 {
				gone++
			}
		}
		if gone == 0 {
			t.Errorf("no 499 among the recent records")
		}
		rt.Close()
		up.wg.Wait()
	})
}
