package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ccrgo/ccr"
	"github.com/ccrgo/ccr/bench/internal/benchdata"
	"github.com/ccrgo/ccr/internal/gctune"
)

// childFlags are the hidden flags of a child process.
type childFlags struct {
	role       string // "upstream", "proxy" or "ccr"
	upstream   string // host:port of the fake upstream
	format     string // ccr: "openai" or "anthropic"
	cpuprofile string // write a CPU profile here until SIGTERM
	heapprof   string // GET /_bench/heap writes a heap profile here
}

// runChild serves one role on a loopback port and prints "ADDR host:port"
// once it listens. It runs until killed or sent SIGTERM.
func runChild(cf childFlags) error {
	raiseNoFile()
	if cf.heapprof != "" {
		// A finer sample than the default one per 512 KB, so that the
		// profile shows what each open stream holds.
		runtime.MemProfileRate = 4 << 10
	}
	var h http.Handler
	var connState func(net.Conn, http.ConnState)
	switch cf.role {
	case "upstream":
		u := newUpstream()
		connState = trackConns(&u.conns)
		h = u
	case "proxy":
		h = newBareProxy(cf.upstream)
	case "ccr":
		// The collector as the ccr binary tunes it (server/main.go).
		defer gctune.Start(os.Getenv)()
		rt, err := newCCR(cf.upstream, cf.format)
		if err != nil {
			return err
		}
		h = rt
	default:
		return fmt.Errorf("unknown role %q", cf.role)
	}
	if cf.heapprof != "" {
		h = withHeapProfile(h, cf.heapprof)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if cf.cpuprofile != "" {
		f, err := os.Create(cf.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	// The same server settings as the ccr binary (server/main.go).
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn), ConnState: connState}
	fmt.Printf("ADDR %s\n", ln.Addr())
	os.Stdout.Sync()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case err := <-errc:
		return err
	case <-sig:
		return nil
	}
}

func withHeapProfile(h http.Handler, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_bench/heap" {
			h.ServeHTTP(w, r)
			return
		}
		p := path
		if at := r.URL.Query().Get("at"); at != "" {
			// ccr-openai.heap.pprof becomes ccr-openai.idle.heap.pprof.
			p = strings.TrimSuffix(path, ".heap.pprof") + "." + at + ".heap.pprof"
		}
		if err := writeHeapProfile(p); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
}

// writeHeapProfile writes, as of a collection, a heap profile to path, the
// goroutines to path.goroutines.txt and memory statistics to
// path.memstats.json. It is a function of its own so that its MemStats
// (5 KB each) are not in the frame of the handler wrapper, which every
// request's stack carries: they would double what an open stream's
// goroutine reserves.
func writeHeapProfile(path string) error {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	runtime.GC() // the profile shows the heap as of the last collection
	runtime.ReadMemStats(&after)
	for _, p := range []struct {
		name, suffix string
		debug        int
	}{{"heap", "", 0}, {"goroutine", ".goroutines.txt", 1}} {
		f, err := os.Create(path + p.suffix)
		if err != nil {
			return err
		}
		err = pprof.Lookup(p.name).WriteTo(f, p.debug)
		f.Close()
		if err != nil {
			return err
		}
	}
	scanned := stackMetrics()
	// Each collection halves the stacks that use under a quarter of
	// theirs: three more show how far they shrink.
	var stacks []uint64
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
		runtime.ReadMemStats(&m)
		stacks = append(stacks, m.StackInuse)
	}
	ms := func(m *runtime.MemStats) map[string]uint64 {
		return map[string]uint64{"HeapAlloc": m.HeapAlloc, "HeapInuse": m.HeapInuse, "HeapIdle": m.HeapIdle,
			"HeapReleased": m.HeapReleased, "StackInuse": m.StackInuse, "Sys": m.Sys, "NextGC": m.NextGC,
			"Goroutines": uint64(runtime.NumGoroutine()), "NumGC": uint64(m.NumGC)}
	}
	b, _ := json.MarshalIndent(map[string]any{"before_gc": ms(&before), "after_gc": ms(&after), "stack": scanned,
		"StackInuse_after_more_gcs": stacks}, "", "  ")
	return os.WriteFile(path+".memstats.json", b, 0o644)
}

// stackMetrics returns the runtime's stack figures: the bytes of stack
// the last collection scanned (in use, not reserved) and the size new
// goroutines start with.
func stackMetrics() map[string]uint64 {
	samples := []metrics.Sample{{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(samples)
	m := map[string]uint64{}
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			m[s.Name] = s.Value.Uint64()
		}
	}
	return m
}

// newBareProxy is the floor: a ReverseProxy that forwards the same bytes
// to the upstream without understanding them, with a transport tuned like
// ccr's.
func newBareProxy(upstream string) http.Handler {
	target := &url.URL{Scheme: "http", Host: upstream}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.Proxy = nil
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: t,
		ErrorLog:  log.New(os.Stderr, "proxy: ", 0),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The upstream answers once it has read the whole body, but the
		// transport may not yet have seen the body's EOF: without full
		// duplex the server would close the body under it when the
		// answer's headers go out, and the transport would drop the
		// connection mid-answer (about 1% of streams here).
		http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

// newCCR is the router under test, configured like a Claude Code user's
// config.json: one provider, the usual scenarios routed, so that every
// request goes through the long-context rule. Access records are
// formatted as JSON, as the server's log does, and discarded.
func newCCR(upstream, format string) (http.Handler, error) {
	p := ccr.ProviderConfig{Name: "bench", APIKeys: []ccr.Secret{"sk-bench-upstream-key"}, Models: []string{"bench-model"}}
	switch format {
	case "openai":
		p.BaseURL = "http://" + upstream + "/v1/chat/completions"
	case "anthropic":
		p.BaseURL = "http://" + upstream + "/v1/messages"
		p.Use = []ccr.TransformerUse{{Name: "Anthropic"}}
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	route := "bench,bench-model"
	return ccr.New(ccr.Config{
		Providers: []ccr.ProviderConfig{p},
		Router:    ccr.Routes{Default: route, Background: route, Think: route, LongContext: route},
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
}

// upstream is the fake model server: it answers /v1/messages in the
// Anthropic format and /v1/chat/completions in the OpenAI format, with the
// generated answer, as JSON or (for a body with "stream":true) as a stream
// of the configured number of chunks, optionally spaced out.
type upstream struct {
	mode  atomic.Pointer[streamMode]
	conns atomic.Int64
}

type streamMode struct {
	chunks   int
	interval time.Duration
	an, oa   [][]byte
}

func newUpstream() *upstream {
	u := &upstream{}
	u.setMode(20, 0)
	return u
}

func (u *upstream) setMode(chunks int, interval time.Duration) {
	u.mode.Store(&streamMode{chunks: chunks, interval: interval,
		an: benchdata.AnthropicStream("bench-model", chunks), oa: benchdata.OpenAIStream("bench-model", chunks)})
}

var (
	anthropicJSON = benchdata.AnthropicMessage("bench-model")
	openaiJSON    = benchdata.OpenAIMessage("bench-model")
	bodyPool      = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_bench/mode":
		n, _ := strconv.Atoi(r.URL.Query().Get("chunks"))
		d, _ := time.ParseDuration(r.URL.Query().Get("interval"))
		u.setMode(max(n, 1), d)
		return
	case "/_bench/conns":
		fmt.Fprint(w, u.conns.Load())
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyPool.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return
	}
	stream := bytes.Contains(buf.Bytes(), []byte(`"stream":true`))
	var body []byte
	var frames [][]byte
	m := u.mode.Load()
	switch r.URL.Path {
	case "/v1/messages":
		body, frames = anthropicJSON, m.an
	case "/v1/chat/completions":
		body, frames = openaiJSON, m.oa
	case "/v1/messages/count_tokens":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"input_tokens":12345}`))
		return
	default:
		http.NotFound(w, r)
		return
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i, f := range frames {
		if i > 0 && m.interval > 0 {
			select {
			case <-time.After(m.interval):
			case <-r.Context().Done():
				return
			}
		}
		if _, err := w.Write(f); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// child is a running child process.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string
	pid  int
}

// startChild starts this binary in role and waits for its address.
func startChild(name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return &child{name: name, cmd: cmd, addr: a, pid: cmd.Process.Pid}, nil
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start", name)
	}
}

// stop asks the child to exit (so that it writes its profile), then kills
// it if it has not within a few seconds.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) cpu() time.Duration {
	d, _ := cpuTime(c.pid)
	return d
}

func (c *child) rss() int64 {
	kb, _ := rssKB(c.pid)
	return kb
}

// get performs a control GET on the child.
func (c *child) get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status + ": " + string(b))
	}
	return string(b), err
}

// trackConns counts the connections a server accepts.
func trackConns(n *atomic.Int64) func(net.Conn, http.ConnState) {
	return func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
}
