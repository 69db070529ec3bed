package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccrgo/ccr"
)

// The test binary doubles as the programs the command line runs: with
// CCR_TEST_ROLE=ccr it is ccr itself (for detached servers), with
// CCR_TEST_ROLE=claude a stand-in Claude Code that records its arguments
// and environment.
func TestMain(m *testing.M) {
	switch os.Getenv("CCR_TEST_ROLE") {
	case "ccr":
		main()
		os.Exit(0)
	case "claude":
		fakeClaude()
	}
	os.Exit(m.Run())
}

// claudeRecord is what the stand-in Claude Code writes.
type claudeRecord struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
}

func fakeClaude() {
	b, _ := json.Marshal(claudeRecord{Args: os.Args[1:], Env: os.Environ()})
	if err := os.WriteFile(os.Getenv("CCR_TEST_CLAUDE_OUT"), b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(99)
	}
	fmt.Println("fake claude ran")
	code, _ := strconv.Atoi(os.Getenv("CCR_TEST_CLAUDE_EXIT"))
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type sentSignal struct {
	pid int
	sig os.Signal
}

// harness is a cli with a temporary HOME and recorded side effects.
type harness struct {
	t              *testing.T
	home           string
	env            []string
	c              *cli
	stdout, stderr *syncBuffer
	mu             sync.Mutex
	signals        []sentSignal
	opened         []string
}

func newHarness(t *testing.T, extraEnv ...string) *harness {
	t.Helper()
	h := &harness{t: t, home: t.TempDir(), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	h.env = append([]string{"HOME=" + h.home, "PATH=" + os.Getenv("PATH"), "CCR_TEST_ROLE=ccr"}, extraEnv...)
	h.c = newCLI(h.getenv, h.env, strings.NewReader(""), h.stdout, h.stderr)
	h.c.signal = func(pid int, sig os.Signal) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.signals = append(h.signals, sentSignal{pid, sig})
		return nil
	}
	h.c.openURL = func(u string) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.opened = append(h.opened, u)
		return nil
	}
	h.c.probeTimeout = time.Second
	h.c.startTimeout = 60 * time.Second
	return h
}

func (h *harness) getenv(k string) string {
	v := ""
	for _, kv := range h.env {
		if name, val, _ := strings.Cut(kv, "="); name == k {
			v = val
		}
	}
	return v
}

func (h *harness) setenv(kv ...string) {
	h.env = append(h.env, kv...)
	h.c.env = h.env
}

func (h *harness) configPath() string { return ccr.DefaultConfigPath(h.home) }
func (h *harness) pidPath() string    { return defaultPIDFile(h.home) }

func (h *harness) writeConfig(s string) {
	h.t.Helper()
	os.MkdirAll(filepath.Dir(h.configPath()), 0o700)
	if err := os.WriteFile(h.configPath(), []byte(s), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// run runs the command line and returns its exit status.
func (h *harness) run(args ...string) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), 90*time.Second)
	defer cancel()
	err := h.c.main(ctx, append([]string{"ccr"}, args...))
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(h.stderr, "ccr:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(h.stderr, "ccr:", err)
	return 1
}

func (h *harness) sent() []sentSignal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.signals)
}

func (h *harness) reset() {
	h.stdout.mu.Lock()
	h.stdout.b.Reset()
	h.stdout.mu.Unlock()
	h.stderr.mu.Lock()
	h.stderr.b.Reset()
	h.stderr.mu.Unlock()
}

// fakeServer stands in for a running ccr: it answers the identity check as
// this test process, and the PID file names it. Nothing is ever signalled
// for real in tests that use it: the harness records signals.
func (h *harness) fakeServer(auth string) string {
	h.t.Helper()
	token := "fake-token"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+instancePath, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(instanceInfo{PID: os.Getpid(), Token: token, Version: ccr.Version, Auth: auth})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ok"}`)
	})
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	err := writePIDFile(h.pidPath(), pidRecord{PID: os.Getpid(), Addr: addr, Token: token, Config: h.configPath(), Started: time.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return addr
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// stopChild stops a detached server left by a failed test.
func stopChild(t *testing.T, pidFile string) {
	t.Cleanup(func() {
		if rec, _, err := readPIDFile(pidFile); err == nil && rec.PID != os.Getpid() {
			if info, err := (&cli{client: http.DefaultClient, probeTimeout: time.Second}).instance(context.Background(), rec.Addr); err == nil && info.Token == rec.Token {
				signalProcess(rec.PID, syscall.SIGKILL)
			}
		}
	})
}

func TestVersionHelpUnknown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		noStdout   bool
		wantStderr bool
	}{
		{args: []string{"version"}, stdout: "ccr " + ccr.Version + " ("},
		{args: []string{"--version"}, stdout: "ccr " + ccr.Version},
		{args: []string{"-v"}, stdout: "ccr " + ccr.Version},
		{args: []string{"help"}, stdout: "ccr code [args...]"},
		{args: []string{"-h"}, stdout: "ccr model set SCENARIO PROVIDER,MODEL"},
		{args: []string{"--help"}, stdout: "Usage:"},
		{args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, noStdout: true},
		{args: []string{"start", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{args: []string{"status", "-no-such-flag"}, code: 2, stderr: "flag provided but not defined"},
		{args: []string{"stop", "-h"}, code: 0, stderr: "-pidfile"},
		{args: []string{"model", "frob"}, code: 2, stderr: "usage: ccr model"},
		{args: []string{"model", "set", "nosuch", "a,b"}, code: 2, stderr: `unknown scenario "nosuch"`},
		{args: []string{"model", "set", "default", "nocomma"}, code: 2, stderr: "expected PROVIDER,MODEL"},
	} {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if code := h.run(c.args...); code != c.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, c.code, h.stderr)
			}
			if !strings.Contains(h.stdout.String(), c.stdout) {
				t.Errorf("stdout %q does not contain %q", h.stdout, c.stdout)
			}
			if !strings.Contains(h.stderr.String(), c.stderr) {
				t.Errorf("stderr %q does not contain %q", h.stderr, c.stderr)
			}
			if c.noStdout && h.stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", h.stdout)
			}
			if c.code == 2 && c.args[0] == "frobnicate" && !strings.Contains(h.stderr.String(), "Usage:") {
				t.Errorf("unknown command: no usage on stderr")
			}
		})
	}
}

// TestStartStatusStop runs a real detached server (this test binary as
// ccr) through start -d, status, a second start, stop and status.
func TestStartStatusStop(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	h := newHarness(t, "PORT="+strconv.Itoa(port))
	h.c.signal = signalProcess // real signals: the target is confirmed
	stopChild(t, h.pidPath())

	if code := h.run("start", "-d"); code != 0 {
		t.Fatalf("start -d = %d\nstdout: %s\nstderr: %s", code, h.stdout, h.stderr)
	}
	rec, _, err := readPIDFile(h.pidPath())
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ccr started: pid %d, http://127.0.0.1:%d\n", rec.PID, port)
	if h.stdout.String() != want {
		t.Errorf("start -d printed %q, want %q", h.stdout, want)
	}
	if rec.PID == os.Getpid() || !processAlive(rec.PID) {
		t.Fatalf("PID file names %d, not a live child", rec.PID)
	}
	if st, _ := os.Stat(h.pidPath()); st.Mode().Perm() != 0o600 {
		t.Errorf("PID file mode %o", st.Mode().Perm())
	}

	h.reset()
	if code := h.run("status"); code != 0 {
		t.Fatalf("status = %d: %s%s", code, h.stdout, h.stderr)
	}
	out := h.stdout.String()
	for _, s := range []string{
		"ccr is running",
		fmt.Sprintf("PID:      %d", rec.PID),
		fmt.Sprintf("Address:  http://127.0.0.1:%d", port),
		"Auth:     setup mode",
		"Config:   " + h.configPath(),
		"PID file: " + h.pidPath(),
		"Health:   ok (",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("status output lacks %q:\n%s", s, out)
		}
	}

	// The server serves /metrics and the identity endpoint.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "# TYPE ccr_requests_total counter") {
		t.Errorf("GET /metrics = %d %.200s", resp.StatusCode, body)
	}

	h.reset()
	if code := h.run("start", "-d"); code != 0 || !strings.Contains(h.stdout.String(), "already running") {
		t.Errorf("second start -d = %d %q", code, h.stdout)
	}
	h.reset()
	if code := h.run("start"); code != 1 || !strings.Contains(h.stderr.String(), "already running") {
		t.Errorf("foreground start while running = %d %q", code, h.stderr)
	}

	h.reset()
	if code := h.run("stop"); code != 0 {
		t.Fatalf("stop = %d: %s", code, h.stderr)
	}
	if want := fmt.Sprintf("ccr stopped (pid %d)\n", rec.PID); h.stdout.String() != want {
		t.Errorf("stop printed %q, want %q", h.stdout, want)
	}
	if processAlive(rec.PID) {
		t.Errorf("pid %d still alive after stop", rec.PID)
	}
	if _, err := os.Stat(h.pidPath()); !os.IsNotExist(err) {
		t.Errorf("PID file still there after stop: %v", err)
	}
	log, _ := os.ReadFile(h.c.consoleLog())
	if !strings.Contains(string(log), "listening on http://127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("console log:\n%s", log)
	}

	h.reset()
	if code := h.run("status"); code != 1 || !strings.Contains(h.stdout.String(), "not running") {
		t.Errorf("status after stop = %d %q", code, h.stdout)
	}
	h.reset()
	if code := h.run("stop"); code != 0 || !strings.Contains(h.stdout.String(), "not running") {
		t.Errorf("stop when stopped = %d %q", code, h.stdout)
	}
}

// TestStartFailureReported: a server that cannot start (a broken config)
// makes start -d fail with its output, quickly.
func TestStartFailureReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "PORT="+strconv.Itoa(freePort(t)))
	h.writeConfig(`{"PORT": "not a port"`)
	stopChild(t, h.pidPath())
	t0 := time.Now()
	if code := h.run("start", "-d"); code != 1 {
		t.Fatalf("start -d with a broken config = %d", code)
	}
	if !strings.Contains(h.stderr.String(), "exited while starting") || !strings.Contains(h.stderr.String(), "syntax error") {
		t.Errorf("stderr:\n%s", h.stderr)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
}

// TestCodeStartsServerAndPassesArgs: "ccr code" starts a detached server,
// then runs the stand-in claude with exactly the given arguments and the
// router's environment, and returns claude's exit status.
func TestCodeStartsServerAndPassesArgs(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	h := newHarness(t)
	bin := t.TempDir()
	script := "#!/bin/sh\nCCR_TEST_ROLE=claude exec '" + exe + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "claude"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "claude.json")
	h.setenv("PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CCR_TEST_CLAUDE_OUT="+out, "CCR_TEST_CLAUDE_EXIT=7",
		"ANTHROPIC_API_KEY=sk-real-anthropic-key", "CLAUDE_CODE_USE_BEDROCK=1", "NO_PROXY=corp.example",
		"CLIENT_KEY=k-123", "KEEP_ME=yes")
	h.writeConfig(fmt.Sprintf(`{
  // JSON5 is fine
  "APIKEY": "$CLIENT_KEY",
  "PORT": %d,
  "API_TIMEOUT_MS": 120000,
  "ANTHROPIC_SMALL_FAST_MODEL": "p,small",
  "NON_INTERACTIVE_MODE": true,
  "Providers": [{"name": "p", "api_base_url": "http://127.0.0.1:1/v1/messages", "models": ["m"], "transformer": {"use": ["Anthropic"]}}],
  "Router": {"default": "p,m"},
}`, port))
	stopChild(t, h.pidPath())

	args := []string{"-p", "hello world", "--model", "x", "", "it's \"quoted\" $HOME `x`", "--", "-config", "a\nb"}
	code := h.run(append([]string{"code"}, args...)...)
	if code != 7 {
		t.Fatalf("ccr code exit status = %d, want 7 (claude's)\nstderr: %s", code, h.stderr)
	}
	if !strings.Contains(h.stdout.String(), "fake claude ran") {
		t.Errorf("claude's stdout not passed through: %q", h.stdout)
	}
	if !strings.Contains(h.stderr.String(), "ccr started in the background") {
		t.Errorf("stderr: %q", h.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got claudeRecord
	json.Unmarshal(b, &got)
	if !slices.Equal(got.Args, args) {
		t.Errorf("claude got args %q, want %q", got.Args, args)
	}
	env := map[string]string{}
	for _, kv := range got.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"ANTHROPIC_BASE_URL":         fmt.Sprintf("http://127.0.0.1:%d", port),
		"ANTHROPIC_AUTH_TOKEN":       "k-123",
		"API_TIMEOUT_MS":             "120000",
		"DISABLE_TELEMETRY":          "true",
		"DISABLE_COST_WARNINGS":      "true",
		"NO_PROXY":                   "127.0.0.1,localhost,corp.example",
		"ANTHROPIC_SMALL_FAST_MODEL": "p,small",
		"CI":                         "true",
		"FORCE_COLOR":                "0",
		"NODE_NO_READLINE":           "1",
		"TERM":                       "dumb",
		"KEEP_ME":                    "yes",
		"HOME":                       h.home,
	} {
		if env[k] != want {
			t.Errorf("claude env %s = %q, want %q", k, env[k], want)
		}
	}
	for _, k := range []string{"ANTHROPIC_API_KEY", "CLAUDE_CODE_USE_BEDROCK"} {
		if v, ok := env[k]; ok {
			t.Errorf("claude env has %s=%q; want it unset", k, v)
		}
	}
	if _, err := os.Stat(filepath.Join(h.home, ".claude.json")); !os.IsNotExist(err) {
		t.Errorf("~/.claude.json was created")
	}

	// The server is the one it started; it stays up for the next command.
	rec, _, err := readPIDFile(h.pidPath())
	if err != nil || !processAlive(rec.PID) || rec.PID == os.Getpid() {
		t.Fatalf("no detached server after ccr code: %+v %v", rec, err)
	}
	// A request with the key reaches the router; one without is refused.
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/v1/models", port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/models without the key = %d, want 401", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer k-123")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/models with the key = %d", resp.StatusCode)
	}

	// A second run reuses it, with claude's exit status 0 now.
	h.setenv("CCR_TEST_CLAUDE_EXIT=0")
	h.reset()
	if code := h.run("code", "-config", h.configPath(), "--", "--version"); code != 0 {
		t.Errorf("second ccr code = %d: %s", code, h.stderr)
	}
	if strings.Contains(h.stderr.String(), "started") {
		t.Errorf("second ccr code started another server: %q", h.stderr)
	}
	b, _ = os.ReadFile(out)
	json.Unmarshal(b, &got)
	if !slices.Equal(got.Args, []string{"--version"}) {
		t.Errorf("args after ccr's own flags = %q, want [--version]", got.Args)
	}

	h.c.signal = signalProcess
	if code := h.run("stop"); code != 0 {
		t.Errorf("stop = %d: %s", code, h.stderr)
	}
}

func TestCodeClaudePath(t *testing.T) {
	t.Parallel()
	exe, _ := os.Executable()
	dir := t.TempDir()
	envScript := filepath.Join(dir, "from-env")
	cfgScript := filepath.Join(dir, "from-config")
	out := filepath.Join(dir, "out.json")
	for _, p := range []string{envScript, cfgScript} {
		s := "#!/bin/sh\necho " + filepath.Base(p) + " > '" + out + ".which'\nCCR_TEST_ROLE=claude exec '" + exe + "' \"$@\"\n"
		os.WriteFile(p, []byte(s), 0o755)
	}
	for _, c := range []struct {
		name, envPath, want string
		code                int
	}{
		{name: "env wins", envPath: envScript, want: "from-env"},
		{name: "config", want: "from-config"},
		{name: "missing", envPath: filepath.Join(dir, "nope"), code: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "CCR_TEST_CLAUDE_OUT="+out)
			if c.envPath != "" {
				h.setenv("CLAUDE_PATH=" + c.envPath)
			}
			h.writeConfig(`{"CLAUDE_PATH": "` + cfgScript + `"}`)
			h.fakeServer("setup")
			os.Remove(out + ".which")
			if code := h.run("code", "-p", "x"); code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, h.stderr)
			}
			if c.want != "" {
				b, _ := os.ReadFile(out + ".which")
				if strings.TrimSpace(string(b)) != c.want {
					t.Errorf("ran %q, want %q", b, c.want)
				}
			} else if !strings.Contains(h.stderr.String(), "cannot run Claude Code") || !strings.Contains(h.stderr.String(), "CLAUDE_PATH") {
				t.Errorf("stderr: %q", h.stderr)
			}
		})
	}
}

func TestCodeArgs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	def := h.configPath()
	for _, c := range []struct {
		in     []string
		config string
		rest   []string
	}{
		{in: []string{"-p", "hi"}, config: def, rest: []string{"-p", "hi"}},
		{in: []string{"--", "-p"}, config: def, rest: []string{"--", "-p"}},
		{in: []string{"-config", "/x.json", "-p"}, config: "/x.json", rest: []string{"-p"}},
		{in: []string{"-config=/x.json", "--", "-config", "y"}, config: "/x.json", rest: []string{"-config", "y"}},
		{in: []string{"--config", "/x.json"}, config: def, rest: []string{"--config", "/x.json"}},
		{in: []string{"resume", "-config", "/x.json"}, config: def, rest: []string{"resume", "-config", "/x.json"}},
		{in: nil, config: def, rest: nil},
	} {
		cm, rest, err := h.c.codeArgs(c.in)
		if err != nil {
			t.Errorf("codeArgs(%q): %v", c.in, err)
			continue
		}
		if cm.config != c.config || !slices.Equal(rest, c.rest) {
			t.Errorf("codeArgs(%q) = %q, %q; want %q, %q", c.in, cm.config, rest, c.config, c.rest)
		}
	}
	if _, _, err := h.c.codeArgs([]string{"-config"}); err == nil {
		t.Errorf("codeArgs(-config) without a value: no error")
	}
}

// TestStalePIDFile: a PID file that does not lead to a live ccr answering
// as the recorded run is never a reason to signal anything.
func TestStalePIDFile(t *testing.T) {
	t.Parallel()
	dead := deadPID(t)
	me := os.Getpid()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == instancePath {
			json.NewEncoder(w).Encode(instanceInfo{PID: me, Token: "someone-else"})
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(other.Close)
	notCCR := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notCCR.Close)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hung.Close() })
	closed := freePort(t)
	rec := func(pid int, addr string) string {
		b, _ := json.Marshal(pidRecord{PID: pid, Addr: addr, Token: "tok", Config: "/c.json"})
		return string(b)
	}
	host := func(s *httptest.Server) string { return s.Listener.Addr().String() }

	for _, c := range []struct {
		name    string
		content string
		kept    bool // the file is left alone (a live process that cannot be ruled out)
		note    string
	}{
		{name: "dead pid", content: rec(dead, host(other)), note: "is not running"},
		{name: "live pid, nothing listening", content: rec(me, "127.0.0.1:"+strconv.Itoa(closed)), note: "nothing listens"},
		{name: "live pid, another ccr run answers", content: rec(me, host(other)), note: "served by another process"},
		{name: "live pid, not ccr", content: rec(me, host(notCCR)), note: "served by another process"},
		{name: "live pid, no answer in time", content: rec(me, host(hung)), kept: true, note: "did not answer"},
		{name: "legacy number, live", content: strconv.Itoa(me) + "\n", kept: true, note: "cannot be confirmed"},
		{name: "legacy number, dead", content: strconv.Itoa(dead), note: "is not running"},
		{name: "garbage", content: "{not json", note: "malformed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, cmd := range []string{"status", "stop", "restart"} {
				h := newHarness(t)
				h.c.probeTimeout = 300 * time.Millisecond
				h.c.spawn = func(spawnSpec) (spawned, error) { return spawned{}, errors.New("spawn disabled in this test") }
				os.MkdirAll(filepath.Dir(h.pidPath()), 0o700)
				os.WriteFile(h.pidPath(), []byte(c.content), 0o600)
				code := h.run(cmd)
				if s := h.sent(); len(s) > 0 {
					t.Fatalf("%s signalled %v", cmd, s)
				}
				_, err := os.Stat(h.pidPath())
				if c.kept != (err == nil) {
					t.Errorf("%s: PID file kept = %v, want %v", cmd, err == nil, c.kept)
				}
				output := h.stdout.String() + h.stderr.String()
				if !strings.Contains(output, c.note) {
					t.Errorf("%s output %q lacks %q", cmd, output, c.note)
				}
				wantCode := map[string]int{"status": 1, "stop": 0, "restart": 1}[cmd]
				if c.kept && cmd == "stop" {
					wantCode = 1
				}
				if code != wantCode {
					t.Errorf("%s exit status %d, want %d", cmd, code, wantCode)
				}
			}
		})
	}
}

// TestStopConfirmed: a confirmed server gets SIGTERM, and the PID file is
// cleaned up once it has gone.
func TestStopConfirmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fakeServer("api-key")
	var mu sync.Mutex
	gone := false
	h.c.alive = func(pid int) bool {
		mu.Lock()
		defer mu.Unlock()
		return pid == os.Getpid() && !gone
	}
	h.c.signal = func(pid int, sig os.Signal) error {
		mu.Lock()
		defer mu.Unlock()
		h.signals = append(h.signals, sentSignal{pid, sig})
		gone = true
		return nil
	}
	if code := h.run("stop"); code != 0 {
		t.Fatalf("stop = %d: %s", code, h.stderr)
	}
	if s := h.sent(); len(s) != 1 || s[0].pid != os.Getpid() || s[0].sig != syscall.SIGTERM {
		t.Errorf("signals = %v, want one SIGTERM to %d", s, os.Getpid())
	}
	if _, err := os.Stat(h.pidPath()); !os.IsNotExist(err) {
		t.Errorf("PID file left: %v", err)
	}
}

func TestStatusReportsAuthMode(t *testing.T) {
	t.Parallel()
	for auth, want := range map[string]string{
		"api-key":       "API key required",
		"loopback-only": "no APIKEY: loopback clients only",
		"setup":         "setup mode",
	} {
		h := newHarness(t)
		addr := h.fakeServer(auth)
		if code := h.run("status"); code != 0 {
			t.Fatalf("status = %d", code)
		}
		for _, s := range []string{"Auth:     " + want, "http://" + addr, "Health:   ok", fmt.Sprintf("PID:      %d", os.Getpid())} {
			if !strings.Contains(h.stdout.String(), s) {
				t.Errorf("status lacks %q:\n%s", s, h.stdout)
			}
		}
	}
}

func TestActivate(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	key := "k\"ey$(touch PWNED)`id`\\n'x' $HOME !"
	h := newHarness(t, "TRICKY="+key, "ANTHROPIC_API_KEY=real")
	h.writeConfig(`{"APIKEY": "$TRICKY", "PORT": 4567, "Providers": [{"name":"p","api_base_url":"http://127.0.0.1:1","models":["m"]}]}`)

	// Not running: the address comes from the config.
	if code := h.run("activate"); code != 0 {
		t.Fatalf("activate = %d: %s", code, h.stderr)
	}
	if !strings.Contains(h.stderr.String(), "not running") {
		t.Errorf("stderr: %q", h.stderr)
	}
	out := h.stdout.String()
	if !strings.Contains(out, "export ANTHROPIC_BASE_URL=\"http://127.0.0.1:4567\"\n") || !strings.Contains(out, "unset ANTHROPIC_API_KEY\n") {
		t.Errorf("activate output:\n%s", out)
	}
	// The lines evaluate to exactly the values, running nothing.
	dir := t.TempDir()
	cmd := exec.Command(sh, "-c", `eval "$1"; printf '%s|%s|%s' "$ANTHROPIC_AUTH_TOKEN" "$ANTHROPIC_BASE_URL" "${ANTHROPIC_API_KEY-unset}"`, "sh", out)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=/home/someone", "ANTHROPIC_API_KEY=real", "PATH=" + os.Getenv("PATH")}
	got, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := key + "|http://127.0.0.1:4567|unset"; string(got) != want {
		t.Errorf("eval gives %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
		t.Errorf("activate output ran a command")
	}

	// Running: the address is the server's; env is an alias.
	h.reset()
	addr := h.fakeServer("api-key")
	if code := h.run("env"); code != 0 {
		t.Fatalf("env = %d", code)
	}
	if !strings.Contains(h.stdout.String(), `export ANTHROPIC_BASE_URL="http://`+addr+`"`) {
		t.Errorf("env output:\n%s", h.stdout)
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":          `""`,
		"plain":     `"plain"`,
		`a"b`:       `"a\"b"`,
		`$x`:        `"\$x"`,
		"`id`":      "\"\\`id\\`\"",
		`back\`:     `"back\\"`,
		"new\nline": "\"new\nline\"",
		"it's":      `"it's"`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([]string{"A=1", "B=2", "C=3", "B=dup"}, []envVar{{name: "B", value: "new"}, {name: "C", unset: true}, {name: "D", value: "4"}})
	if want := []string{"A=1", "B=new", "D=4"}; !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

// TestUI: "ccr ui" prints and opens the UI address of the running server
// and never creates or rewrites the config.
func TestUI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr := h.fakeServer("setup")
	if code := h.run("ui"); code != 0 {
		t.Fatalf("ui = %d: %s", code, h.stderr)
	}
	want := "http://" + addr + "/ui/"
	if !strings.Contains(h.stdout.String(), want) {
		t.Errorf("stdout %q lacks %s", h.stdout, want)
	}
	if len(h.opened) != 1 || h.opened[0] != want {
		t.Errorf("opened %q, want [%s]", h.opened, want)
	}
	if _, err := os.Stat(h.configPath()); !os.IsNotExist(err) {
		t.Errorf("ccr ui created a config file")
	}

	// A browser that cannot be opened is not an error; the URL is printed.
	h.reset()
	h.writeConfig("{ broken json")
	h.c.openURL = func(string) error { return errors.New("no display") }
	if code := h.run("ui"); code != 0 {
		t.Fatalf("ui without a browser = %d", code)
	}
	if !strings.Contains(h.stdout.String(), want) || !strings.Contains(h.stderr.String(), "could not open a browser") {
		t.Errorf("stdout %q stderr %q", h.stdout, h.stderr)
	}
	if b, _ := os.ReadFile(h.configPath()); string(b) != "{ broken json" {
		t.Errorf("config rewritten to %q", b)
	}
}

const modelConfig = `{
  "APIKEY": "$CLIENT_KEY",
  "Providers": [
    {"name": "deepseek", "api_base_url": "https://api.deepseek.com/chat/completions", "api_key": "$DEEPSEEK_KEY", "models": ["deepseek-chat", "deepseek-reasoner"]},
    {"name": "ollama", "api_base_url": "http://localhost:11434/v1/chat/completions", "models": ["qwen"]}
  ],
  "Router": {
    "default": "deepseek,deepseek-chat",
    "background": "ollama,qwen"
  },
  "StatusLine": {"enabled": false}
}
`

func TestModelList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "CLIENT_KEY=k", "DEEPSEEK_KEY=d")
	h.writeConfig(modelConfig)
	if code := h.run("model"); code != 0 {
		t.Fatalf("model = %d: %s", code, h.stderr)
	}
	want := "Config: " + h.configPath() + `

Models (provider,model):
  deepseek,deepseek-chat
  deepseek,deepseek-reasoner
  ollama,qwen

Routes:
  default      deepseek,deepseek-chat
  background   ollama,qwen
  think        -
  longContext  -   (above 60000 tokens)
  webSearch    -
  image        -
`
	if got := h.stdout.String(); got != want {
		t.Errorf("model list:\n%s\nwant:\n%s", got, want)
	}
	h.reset()
	if code := h.run("model", "list", "-config", filepath.Join(h.home, "none.json")); code != 1 || !strings.Contains(h.stderr.String(), "no config file") {
		t.Errorf("model list without a file = %d %q", code, h.stderr)
	}
}

func TestModelSet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "CLIENT_KEY=k", "DEEPSEEK_KEY=d")
	h.writeConfig(modelConfig)
	path := h.configPath()

	if code := h.run("model", "set", "think", "deepseek,deepseek-reasoner"); code != 0 {
		t.Fatalf("model set = %d: %s", code, h.stderr)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(modelConfig, `"background": "ollama,qwen"
  }`, `"background": "ollama,qwen",
    "think": "deepseek,deepseek-reasoner"
  }`, 1)
	if string(got) != want {
		t.Errorf("file after set:\n%s\nwant:\n%s", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	if !strings.Contains(h.stdout.String(), "Router.think = deepseek,deepseek-reasoner") {
		t.Errorf("stdout: %q", h.stdout)
	}
	baks, _ := filepath.Glob(path + ".*.bak")
	if len(baks) != 1 {
		t.Fatalf("backups: %q", baks)
	}
	if b, _ := os.ReadFile(baks[0]); string(b) != modelConfig {
		t.Errorf("backup holds %q", b)
	}

	// Replace an existing route; case-insensitive scenario and provider.
	h.reset()
	if code := h.run("model", "set", "DEFAULT", "Ollama,qwen"); code != 0 {
		t.Fatalf("model set = %d: %s", code, h.stderr)
	}
	got, _ = os.ReadFile(path)
	if !strings.Contains(string(got), `"default": "ollama,qwen"`) || !strings.Contains(string(got), `"APIKEY": "$CLIENT_KEY"`) {
		t.Errorf("file:\n%s", got)
	}

	// Refusals leave the file byte for byte.
	before, _ := os.ReadFile(path)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"model", "set", "default", "nosuch,m"}, `no provider named "nosuch"`},
	} {
		h.reset()
		if code := h.run(c.args...); code == 0 || !strings.Contains(h.stderr.String(), c.msg) {
			t.Errorf("%q = %d %q", c.args, code, h.stderr)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%q changed the file", c.args)
		}
	}

	// An unlisted model is allowed, with a warning.
	h.reset()
	if code := h.run("model", "set", "image", "deepseek,vision-x"); code != 0 || !strings.Contains(h.stderr.String(), "not in provider deepseek's models") {
		t.Errorf("unlisted model = %d %q", code, h.stderr)
	}

	// At most three backups.
	for i := range 4 {
		time.Sleep(3 * time.Millisecond)
		if code := h.run("model", "set", "webSearch", "deepseek,deepseek-chat"+strings.Repeat("x", i)); code != 0 {
			t.Fatal(h.stderr)
		}
	}
	if baks, _ := filepath.Glob(path + ".*.bak"); len(baks) != ccr.ConfigBackups {
		t.Errorf("%d backups, want %d", len(baks), ccr.ConfigBackups)
	}
}

func TestModelSetPreexistingProblems(t *testing.T) {
	t.Parallel()
	// CLIENT_KEY is unset in this shell: the file already has that
	// problem, which must not block an unrelated edit.
	h := newHarness(t, "DEEPSEEK_KEY=d")
	h.writeConfig(modelConfig)
	if code := h.run("model", "set", "think", "ollama,qwen"); code != 0 {
		t.Fatalf("model set = %d: %s", code, h.stderr)
	}
	if !strings.Contains(h.stderr.String(), "already had problems") || !strings.Contains(h.stderr.String(), "APIKEY") {
		t.Errorf("stderr: %q", h.stderr)
	}
}

func TestModelSetJSON5AndReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := `// my config
{
  Providers: [{name: 'p', api_base_url: 'http://127.0.0.1:1/x', models: ['a', 'b'],},],
  Router: {default: 'p,a'},
}
`
	h.writeConfig(src)
	h.fakeServer("loopback-only") // started with this config
	if code := h.run("model", "set", "default", "p,b"); code != 0 {
		t.Fatalf("model set = %d: %s", code, h.stderr)
	}
	got, _ := os.ReadFile(h.configPath())
	var doc struct {
		Router map[string]string
	}
	if err := json.Unmarshal(got, &doc); err != nil || doc.Router["default"] != "p,b" {
		t.Errorf("saved %s (%v)", got, err)
	}
	if !strings.Contains(h.stderr.String(), "was JSON5") {
		t.Errorf("no JSON5 note: %q", h.stderr)
	}
	baks, _ := filepath.Glob(h.configPath() + ".*.bak")
	if len(baks) != 1 {
		t.Fatalf("backups %q", baks)
	}
	if b, _ := os.ReadFile(baks[0]); string(b) != src {
		t.Errorf("backup %q", b)
	}
	if s := h.sent(); len(s) != 1 || s[0].sig != syscall.SIGHUP || s[0].pid != os.Getpid() {
		t.Errorf("signals %v, want one SIGHUP to the running server", s)
	}
	if !strings.Contains(h.stdout.String(), "reloading its config") {
		t.Errorf("stdout %q", h.stdout)
	}
}

// TestServeRefusesOpenWithoutKey: a non-loopback HOST needs an APIKEY or
// -insecure-no-auth.
func TestServeRefusesOpenWithoutKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		config string
		flags  []string
		starts bool
		binds  bool // gets past the check to the bind
	}{
		{name: "no key", flags: []string{"-host", "0.0.0.0"}},
		{name: "no key, HOST from config", config: `{"HOST": "0.0.0.0"}`},
		// 192.0.2.1 (TEST-NET-1) is not on this machine: passing the check
		// shows as a bind error, and nothing listens beyond loopback.
		{name: "insecure flag", flags: []string{"-host", "192.0.2.1", "-insecure-no-auth"}, binds: true},
		{name: "with key", config: `{"APIKEY": "k"}`, flags: []string{"-host", "192.0.2.1"}, binds: true},
		{name: "loopback", flags: []string{"-host", "127.0.0.1"}, starts: true},
		{name: "localhost", flags: []string{"-host", "localhost"}, starts: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if c.config != "" {
				h.writeConfig(c.config)
			}
			port := freePort(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			args := append([]string{"ccr", "-port", strconv.Itoa(port)}, c.flags...)
			go func() { errc <- h.c.main(ctx, args) }()
			if !c.starts {
				select {
				case err := <-errc:
					refused := err != nil && strings.Contains(err.Error(), "without an APIKEY") && strings.Contains(err.Error(), "-insecure-no-auth")
					if c.binds && (err == nil || refused || !strings.Contains(err.Error(), "192.0.2.1")) {
						t.Errorf("err = %v, want a bind error", err)
					}
					if !c.binds && !refused {
						t.Errorf("err = %v, want the APIKEY refusal", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("server started")
				}
				return
			}
			waitHealthy(t, port)
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

func waitHealthy(t *testing.T, port int) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if i > 200 {
			t.Fatalf("server on %d never healthy: %v", port, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestServeMetricsAndInstance: /metrics is behind the API key;
// /health/instance identifies the process; the PID file is written while
// serving and removed after.
func TestServeMetricsAndInstance(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.writeConfig(`{"APIKEY": "sekrit", "Providers": [{"name":"p","api_base_url":"http://127.0.0.1:1/x","models":["m"]}], "Router": {"default": "p,m"}}`)
	port := freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- h.c.main(ctx, []string{"ccr", "-port", strconv.Itoa(port)}) }()
	waitHealthy(t, port)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	get := func(path, key string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if key != "" {
			req.Header.Set("x-api-key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, _, _ := get("/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without key = %d", code)
	}
	if code, _, _ := get("/metrics", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong key = %d", code)
	}
	code, body, hdr := get("/metrics", "sekrit")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") || !strings.Contains(body, "ccr_in_flight_requests 0") {
		t.Errorf("/metrics = %d %q %.300s", code, hdr.Get("Content-Type"), body)
	}

	code, body, _ = get(instancePath, "")
	var info instanceInfo
	json.Unmarshal([]byte(body), &info)
	rec, _, err := readPIDFile(h.pidPath())
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 || info.PID != os.Getpid() || info.Token != rec.Token || info.Auth != "api-key" || rec.Addr != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Errorf("instance = %d %+v; PID file %+v", code, info, rec)
	}
	if strings.Contains(body, "sekrit") {
		t.Errorf("instance endpoint shows the key")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.pidPath()); !os.IsNotExist(err) {
		t.Errorf("PID file left after shutdown: %v", err)
	}
}

// TestDeployFiles: the example config in deploy/kubernetes.yaml loads and
// validates, and the command lines of the Dockerfile and the systemd unit
// use flags that exist.
func TestDeployFiles(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(line) == "config.json: |":
			in = true
		case in && (strings.HasPrefix(line, "    ") || line == ""):
			block = append(block, strings.TrimPrefix(line, "    "))
		case in:
			in = false
		}
	}
	env := map[string]string{"CCR_APIKEY": "k", "DEEPSEEK_API_KEY": "d"}
	cfg, warnings, err := ccr.ParseConfig(strings.NewReader(strings.Join(block, "\n")), func(k string) string { return env[k] })
	if err != nil || len(warnings) > 0 {
		t.Fatalf("kubernetes.yaml config.json: %v %v", err, warnings)
	}
	if err := ccr.Validate(cfg); err != nil {
		t.Fatalf("kubernetes.yaml config.json: %v", err)
	}
	if cfg.APIKey != "k" || len(cfg.Providers) == 0 {
		t.Errorf("config %+v", cfg)
	}

	docker, _ := os.ReadFile("../deploy/Dockerfile")
	unit, _ := os.ReadFile("../deploy/ccr.service")
	var cmdlines [][]string
	for _, line := range strings.Split(string(docker), "\n") {
		for _, p := range []string{"ENTRYPOINT ", "CMD "} {
			if rest, ok := strings.CutPrefix(line, p); ok {
				var words []string
				if err := json.Unmarshal([]byte(rest), &words); err != nil {
					t.Fatalf("Dockerfile %q: %v", line, err)
				}
				if p == "ENTRYPOINT " {
					words = words[1:]
				}
				cmdlines = append(cmdlines, words)
			}
		}
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			cmdlines = append(cmdlines, strings.Fields(rest)[1:])
		}
	}
	if len(cmdlines) != 3 {
		t.Fatalf("found %d command lines, want 3", len(cmdlines))
	}
	h := newHarness(t)
	for _, args := range cmdlines {
		var cm common
		var sf serveFlags
		fs := h.c.flagSet("ccr", &cm)
		addServeFlags(fs, &sf)
		if pos, err := h.c.parse(fs, &cm, args); err != nil || len(pos) > 0 {
			t.Errorf("flags %q: %v %q", args, err, pos)
		}
	}
}
