package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccrgo/ccr"
	"github.com/ccrgo/ccr/internal/json5"
	"github.com/ccrgo/ccr/internal/jsonraw"
)

// cli is the command line: its environment and output, and the seams
// through which it reaches other processes, so that tests can stand in
// for them.
type cli struct {
	getenv         func(string) string
	env            []string // the environment given to child processes
	stdin          io.Reader
	stdout, stderr io.Writer

	executable func() (string, error)           // this program, re-executed to detach
	spawn      func(spawnSpec) (spawned, error) // starts a detached server
	alive      func(pid int) bool
	signal     func(pid int, sig os.Signal) error
	openURL    func(url string) error
	client     *http.Client

	probeTimeout time.Duration // for one identity or health check
	startTimeout time.Duration // for a detached server to answer
	stopTimeout  time.Duration // for a stopped server to exit
}

// spawnSpec describes a detached server process.
type spawnSpec struct {
	path    string
	args    []string // without the program name
	env     []string
	logPath string // its stdout and stderr; "" means the null device
}

// spawned is a started process.
type spawned struct {
	pid    int
	exited <-chan error // receives when the process ends
}

func newCLI(getenv func(string) string, env []string, stdin io.Reader, stdout, stderr io.Writer) *cli {
	c := &cli{
		getenv: getenv, env: env, stdin: stdin, stdout: stdout, stderr: stderr,
		executable:   os.Executable,
		spawn:        spawnDetached,
		alive:        processAlive,
		signal:       signalProcess,
		client:       &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		probeTimeout: 3 * time.Second,
		startTimeout: 20 * time.Second,
		stopTimeout:  drainTimeout + 10*time.Second,
	}
	c.openURL = c.openBrowser
	return c
}

// exitError ends the program with an exit status. err, when not nil, is
// printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return "exit status " + strconv.Itoa(e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

const usageText = `ccr — Claude Code Router

Usage:
  ccr [flags]                  serve in the foreground (as "ccr start")
  ccr start [-d] [flags]       serve; -d (--detach) runs it in the background and
                               returns once it answers
  ccr stop                     stop the server named by the PID file
  ccr restart [flags]          stop it, then start it in the background
  ccr status                   PID, address, auth mode, config and a live health
                               check; exit status 0 if running, 1 if not
  ccr code [args...]           start the server if needed, then run Claude Code
                               through it; every argument goes to Claude Code
  ccr activate | env           print the export lines: eval "$(ccr activate)"
  ccr ui                       start the server if needed, open the web UI
  ccr model [list]             list the provider,model pairs and the routes
  ccr model set SCENARIO PROVIDER,MODEL
                               set a route (default, background, think,
                               longContext, webSearch, image) and save it
  ccr version                  print the version
  ccr help                     print this text

Flags of every command:
  -config FILE     config file (default ~/.claude-code-router/config.json)
  -pidfile FILE    PID file (default ~/.claude-code-router/.claude-code-router.pid;
                   -pidfile= for none)
Serve flags (ccr, start, restart):
  -host HOST       listen address (default: HOST, then the config, then 127.0.0.1)
  -port PORT       listen port (default: PORT, then the config, then 3456)
  -insecure-no-auth
                   allow a non-loopback HOST without an APIKEY

"ccr code" gives ccr's own flags only before its arguments:
  ccr code -config FILE -- -p "hello"
Claude Code is CLAUDE_PATH from the environment, then from the config, then
"claude" on PATH.
`

// main dispatches to a command.
func (c *cli) main(ctx context.Context, args []string) error {
	var name string
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	switch name {
	case "":
		if len(rest) > 0 {
			switch rest[0] {
			case "-h", "-help", "--help":
				return c.cmdHelp()
			case "-v", "-version", "--version":
				return c.cmdVersion()
			}
		}
		return c.cmdStart(ctx, "ccr", rest)
	case "start":
		return c.cmdStart(ctx, "start", rest)
	case "stop":
		return c.cmdStop(ctx, rest)
	case "restart":
		return c.cmdRestart(ctx, rest)
	case "status":
		return c.cmdStatus(ctx, rest)
	case "code":
		return c.cmdCode(ctx, rest)
	case "activate", "env":
		return c.cmdActivate(ctx, name, rest)
	case "ui":
		return c.cmdUI(ctx, rest)
	case "model":
		return c.cmdModel(ctx, rest)
	case "version":
		return c.cmdVersion()
	case "help":
		return c.cmdHelp()
	}
	io.WriteString(c.stderr, usageText)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", name)}
}

func (c *cli) cmdHelp() error {
	io.WriteString(c.stdout, usageText)
	return nil
}

func (c *cli) cmdVersion() error {
	fmt.Fprintf(c.stdout, "ccr %s (%s %s/%s)\n", ccr.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// common are the flags of every command.
type common struct {
	config    string
	pidFile   string
	configSet bool // -config was given
}

// serveFlags are the flags that configure a server.
type serveFlags struct {
	host           string
	port           int
	insecureNoAuth bool
}

func (c *cli) flagSet(name string, cm *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage of ccr %s (run \"ccr help\" for all commands):\n", name)
		fs.PrintDefaults()
	}
	home := c.getenv("HOME")
	fs.StringVar(&cm.config, "config", ccr.DefaultConfigPath(home), "config `file`")
	fs.StringVar(&cm.pidFile, "pidfile", defaultPIDFile(home), "PID `file` (empty: none)")
	return fs
}

func addServeFlags(fs *flag.FlagSet, sf *serveFlags) {
	fs.StringVar(&sf.host, "host", "", "listen address (default: HOST, then the config, then 127.0.0.1)")
	fs.IntVar(&sf.port, "port", 0, "listen port (default: PORT, then the config, then 3456)")
	fs.BoolVar(&sf.insecureNoAuth, "insecure-no-auth", false, "allow a non-loopback HOST without an APIKEY")
}

// parse parses args with fs, allowing flags between positional arguments,
// and returns the positional ones. -h gives exit status 0, a bad flag 2.
func (c *cli) parse(fs *flag.FlagSet, cm *common, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &exitError{code: 0}
			}
			return nil, &exitError{code: 2}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			cm.configSet = true
		}
	})
	if abs, err := filepath.Abs(cm.config); err == nil {
		cm.config = abs
	}
	if cm.pidFile != "" {
		if abs, err := filepath.Abs(cm.pidFile); err == nil {
			cm.pidFile = abs
		}
	}
	return pos, nil
}

// childFlags are the flags that start a server as cm and sf describe.
func childFlags(cm common, sf serveFlags) []string {
	f := []string{"-config", cm.config, "-pidfile=" + cm.pidFile}
	if sf.host != "" {
		f = append(f, "-host", sf.host)
	}
	if sf.port != 0 {
		f = append(f, "-port", strconv.Itoa(sf.port))
	}
	if sf.insecureNoAuth {
		f = append(f, "-insecure-no-auth")
	}
	return f
}

// cmdStart serves in the foreground or, with -d, starts a detached server
// and waits until it answers.
func (c *cli) cmdStart(ctx context.Context, name string, args []string) error {
	var cm common
	var sf serveFlags
	var detach bool
	fs := c.flagSet(name, &cm)
	addServeFlags(fs, &sf)
	if name == "start" {
		fs.BoolVar(&detach, "d", false, "run in the background")
		fs.BoolVar(&detach, "detach", false, "run in the background")
	}
	pos, err := c.parse(fs, &cm, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", pos[0])}
	}
	if cm.pidFile != "" {
		switch res := c.probe(ctx, cm.pidFile); res.state {
		case stateRunning:
			if detach {
				fmt.Fprintf(c.stdout, "ccr is already running: pid %d, http://%s\n", res.rec.PID, dialAddr(res.rec.Addr))
				return nil
			}
			return fmt.Errorf("ccr is already running (pid %d, http://%s); stop it with \"ccr stop\"", res.rec.PID, dialAddr(res.rec.Addr))
		case stateUnknown:
			return errors.New(res.note)
		}
	}
	if detach {
		if cm.pidFile == "" {
			return &exitError{code: 2, err: errors.New("start -d needs a PID file to find the server it started")}
		}
		res, err := c.startDetached(ctx, childFlags(cm, sf), cm.pidFile)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "ccr started: pid %d, http://%s\n", res.rec.PID, dialAddr(res.rec.Addr))
		return nil
	}
	o := options{
		configPath:     cm.config,
		logDir:         ccr.DefaultLogDir(c.getenv("HOME")),
		host:           sf.host,
		port:           sf.port,
		pidFile:        cm.pidFile,
		flags:          childFlags(cm, sf),
		insecureNoAuth: sf.insecureNoAuth,
	}
	return serve(ctx, o, c.getenv, c.stdout, c.stderr)
}

// consoleLog is where a detached server's output goes.
func (c *cli) consoleLog() string {
	return filepath.Join(ccr.DefaultLogDir(c.getenv("HOME")), "console.log")
}

// startDetached starts "ccr start" with flags in the background and waits
// until it answers as the process it started.
func (c *cli) startDetached(ctx context.Context, flags []string, pidFile string) (probeResult, error) {
	exe, err := c.executable()
	if err != nil {
		return probeResult{}, fmt.Errorf("cannot find this program to start it in the background: %w", err)
	}
	logPath := c.consoleLog()
	p, err := c.spawn(spawnSpec{path: exe, args: append([]string{"start"}, flags...), env: c.env, logPath: logPath})
	if err != nil {
		return probeResult{}, fmt.Errorf("cannot start the server: %w", err)
	}
	deadline := time.NewTimer(c.startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-p.exited:
			return probeResult{}, fmt.Errorf("the server exited while starting (%v)%s", err, tail(logPath))
		case <-deadline.C:
			c.signal(p.pid, stopSignal()) // our own child: safe to stop
			return probeResult{}, fmt.Errorf("the server (pid %d) did not answer within %s%s", p.pid, c.startTimeout, tail(logPath))
		case <-ctx.Done():
			return probeResult{}, ctx.Err()
		case <-tick.C:
		}
		if rec, _, err := readPIDFile(pidFile); err != nil || rec.PID != p.pid {
			continue
		}
		if res := c.probe(ctx, pidFile); res.state == stateRunning && res.rec.PID == p.pid {
			return res, nil
		}
	}
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "; its output (" + path + "):\n" + strings.TrimRight(string(b), "\n")
}

// spawnDetached starts a process in its own session with its output in
// s.logPath (or the null device) and no input.
func spawnDetached(s spawnSpec) (spawned, error) {
	var out *os.File
	if s.logPath != "" {
		if err := os.MkdirAll(filepath.Dir(s.logPath), 0o700); err == nil {
			out, _ = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		}
	}
	if out == nil {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return spawned{}, err
		}
		out = f
	}
	defer out.Close()
	in, err := os.Open(os.DevNull)
	if err != nil {
		return spawned{}, err
	}
	defer in.Close()
	cmd := &exec.Cmd{
		Path:        s.path,
		Args:        append([]string{s.path}, s.args...),
		Env:         s.env,
		Stdin:       in,
		Stdout:      out,
		Stderr:      out,
		SysProcAttr: detachAttr(),
	}
	if err := cmd.Start(); err != nil {
		return spawned{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return spawned{pid: cmd.Process.Pid, exited: exited}, nil
}

// ensureRunning returns the running server, starting one in the background
// if there is none.
func (c *cli) ensureRunning(ctx context.Context, cm common) (probeResult, error) {
	if cm.pidFile == "" {
		return probeResult{}, errors.New("a PID file is needed to find or start the server")
	}
	res := c.probe(ctx, cm.pidFile)
	switch res.state {
	case stateRunning:
		return res, nil
	case stateUnknown:
		return res, errors.New(res.note)
	}
	res, err := c.startDetached(ctx, childFlags(cm, serveFlags{}), cm.pidFile)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(c.stderr, "ccr started in the background: pid %d, http://%s\n", res.rec.PID, dialAddr(res.rec.Addr))
	return res, nil
}

func (c *cli) cmdStop(ctx context.Context, args []string) error {
	var cm common
	fs := c.flagSet("stop", &cm)
	if _, err := c.parse(fs, &cm, args); err != nil {
		return err
	}
	if cm.pidFile == "" {
		return &exitError{code: 2, err: errors.New("stop needs a PID file")}
	}
	res := c.probe(ctx, cm.pidFile)
	switch res.state {
	case stateNone:
		fmt.Fprintln(c.stdout, "ccr is not running"+noteSuffix(res.note))
		return nil
	case stateUnknown:
		return fmt.Errorf("not stopping anything: %s", res.note)
	}
	return c.stopRunning(ctx, res, cm.pidFile)
}

func noteSuffix(note string) string {
	if note == "" || note == "no PID file" {
		return ""
	}
	return " (" + note + ")"
}

// stopRunning asks a confirmed server to drain and exit, and waits.
func (c *cli) stopRunning(ctx context.Context, res probeResult, pidFile string) error {
	pid := res.rec.PID
	if err := c.signal(pid, stopSignal()); err != nil {
		return fmt.Errorf("cannot stop pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(c.stopTimeout)
	told := false
	start := time.Now()
	for c.alive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d is still running %s after it was asked to stop", pid, c.stopTimeout)
		}
		if !told && time.Since(start) > 2*time.Second {
			fmt.Fprintf(c.stderr, "waiting for in-flight requests to finish (up to %s)...\n", drainTimeout)
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	removePIDFileOf(pidFile, res.rec.Token)
	fmt.Fprintf(c.stdout, "ccr stopped (pid %d)\n", pid)
	return nil
}

func (c *cli) cmdRestart(ctx context.Context, args []string) error {
	var cm common
	var sf serveFlags
	fs := c.flagSet("restart", &cm)
	addServeFlags(fs, &sf)
	pos, err := c.parse(fs, &cm, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", pos[0])}
	}
	if cm.pidFile == "" {
		return &exitError{code: 2, err: errors.New("restart needs a PID file")}
	}
	flags := childFlags(cm, sf)
	res := c.probe(ctx, cm.pidFile)
	switch res.state {
	case stateUnknown:
		return fmt.Errorf("not restarting: %s", res.note)
	case stateRunning:
		if fs.NFlag() == 0 && len(res.rec.Flags) > 0 {
			flags = res.rec.Flags // as it was started
		}
		if err := c.stopRunning(ctx, res, cm.pidFile); err != nil {
			return err
		}
	default:
		fmt.Fprintln(c.stdout, "ccr was not running"+noteSuffix(res.note))
	}
	res, err = c.startDetached(ctx, flags, cm.pidFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "ccr started: pid %d, http://%s\n", res.rec.PID, dialAddr(res.rec.Addr))
	return nil
}

func (c *cli) cmdStatus(ctx context.Context, args []string) error {
	var cm common
	fs := c.flagSet("status", &cm)
	if _, err := c.parse(fs, &cm, args); err != nil {
		return err
	}
	if cm.pidFile == "" {
		return &exitError{code: 2, err: errors.New("status needs a PID file")}
	}
	res := c.probe(ctx, cm.pidFile)
	switch res.state {
	case stateNone:
		fmt.Fprintln(c.stdout, "ccr is not running"+noteSuffix(res.note))
		return &exitError{code: 1}
	case stateUnknown:
		fmt.Fprintln(c.stdout, "ccr is not confirmed running: "+res.note)
		return &exitError{code: 1}
	}
	auth := map[string]string{
		"api-key":       "API key required (APIKEY)",
		"loopback-only": "no APIKEY: loopback clients only",
		"setup":         "setup mode (no providers): loopback clients only",
	}[res.info.Auth]
	if auth == "" {
		auth = res.info.Auth
	}
	base := "http://" + dialAddr(res.rec.Addr)
	health := c.health(ctx, base)
	w := c.stdout
	fmt.Fprintln(w, "ccr is running")
	fmt.Fprintf(w, "  PID:      %d\n", res.rec.PID)
	fmt.Fprintf(w, "  Address:  %s (listening on %s)\n", base, res.rec.Addr)
	fmt.Fprintf(w, "  Auth:     %s\n", auth)
	fmt.Fprintf(w, "  Config:   %s\n", res.rec.Config)
	fmt.Fprintf(w, "  PID file: %s\n", cm.pidFile)
	fmt.Fprintf(w, "  Version:  %s\n", res.info.Version)
	if !res.rec.Started.IsZero() {
		fmt.Fprintf(w, "  Started:  %s (up %s)\n", res.rec.Started.Local().Format(time.RFC3339), time.Since(res.rec.Started).Round(time.Second))
	}
	fmt.Fprintf(w, "  Health:   %s\n", health)
	return nil
}

// health checks GET /health and describes the answer.
func (c *cli) health(ctx context.Context, base string) string {
	ctx, cancel := context.WithTimeout(ctx, c.probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return "error: " + err.Error()
	}
	t0 := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	d := time.Since(t0).Round(100 * time.Microsecond)
	var h struct {
		Status string `json:"status"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h)
	if resp.StatusCode != http.StatusOK || h.Status != "ok" {
		return fmt.Sprintf("unhealthy: HTTP %d %q (%s)", resp.StatusCode, h.Status, d)
	}
	return fmt.Sprintf("ok (%s)", d)
}

// envVar is one variable given to Claude Code: set to value, or unset.
type envVar struct {
	name, value string
	unset       bool
}

// claudeEnv returns the environment Claude Code needs to use the server
// listening on addr.
func (c *cli) claudeEnv(cfg ccr.Config, addr string) []envVar {
	token := string(cfg.APIKey)
	if token == "" {
		token = "ccr" // any value: without an APIKEY the server checks none
	}
	timeout := "600000"
	if cfg.APITimeout > 0 {
		timeout = strconv.FormatInt(cfg.APITimeout.Milliseconds(), 10)
	}
	noProxy := "127.0.0.1,localhost"
	if prev := firstNonEmpty(c.getenv("NO_PROXY"), c.getenv("no_proxy")); prev != "" {
		noProxy += "," + prev
	}
	vars := []envVar{
		{name: "ANTHROPIC_BASE_URL", value: "http://" + dialAddr(addr)},
		{name: "ANTHROPIC_AUTH_TOKEN", value: token},
		{name: "ANTHROPIC_API_KEY", unset: true},
		{name: "API_TIMEOUT_MS", value: timeout},
		{name: "DISABLE_TELEMETRY", value: "true"},
		{name: "DISABLE_COST_WARNINGS", value: "true"},
		{name: "NO_PROXY", value: noProxy},
		{name: "CLAUDE_CODE_USE_BEDROCK", unset: true},
		{name: "CLAUDE_CODE_USE_VERTEX", unset: true},
	}
	if c.getenv("no_proxy") != "" {
		vars = append(vars, envVar{name: "no_proxy", value: noProxy})
	}
	if cfg.SmallFastModel != "" {
		vars = append(vars, envVar{name: "ANTHROPIC_SMALL_FAST_MODEL", value: cfg.SmallFastModel})
	}
	if cfg.NonInteractiveMode {
		vars = append(vars,
			envVar{name: "CI", value: "true"},
			envVar{name: "FORCE_COLOR", value: "0"},
			envVar{name: "NODE_NO_READLINE", value: "1"},
			envVar{name: "TERM", value: "dumb"})
	}
	return vars
}

// mergeEnv returns base with vars applied.
func mergeEnv(base []string, vars []envVar) []string {
	drop := make(map[string]bool, len(vars))
	for _, v := range vars {
		drop[v.name] = true
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	for _, v := range vars {
		if !v.unset {
			out = append(out, v.name+"="+v.value)
		}
	}
	return out
}

// clientConfig loads the config that describes the server for clients:
// the -config file if given, else the one the running server was started
// with, else the default.
func (c *cli) clientConfig(cm common, res probeResult) (ccr.Config, string, error) {
	path := cm.config
	if !cm.configSet && res.state == stateRunning && res.rec.Config != "" {
		path = res.rec.Config
	}
	cfg, _, err := ccr.LoadConfig(path, c.getenv)
	return cfg, path, err
}

// codeArgs splits ccr's own leading flags (-config FILE, -pidfile FILE, and
// a "--" after them) from Claude Code's arguments, which are returned
// untouched.
func (c *cli) codeArgs(args []string) (common, []string, error) {
	home := c.getenv("HOME")
	cm := common{config: ccr.DefaultConfigPath(home), pidFile: defaultPIDFile(home)}
	own := false
	for len(args) > 0 {
		name, val, hasVal := strings.Cut(args[0], "=")
		if name != "-config" && name != "-pidfile" {
			break
		}
		if !hasVal {
			if len(args) < 2 {
				return cm, nil, &exitError{code: 2, err: fmt.Errorf("flag %s needs a value", name)}
			}
			val, args = args[1], args[1:]
		}
		args = args[1:]
		own = true
		if name == "-config" {
			cm.config, cm.configSet = val, true
		} else {
			cm.pidFile = val
		}
	}
	if own && len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if abs, err := filepath.Abs(cm.config); err == nil {
		cm.config = abs
	}
	if abs, err := filepath.Abs(cm.pidFile); err == nil && cm.pidFile != "" {
		cm.pidFile = abs
	}
	return cm, args, nil
}

// cmdCode runs Claude Code against the server, starting the server first
// if needed. Claude Code's exit status becomes ccr's.
func (c *cli) cmdCode(ctx context.Context, args []string) error {
	cm, claudeArgs, err := c.codeArgs(args)
	if err != nil {
		return err
	}
	res, err := c.ensureRunning(ctx, cm)
	if err != nil {
		return err
	}
	cfg, _, err := c.clientConfig(cm, res)
	if err != nil {
		return err
	}
	path, err := c.claudePath(cfg)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, claudeArgs...)
	cmd.Env = mergeEnv(c.env, c.claudeEnv(cfg, res.rec.Addr))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr

	// Claude Code owns the terminal: Ctrl-C reaches it directly (same
	// process group), so ccr only stays alive and passes on the signals
	// that are sent to ccr alone.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot run Claude Code (%s): %w; install it (npm install -g @anthropic-ai/claude-code) or set CLAUDE_PATH", path, err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != os.Interrupt {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	return exitStatus(err)
}

// exitStatus turns a child's end into ccr's: the same exit status, or
// 128+N for a child killed by signal N.
func exitStatus(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	code := ee.ExitCode()
	if ws, ok := ee.Sys().(interface{ Signal() syscall.Signal }); ok && code < 0 {
		code = 128 + int(ws.Signal())
	}
	if code < 0 {
		code = 1
	}
	return &exitError{code: code}
}

// claudePath finds Claude Code: CLAUDE_PATH from the environment, then
// from the config, then "claude" on PATH.
func (c *cli) claudePath(cfg ccr.Config) (string, error) {
	name := firstNonEmpty(c.getenv("CLAUDE_PATH"), cfg.ClaudePath, "claude")
	if strings.HasPrefix(name, "~/") {
		name = filepath.Join(c.getenv("HOME"), name[2:])
	}
	if strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator) {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("cannot run Claude Code: %w; install it (npm install -g @anthropic-ai/claude-code) or fix CLAUDE_PATH", err)
		}
		return p, nil
	}
	for _, dir := range filepath.SplitList(c.getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot run Claude Code: no %q on PATH; install it (npm install -g @anthropic-ai/claude-code) or set CLAUDE_PATH", name)
}

// cmdActivate prints the shell commands that point Claude Code at ccr.
func (c *cli) cmdActivate(ctx context.Context, name string, args []string) error {
	var cm common
	fs := c.flagSet(name, &cm)
	if _, err := c.parse(fs, &cm, args); err != nil {
		return err
	}
	var res probeResult
	if cm.pidFile != "" {
		res = c.probe(ctx, cm.pidFile)
	}
	cfg, _, err := c.clientConfig(cm, res)
	if err != nil {
		return err
	}
	addr := res.rec.Addr
	if res.state != stateRunning {
		addr = listenAddr(options{}, cfg, c.getenv)
		fmt.Fprintln(c.stderr, "# ccr is not running; start it with: ccr start -d")
	}
	for _, v := range c.claudeEnv(cfg, addr) {
		if v.unset {
			fmt.Fprintf(c.stdout, "unset %s\n", v.name)
		} else {
			fmt.Fprintf(c.stdout, "export %s=%s\n", v.name, shellQuote(v.value))
		}
	}
	return nil
}

// shellQuote quotes s for POSIX shells inside double quotes, escaping the
// four characters that stay special there.
func shellQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\', '$', '`':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// cmdUI starts the server if needed and opens the web UI. It never writes
// the config.
func (c *cli) cmdUI(ctx context.Context, args []string) error {
	var cm common
	fs := c.flagSet("ui", &cm)
	if _, err := c.parse(fs, &cm, args); err != nil {
		return err
	}
	res, err := c.ensureRunning(ctx, cm)
	if err != nil {
		return err
	}
	url := "http://" + dialAddr(res.rec.Addr) + "/ui/"
	fmt.Fprintln(c.stdout, "ccr UI: "+url)
	if err := c.openURL(url); err != nil {
		fmt.Fprintf(c.stderr, "could not open a browser (%v); open the address above yourself\n", err)
	}
	return nil
}

// openBrowser opens url with the system's opener.
func (c *cli) openBrowser(url string) error {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, append(args, url)...)
	cmd.Env = c.env
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

// scenarios are the Router keys "ccr model set" accepts.
var scenarios = []string{"default", "background", "think", "longContext", "webSearch", "image"}

func (c *cli) cmdModel(ctx context.Context, args []string) error {
	var cm common
	fs := c.flagSet("model", &cm)
	pos, err := c.parse(fs, &cm, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0 || (len(pos) == 1 && pos[0] == "list"):
		return c.modelList(cm)
	case pos[0] == "set" && len(pos) == 3:
		return c.modelSet(ctx, cm, pos[1], pos[2])
	}
	fmt.Fprintln(c.stderr, "usage: ccr model [list]\n       ccr model set SCENARIO PROVIDER,MODEL   (SCENARIO: "+strings.Join(scenarios, ", ")+")")
	return &exitError{code: 2}
}

func (c *cli) modelList(cm common) error {
	if _, err := os.Stat(cm.config); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no config file at %s; create one with \"ccr ui\"", cm.config)
	}
	cfg, _, err := ccr.LoadConfig(cm.config, c.getenv)
	if err != nil {
		return err
	}
	w := c.stdout
	fmt.Fprintf(w, "Config: %s\n\nModels (provider,model):\n", cm.config)
	n := 0
	for _, p := range cfg.Providers {
		for _, m := range p.Models {
			fmt.Fprintf(w, "  %s,%s\n", p.Name, m)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	r := cfg.Router
	fmt.Fprintln(w, "\nRoutes:")
	for _, s := range scenarios {
		v := map[string]string{"default": r.Default, "background": r.Background, "think": r.Think,
			"longContext": r.LongContext, "webSearch": r.WebSearch, "image": r.Image}[s]
		if v == "" {
			v = "-"
		}
		if s == "longContext" {
			th := r.LongContextThreshold
			if th == 0 {
				th = 60000
			}
			v += fmt.Sprintf("   (above %d tokens)", th)
		}
		fmt.Fprintf(w, "  %-12s %s\n", s, v)
	}
	return nil
}

// modelSet sets Router.<scenario> to target in the config file, after
// checking (with ParseConfig and Validate, as POST /api/config does) that
// the change introduces no config problem, and saves it with
// ccr.WriteConfigFile, the management API's save. A running server started
// with that file reloads it.
func (c *cli) modelSet(ctx context.Context, cm common, scenario, target string) error {
	canon := ""
	for _, s := range scenarios {
		if strings.EqualFold(s, scenario) {
			canon = s
		}
	}
	if canon == "" {
		return &exitError{code: 2, err: fmt.Errorf("unknown scenario %q (want one of %s)", scenario, strings.Join(scenarios, ", "))}
	}
	provName, model, ok := strings.Cut(target, ",")
	provName, model = strings.TrimSpace(provName), strings.TrimSpace(model)
	if !ok || provName == "" || model == "" {
		return &exitError{code: 2, err: fmt.Errorf("expected PROVIDER,MODEL, got %q", target)}
	}
	path := cm.config
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // write through a symlinked config
	}
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no config file at %s; create one with \"ccr ui\"", cm.config)
	} else if err != nil {
		return err
	}
	if _, err := json5.ToJSON(old); err != nil {
		return fmt.Errorf("cannot parse %s: %w", cm.config, err)
	}
	cfg, _, _ := ccr.ParseConfig(bytes.NewReader(old), c.getenv)
	var prov *ccr.ProviderConfig
	for i := range cfg.Providers {
		if cfg.Providers[i].Name == provName {
			prov = &cfg.Providers[i]
			break
		}
		if prov == nil && strings.EqualFold(cfg.Providers[i].Name, provName) {
			prov = &cfg.Providers[i]
		}
	}
	if prov == nil {
		var names []string
		for _, p := range cfg.Providers {
			names = append(names, p.Name)
		}
		return fmt.Errorf("no provider named %q in %s (providers: %s)", provName, cm.config, strings.Join(names, ", "))
	}
	value := prov.Name + "," + model
	doc, converted, err := setRoute(old, canon, value)
	if err != nil {
		return fmt.Errorf("cannot edit %s: %w", cm.config, err)
	}
	before, after := configProblems(old, c.getenv), configProblems(doc, c.getenv)
	if added := newProblems(before, after); len(added) > 0 {
		return &ccr.ConfigError{Problems: added}
	}
	if !slices.Contains(prov.Models, model) {
		fmt.Fprintf(c.stderr, "warning: %q is not in provider %s's models list\n", model, prov.Name)
	}
	if converted {
		fmt.Fprintln(c.stderr, "note: the file was JSON5; it is saved as JSON (comments are kept only in the backup)")
	}
	// The management API's save: backup, atomic write, permissions kept.
	if err := ccr.WriteConfigFile(path, doc); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Router.%s = %s (saved %s", canon, value, cm.config)
	if baks, _ := filepath.Glob(path + ".*.bak"); len(baks) > 0 {
		slices.Sort(baks)
		fmt.Fprintf(c.stdout, "; previous version in %s", filepath.Base(baks[len(baks)-1]))
	}
	fmt.Fprintln(c.stdout, ")")
	if len(before) > 0 {
		fmt.Fprintf(c.stderr, "note: the config already had problems, unchanged by this edit:\n%s\n", (&ccr.ConfigError{Problems: before}).Error())
	}
	if cm.pidFile == "" {
		return nil
	}
	res := c.probe(ctx, cm.pidFile)
	if res.state != stateRunning {
		return nil
	}
	if samePath(res.rec.Config, cm.config) && runtime.GOOS != "windows" {
		if err := c.signal(res.rec.PID, syscall.SIGHUP); err == nil {
			fmt.Fprintf(c.stdout, "the running ccr (pid %d) is reloading its config\n", res.rec.PID)
			return nil
		}
	}
	fmt.Fprintln(c.stdout, "run \"ccr restart\" to apply it to the running server")
	return nil
}

func samePath(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

// setRoute returns the config document src with Router.<scenario> set to
// value. A strict JSON document is edited in place, byte for byte outside
// the change; JSON5 is converted to indented JSON first (converted is then
// true). $VAR references are kept as written.
func setRoute(src []byte, scenario, value string) (doc []byte, converted bool, err error) {
	doc = src
	if !json.Valid(src) {
		js, err := json5.ToJSON(src)
		if err != nil {
			return nil, false, err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, js, "", "  "); err != nil {
			return nil, false, err
		}
		buf.WriteByte('\n')
		doc, converted = buf.Bytes(), true
	}
	members, err := jsonraw.Members(doc)
	if err != nil {
		return nil, false, err
	}
	var router []byte
	start := 0
	for _, m := range members {
		if m.Key == "Router" {
			router, start = doc[m.Start:m.End], m.Start
		}
	}
	if router == nil || bytes.Equal(bytes.TrimSpace(router), []byte("null")) {
		router = []byte("{}")
	}
	var v bytes.Buffer
	enc := json.NewEncoder(&v)
	enc.SetEscapeHTML(false)
	enc.Encode(value)
	edited, err := jsonraw.Set(router, scenario, bytes.TrimSpace(v.Bytes()))
	if err != nil {
		return nil, false, fmt.Errorf("Router: %w", err)
	}
	if bytes.IndexByte(router, '\n') >= 0 {
		// A multi-line Router: lay it out again, so that an added member
		// gets a line of its own at the indentation of the others.
		prefix, indent := layout(doc, start, router)
		var buf bytes.Buffer
		if json.Indent(&buf, edited, prefix, indent) == nil {
			edited = buf.Bytes()
		}
	}
	doc, err = jsonraw.Set(doc, "Router", edited)
	return doc, converted, err
}

// layout returns the indentation of the line on which value starts (at
// doc[start:]) and the extra indentation of its first member ("  " if it
// has none).
func layout(doc []byte, start int, value []byte) (prefix, indent string) {
	ls := bytes.LastIndexByte(doc[:start], '\n') + 1
	line := doc[ls:start]
	prefix = string(line[:len(line)-len(bytes.TrimLeft(line, " \t"))])
	indent = "  "
	if nl := bytes.IndexByte(value, '\n'); nl >= 0 {
		rest := value[nl+1:]
		ws := string(rest[:len(rest)-len(bytes.TrimLeft(rest, " \t"))])
		if strings.HasPrefix(ws, prefix) && len(ws) > len(prefix) {
			indent = ws[len(prefix):]
		}
	}
	return prefix, indent
}

// configProblems returns the problems of a config document, as the server
// would report them at start-up.
func configProblems(doc []byte, getenv func(string) string) []ccr.Problem {
	cfg, _, err := ccr.ParseConfig(bytes.NewReader(doc), getenv)
	if err == nil {
		err = ccr.Validate(cfg)
	}
	if err == nil {
		return nil
	}
	var ce *ccr.ConfigError
	if errors.As(err, &ce) {
		return ce.Problems
	}
	return []ccr.Problem{{Message: err.Error()}}
}

// newProblems returns the problems in after that are not in before. A
// problem the file already had (such as a $VAR unset in this shell but set
// for the server) does not stop an unrelated edit.
func newProblems(before, after []ccr.Problem) []ccr.Problem {
	var out []ccr.Problem
	for _, p := range after {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}
