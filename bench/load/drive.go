package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// target is one thing the load is sent to: the upstream itself (direct),
// the bare proxy, or ccr with one provider format.
type target struct {
	name string
	base string // http://host:port
	proc *child // whose CPU and memory are measured; nil for direct
}

func newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.DisableCompression = true
	return &http.Client{Transport: t}
}

// outcome is one request as the client saw it.
type outcome struct {
	start, end time.Time
	ttfb       time.Duration
	err        error
}

var errCut = errors.New("stream ended without message_stop")

// send posts body to t's /v1/messages and reads the whole answer. For a
// stream it checks that the answer ends with message_stop; for JSON, that
// it is a message. firstByte, if not nil, is called when the first body
// bytes arrive.
func send(ctx context.Context, c *http.Client, t *target, body []byte, stream bool, buf []byte, firstByte func()) outcome {
	o := outcome{start: time.Now()}
	defer func() { o.end = time.Now() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		o.err = err
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("X-Api-Key", "sk-bench-client-key")
	resp, err := c.Do(req)
	if err != nil {
		o.err = err
		o.end = time.Now()
		return o
	}
	defer resp.Body.Close()
	var tail []byte
	first := true
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if first {
				o.ttfb = time.Since(o.start)
				first = false
				if firstByte != nil {
					firstByte()
				}
			}
			tail = append(tail, buf[:n]...)
			if len(tail) > 256 {
				tail = tail[len(tail)-256:]
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			o.err = err
			o.end = time.Now()
			return o
		}
	}
	o.end = time.Now()
	switch {
	case resp.StatusCode != http.StatusOK:
		o.err = fmt.Errorf("status %d: %q", resp.StatusCode, tail)
	case stream && !bytes.Contains(tail, []byte("event: message_stop")):
		o.err = errCut
	case !stream && !bytes.Contains(tail, []byte(`"usage"`)):
		o.err = fmt.Errorf("not a message: %q", tail)
	}
	return o
}

// loadSpec is a closed-loop load: conc workers sending back to back for
// warm plus dur; only requests completed within dur count.
type loadSpec struct {
	conc      int
	stream    bool
	warm, dur time.Duration
}

// measurement is what one load on one target produced.
type measurement struct {
	ok, errs  int
	firstErr  error
	lat, ttfb []float64 // ms, sorted
	cpu       time.Duration
	window    time.Duration
	upConns   int64
}

func runLoad(ctx context.Context, c *http.Client, t *target, up *child, body []byte, spec loadSpec) measurement {
	begin := time.Now()
	recStart := begin.Add(spec.warm)
	recEnd := recStart.Add(spec.dur)
	results := make([][]outcome, spec.conc)
	var wg sync.WaitGroup
	for w := range spec.conc {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			var mine []outcome
			for time.Now().Before(recEnd) && ctx.Err() == nil {
				o := send(ctx, c, t, body, spec.stream, buf, nil)
				if !o.end.Before(recStart) && !o.end.After(recEnd) {
					mine = append(mine, o)
				}
				if o.err != nil && ctx.Err() == nil {
					time.Sleep(time.Millisecond) // no hot loop on a dead target
				}
			}
			results[w] = mine
		})
	}
	var m measurement
	time.Sleep(time.Until(recStart))
	cpu0, conns0 := procCPU(t), upstreamConns(ctx, up)
	time.Sleep(time.Until(recEnd))
	m.cpu = procCPU(t) - cpu0
	m.upConns = upstreamConns(ctx, up) - conns0
	m.window = spec.dur
	wg.Wait()
	for _, rs := range results {
		for _, o := range rs {
			if o.err != nil {
				m.errs++
				if m.firstErr == nil {
					m.firstErr = o.err
				}
				continue
			}
			m.ok++
			m.lat = append(m.lat, ms(o.end.Sub(o.start)))
			m.ttfb = append(m.ttfb, ms(o.ttfb))
		}
	}
	slices.Sort(m.lat)
	slices.Sort(m.ttfb)
	return m
}

func procCPU(t *target) time.Duration {
	if t.proc == nil {
		return 0
	}
	return t.proc.cpu()
}

func upstreamConns(ctx context.Context, up *child) int64 {
	s, err := up.get(ctx, "/_bench/conns")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct returns the q-quantile of sorted values (nearest rank).
func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// longSpec is the long-stream test: n streams opened at an even pace over
// ramp, each lasting long enough that all are open together for hold.
type longSpec struct {
	n          int
	ramp, hold time.Duration
	interval   time.Duration
}

func (s longSpec) chunks() int {
	return int((s.ramp+s.hold+time.Second)/s.interval) + 1
}

// longResult is what the long-stream test measured on one target.
type longResult struct {
	served, cut int
	firstErr    error
	ttfb        []float64
	allOpen     bool
	rssBefore   int64 // KiB
	rssOpen     int64 // KiB, the highest sample while every stream was open
	cpu         time.Duration
	upConns     int64
}

func runLong(ctx context.Context, t *target, up *child, body []byte, spec longSpec, heap func()) longResult {
	var r longResult
	c := newClient(spec.n + 16)
	defer c.CloseIdleConnections()
	if t.proc != nil {
		r.rssBefore = t.proc.rss()
	}
	cpu0, conns0 := procCPU(t), upstreamConns(ctx, up)
	var opened, finished atomic.Int64
	outs := make([]outcome, spec.n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range spec.n {
		at := start.Add(spec.ramp * time.Duration(i) / time.Duration(spec.n))
		time.Sleep(time.Until(at))
		wg.Go(func() {
			buf := make([]byte, 4<<10)
			outs[i] = send(ctx, c, t, body, true, buf, func() { opened.Add(1) })
			finished.Add(1)
		})
	}
	// Sample memory while every stream is open.
	deadline := start.Add(spec.ramp + spec.hold)
	for time.Now().Before(deadline) {
		if opened.Load() == int64(spec.n) && finished.Load() == 0 {
			r.allOpen = true
			if t.proc != nil {
				r.rssOpen = max(r.rssOpen, t.proc.rss())
			}
			if heap != nil {
				heap()
				heap = nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	r.cpu = procCPU(t) - cpu0
	r.upConns = upstreamConns(ctx, up) - conns0
	for _, o := range outs {
		if o.err != nil {
			r.cut++
			if r.firstErr == nil {
				r.firstErr = o.err
			}
			continue
		}
		r.served++
		r.ttfb = append(r.ttfb, ms(o.ttfb))
	}
	slices.Sort(r.ttfb)
	return r
}
