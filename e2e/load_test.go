//go:build unix

package e2e

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
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ccrgo/ccr"
)

// The load test drives a real listening ccr with a fake OpenAI-format
// upstream on loopback: 1,000 concurrent long streams, then a burst of
// 10,000 short requests (a quarter of each under -race). Zero errors are allowed; every stream must be
// open at once (the upstream holds them at a barrier until all 1,000 have
// arrived, so none can be starved), and memory is reported.

const (
	loadChunks      = 50
	loadChunkBytes  = 800 // 50 × 800 = 40,000 bytes of text per stream
	loadChunkGap    = 60 * time.Millisecond
	loadBarrierWait = 30 * time.Second
)

// The full load: 1,000 streams and 10,000 short requests. Under the race
// detector (which CI uses for the e2e module) a quarter of it, to stay
// under its limit of 8,128 live goroutines: each stream holds about nine
// (client, ccr, ccr's transport, upstream).
var (
	loadStreams    = cond(raceEnabled, 250, 1000)
	loadBurst      = cond(raceEnabled, 2500, 10_000)
	loadBurstConns = cond(raceEnabled, 250, 1000)
)

func cond(b bool, yes, no int) int {
	if b {
		return yes
	}
	return no
}

// raiseFileLimit raises the soft open-file limit to the hard one: the test
// holds about four descriptors per stream (client, ccr, ccr's upstream
// connection, upstream).
func raiseFileLimit(t *testing.T, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Logf("raising the open-file limit: %v", err)
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < need {
		t.Skipf("open-file limit %d < %d needed", lim.Cur, need)
	}
}

// loadUpstream is an OpenAI Chat Completions upstream for the load test.
type loadUpstream struct {
	*httptest.Server
	arrived  atomic.Int64 // streams that reached the barrier
	allIn    chan struct{}
	active   atomic.Int64
	peak     atomic.Int64
	requests atomic.Int64
}

func newLoadUpstream(t *testing.T) *loadUpstream {
	u := &loadUpstream{allIn: make(chan struct{})}
	chunk := func(content string) string {
		b, _ := json.Marshal(content)
		return `data: {"id":"chatcmpl-load","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":` + string(b) + `},"finish_reason":null}]}` + "\n\n"
	}
	text := strings.Repeat("abcdefgh", loadChunkBytes/8)
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		var req struct {
			Stream bool `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":{"message":"bad json"}}`, 400)
			return
		}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"chatcmpl-short","object":"chat.completion","model":"gpt-load","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`)
			return
		}
		n := u.active.Add(1)
		defer u.active.Add(-1)
		for p := u.peak.Load(); n > p && !u.peak.CompareAndSwap(p, n); p = u.peak.Load() {
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		write := func(s string) bool {
			if _, err := io.WriteString(w, s); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !write(`data: {"id":"chatcmpl-load","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n") {
			return
		}
		// Hold every stream until all have arrived: they are then truly
		// concurrent, and a starved one fails the test.
		if u.arrived.Add(1) == int64(loadStreams) {
			close(u.allIn)
		}
		select {
		case <-u.allIn:
		case <-r.Context().Done():
			return
		case <-time.After(loadBarrierWait):
			return // the client sees a truncated stream and fails
		}
		for range loadChunks {
			if !write(chunk(text)) {
				return
			}
			time.Sleep(loadChunkGap)
		}
		write(`data: {"id":"chatcmpl-load","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
		write(`data: {"id":"chatcmpl-load","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2000,"total_tokens":2010}}` + "\n\n")
		write("data: [DONE]\n\n")
	}))
	u.Server.Config.ReadHeaderTimeout = 10 * time.Second
	u.Start()
	t.Cleanup(u.Close)
	return u
}

// memory reports the process's live heap (after a collection) and
// resident set.
func memory(t *testing.T, when string) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := "?", "?"
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "VmRSS:":
				rss = f[1] + " kB"
			case len(f) >= 2 && f[0] == "VmHWM:":
				hwm = f[1] + " kB"
			}
		}
	}
	t.Logf("memory %s (whole test process: clients, ccr and upstream): live heap %.1f MiB, heap from OS %.1f MiB, Go total %.1f MiB, RSS %s, peak RSS %s, goroutines %d",
		when, float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20), float64(ms.Sys)/(1<<20), rss, hwm, runtime.NumGoroutine())
}

// streamResult is what one long-stream client saw.
type streamResult struct {
	err       error
	ttfb      time.Duration // to the first event
	dur       time.Duration
	textBytes int
	last      string
}

func readLoadStream(ctx context.Context, c *http.Client, base string) (res streamResult) {
	start := time.Now()
	body := `{"model":"claude-sonnet-4-5","max_tokens":4000,"stream":true,"messages":[{"role":"user","content":"stream, please"}]}`
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", "client-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		res.err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		return res
	}
	r := ccr.NewSSEReader(bufio.NewReaderSize(resp.Body, 16<<10))
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			res.err = err
			return res
		}
		if res.ttfb == 0 {
			res.ttfb = time.Since(start)
		}
		res.last = ev.Type
		switch ev.Type {
		case "content_block_delta":
			var d struct {
				Delta struct {
					Text string `json:"text"`
				} `json:"delta"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				res.err = err
				return res
			}
			res.textBytes += len(d.Delta.Text)
		case "error":
			res.err = fmt.Errorf("error event: %s", ev.Data)
			return res
		}
	}
	res.dur = time.Since(start)
	return res
}

func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	raiseFileLimit(t, uint64(5*loadStreams))
	deadline := time.Now().Add(60 * time.Second)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()

	up := newLoadUpstream(t)
	rt, err := ccr.New(ccr.Config{
		Providers: []ccr.ProviderConfig{{Name: "fake", BaseURL: up.URL + "/v1/chat/completions",
			APIKeys: []ccr.Secret{"sk-fake-openai"}, Models: []string{"gpt-load"}}},
		Router: ccr.Routes{Default: "fake,gpt-load"},
		APIKey: "client-key",
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	srv := httptest.NewUnstartedServer(rt)
	srv.Config.ReadHeaderTimeout = 10 * time.Second // as the server binary
	var served atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			served.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadBurstConns, MaxConnsPerHost: loadStreams, IdleConnTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	memory(t, "at start")

	// Phase 1: 1,000 concurrent long streams.
	start := time.Now()
	results := make([]streamResult, loadStreams)
	var wg sync.WaitGroup
	for i := range loadStreams {
		wg.Go(func() { results[i] = readLoadStream(ctx, client, srv.URL) })
	}
	var peakHeap uint64
	sample := time.NewTicker(250 * time.Millisecond)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-sample.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
		}
	}
	sample.Stop()
	phase1 := time.Since(start)
	var failures []string
	var ttfbs, durs []time.Duration
	for i, r := range results {
		switch {
		case r.err != nil:
			failures = append(failures, fmt.Sprintf("stream %d: %v", i, r.err))
		case r.last != "message_stop" || r.textBytes != loadChunks*loadChunkBytes:
			failures = append(failures, fmt.Sprintf("stream %d: %d text bytes, last event %q", i, r.textBytes, r.last))
		default:
			ttfbs, durs = append(ttfbs, r.ttfb), append(durs, r.dur)
		}
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d streams failed; first: %s", len(failures), loadStreams, strings.Join(failures[:min(5, len(failures))], "\n"))
	}
	slices.Sort(ttfbs)
	slices.Sort(durs)
	if p := up.peak.Load(); p != int64(loadStreams) {
		t.Errorf("peak concurrent upstream streams %d; want %d", p, loadStreams)
	}
	t.Logf("%d streams of %d bytes in %v: first event p50 %v p99 %v max %v; stream duration p50 %v max %v; peak heap in use %.1f MiB",
		loadStreams, loadChunks*loadChunkBytes, phase1.Round(time.Millisecond), ttfbs[len(ttfbs)/2].Round(time.Millisecond),
		ttfbs[len(ttfbs)*99/100].Round(time.Millisecond), ttfbs[len(ttfbs)-1].Round(time.Millisecond),
		durs[len(durs)/2].Round(time.Millisecond), durs[len(durs)-1].Round(time.Millisecond), float64(peakHeap)/(1<<20))
	memory(t, "after the streams (their connections idle)")

	// Phase 2: a burst of 10,000 short requests, all started at once;
	// the client's transport queues them on at most 1,000 connections.
	start = time.Now()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	want := `"content":[{"type":"text","text":"ok"}]`
	// All at once without -race; under it, through a pool that keeps the
	// goroutine count under the detector's limit.
	pool := make(chan struct{}, cond(raceEnabled, loadBurstConns, loadBurst))
	for range loadBurst {
		pool <- struct{}{}
		wg.Go(func() {
			defer func() { <-pool }()
			body := `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"short"}]}`
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/messages", strings.NewReader(body))
			req.Header.Set("x-api-key", "client-key")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.Contains(b, []byte(want)) {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, %v: %s", resp.StatusCode, err, b))
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	phase2 := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d short requests failed; first: %v", n, loadBurst, firstErr.Load())
	}
	t.Logf("%d short requests in %v (%.0f requests/s) on %d client connections in all", ok.Load(), phase2.Round(time.Millisecond),
		float64(loadBurst)/phase2.Seconds(), served.Load())
	memory(t, "after the burst")

	if s := rt.Stats(); s.Total != int64(loadStreams+loadBurst) || s.Errors != 0 || s.InFlight != 0 {
		t.Errorf("router stats %+v; want %d requests, no errors, none in flight", s, loadStreams+loadBurst)
	}
	if time.Now().After(deadline) {
		t.Errorf("the load test took over 60s")
	}
}
