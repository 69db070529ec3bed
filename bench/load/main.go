// Command load is ccr's load benchmark. It measures what ccr costs next to
// a bare reverse proxy that forwards the same bytes without understanding
// them, on loopback, in one run.
//
// It starts, as child processes of its own binary, a fake upstream
// (Anthropic and OpenAI Chat Completions formats), ccr with an OpenAI-format
// provider (every request converted), ccr with the Anthropic passthrough,
// and an httputil.ReverseProxy. It sends each the same load (a 45 KB
// Claude-Code-like request): non-streaming at concurrency 1, 16, 64 and
// 256, streams of 20 and 200 chunks, and 1,000 concurrent long streams. It
// reports requests/s, CPU per request (from /proc/<pid>/stat), p50/p99
// latency added to calling the upstream directly, time to first byte
// added, resident memory idle and per open stream (from /proc/<pid>/status),
// each as a ratio to the bare proxy.
//
// Usage:
//
//	go run ./bench/load [-quick] [-json] [-profile DIR] [-streams N]
//
// Linux only (it reads /proc).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccrgo/ccr/bench/internal/benchdata"
)

func main() {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	var cf childFlags
	fs.StringVar(&cf.role, "role", "", "")
	fs.StringVar(&cf.upstream, "upstream", "", "")
	fs.StringVar(&cf.format, "format", "", "")
	fs.StringVar(&cf.cpuprofile, "cpuprofile", "", "")
	fs.StringVar(&cf.heapprof, "heapprofile", "", "")
	var o options
	fs.BoolVar(&o.quick, "quick", false, "a short run (under 30 s) for a quick look; the figures are noisier")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&o.profile, "profile", "", "write into `DIR` CPU profiles of the proxy and both ccr processes, and their heap profiles, goroutines and memory statistics when idle and while the long streams are open")
	fs.IntVar(&o.streams, "streams", 1000, "concurrent long streams (-quick: half as many)")
	fs.StringVar(&o.levels, "levels", "1,16,64,256", "the concurrency levels of the json phase")
	fs.StringVar(&o.phases, "phases", "long,json,stream", "the phases to run: long (concurrent long streams), json (non-streaming), stream (20 and 200 chunks)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/load [flags]\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" { // the hidden flags of the child processes
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  -%s %s\n    \t%s\n", f.Name, name, usage)
		})
	}
	fs.Parse(os.Args[1:])
	if cf.role != "" {
		if err := runChild(cf); err != nil {
			fmt.Fprintln(os.Stderr, "load:", cf.role+":", err)
			os.Exit(1)
		}
		return
	}
	rep, err := drive(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	for _, c := range rep.Checks {
		if !c.Pass {
			os.Exit(2)
		}
	}
}

type options struct {
	levels  string
	phases  string
	quick   bool
	json    bool
	profile string
	streams int
}

// Target names.
const (
	direct = "direct"
	proxy  = "proxy"
	ccrAn  = "ccr-anthropic"
	ccrOA  = "ccr-openai"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func drive(ctx context.Context, o options) (*report, error) {
	rep := &report{Machine: describeMachine(), Quick: o.quick, RequestBytes: len(benchdata.Request(false))}
	nofile, err := raiseNoFile()
	if err != nil {
		return nil, err
	}
	rep.Machine.NoFile = nofile
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return nil, err
		}
	}
	began := time.Now()

	up, err := startChild("upstream", "-role", "upstream")
	if err != nil {
		return nil, err
	}
	defer up.stop()
	pxArgs := []string{"-role", "proxy", "-upstream", up.addr}
	if o.profile != "" {
		pxArgs = append(pxArgs, "-cpuprofile", filepath.Join(o.profile, "proxy.cpu.pprof"), "-heapprofile", filepath.Join(o.profile, "proxy.heap.pprof"))
	}
	px, err := startChild(proxy, pxArgs...)
	if err != nil {
		return nil, err
	}
	defer px.stop()
	ccrArgs := func(name, format string) []string {
		a := []string{"-role", "ccr", "-upstream", up.addr, "-format", format}
		if o.profile != "" {
			a = append(a, "-cpuprofile", filepath.Join(o.profile, name+".cpu.pprof"), "-heapprofile", filepath.Join(o.profile, name+".heap.pprof"))
		}
		return a
	}
	an, err := startChild(ccrAn, ccrArgs(ccrAn, "anthropic")...)
	if err != nil {
		return nil, err
	}
	defer an.stop()
	oa, err := startChild(ccrOA, ccrArgs(ccrOA, "openai")...)
	if err != nil {
		return nil, err
	}
	defer oa.stop()
	targets := []*target{
		{name: direct, base: "http://" + up.addr},
		{name: proxy, base: "http://" + px.addr, proc: px},
		{name: ccrAn, base: "http://" + an.addr, proc: an},
		{name: ccrOA, base: "http://" + oa.addr, proc: oa},
	}
	client := newClient(512)
	defer client.CloseIdleConnections()
	setMode := func(chunks int, interval time.Duration) error {
		_, err := up.get(ctx, fmt.Sprintf("/_bench/mode?chunks=%d&interval=%s", chunks, interval))
		return err
	}

	jsonBody, streamBody := benchdata.Request(false), benchdata.Request(true)

	// Warm-up: count_tokens first (ccr loads its tokenizer), then some of
	// each kind of request; then the idle footprint.
	logf("warming up")
	if err := setMode(20, 0); err != nil {
		return nil, err
	}
	rep.IdleRSSKB = map[string]int64{}
	for _, t := range targets {
		if t.proc == nil {
			continue
		}
		if err := countTokens(ctx, client, t); err != nil {
			return nil, fmt.Errorf("%s: count_tokens: %w", t.name, err)
		}
		buf := make([]byte, 32<<10)
		for i := range 40 {
			stream := i%4 == 3
			b := jsonBody
			if stream {
				b = streamBody
			}
			if r := send(ctx, client, t, b, stream, buf, nil); r.err != nil {
				return nil, fmt.Errorf("%s: warm-up request %d: %w", t.name, i, r.err)
			}
		}
	}
	settle := 2 * time.Second
	if o.quick {
		settle = 500 * time.Millisecond
	}
	time.Sleep(settle)
	for _, t := range targets {
		if t.proc != nil {
			rep.IdleRSSKB[t.name] = t.proc.rss()
		}
	}
	if o.profile != "" {
		// The idle heap, to compare with the heap while the long streams
		// are open.
		for _, t := range targets {
			if t.proc != nil {
				if _, err := t.proc.get(ctx, "/_bench/heap?at=idle"); err != nil {
					return nil, fmt.Errorf("%s: idle heap profile: %w", t.name, err)
				}
			}
		}
	}

	// Long streams first, while the heaps are small, so that the memory
	// each open stream takes is not hidden in memory freed by earlier
	// phases.
	run := func(phase string) bool { return slices.Contains(strings.Split(o.phases, ","), phase) }
	ls := longSpec{n: o.streams, ramp: 2 * time.Second, hold: 3 * time.Second, interval: 100 * time.Millisecond}
	if o.quick {
		// Half the streams at the same pace.
		ls.n, ls.ramp, ls.hold = max(o.streams/2, 1), time.Second, 500*time.Millisecond
	}
	if err := setMode(ls.chunks(), ls.interval); err != nil {
		return nil, err
	}
	var longDirect longResult
	for _, t := range targets {
		if !run("long") {
			break
		}
		logf("%d long streams: %s", ls.n, t.name)
		var heap func()
		if o.profile != "" && t.proc != nil {
			heap = func() { t.proc.get(ctx, "/_bench/heap") }
		}
		r := runLong(ctx, t, up, streamBody, ls, heap)
		if t.name == direct {
			longDirect = r
		}
		rep.Long = append(rep.Long, longRow(t.name, ls, r, longDirect))
	}
	rep.LongSpec = fmt.Sprintf("%d streams opened over %s, each %d chunks %s apart (%s)", ls.n, ls.ramp, ls.chunks(), ls.interval,
		time.Duration(ls.chunks()-1)*ls.interval)

	warm, dur := 300*time.Millisecond, 3*time.Second
	swarm, sdur := 300*time.Millisecond, 2*time.Second
	if o.quick {
		warm, dur, swarm, sdur = 100*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
	}
	if err := setMode(20, 0); err != nil {
		return nil, err
	}
	var levels []int
	for _, l := range strings.Split(o.levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-levels: bad concurrency %q", l)
		}
		levels = append(levels, n)
	}
	for _, c := range levels {
		if !run("json") {
			break
		}
		ph := phase{Name: fmt.Sprintf("json c=%d", c), Concurrency: c}
		for _, t := range targets {
			logf("%s: %s", ph.Name, t.name)
			m := runLoad(ctx, client, t, up, jsonBody, loadSpec{conc: c, warm: warm, dur: dur})
			ph.Rows = append(ph.Rows, loadRow(t.name, m))
		}
		ph.relate()
		rep.Phases = append(rep.Phases, ph)
	}
	for _, n := range []int{20, 200} {
		if !run("stream") {
			break
		}
		if err := setMode(n, 0); err != nil {
			return nil, err
		}
		ph := phase{Name: fmt.Sprintf("stream %d chunks c=16", n), Concurrency: 16, Stream: true}
		for _, t := range targets {
			logf("%s: %s", ph.Name, t.name)
			m := runLoad(ctx, client, t, up, streamBody, loadSpec{conc: 16, stream: true, warm: swarm, dur: sdur})
			ph.Rows = append(ph.Rows, loadRow(t.name, m))
		}
		ph.relate()
		rep.Phases = append(rep.Phases, ph)
	}
	rep.FinalRSSKB = map[string]int64{}
	for _, t := range targets {
		if t.proc != nil {
			rep.FinalRSSKB[t.name] = t.proc.rss()
		}
	}
	rep.Machine.LoadEnd = loadAvg()
	rep.Seconds = time.Since(began).Seconds()
	rep.check()
	return rep, nil
}

func countTokens(ctx context.Context, c *http.Client, t *target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/v1/messages/count_tokens", strings.NewReader(string(benchdata.CountTokensRequest())))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "input_tokens") {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}
