package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrgo/ccr"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var screenshotDir = flag.String("screenshots", "", "write the page screenshots here (default: a directory under the test's temp dir)")

const upstreamKey = "sk-fake-upstream"

// chromiumPath returns the browser to drive. Without one the test is
// skipped, except under CI=true, where a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (install Debian's chromium package)")
	}
	t.Skip("chromium not found; set CHROMIUM or install Debian's chromium package")
	return ""
}

// serverBinary builds the ccr server from the parent module, or returns
// $CCR_E2E_SERVER when set.
func serverBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CCR_E2E_SERVER"); p != "" {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found to build the server: %v", err)
	}
	out := filepath.Join(t.TempDir(), "ccr")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-C", "..", "-o", out, "./server")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../server: %v\n%s", err, b)
	}
	return out
}

// upstreamCall is one request the fake OpenAI upstream received.
type upstreamCall struct {
	Model         string
	MaxTokens     int
	Authorization string
}

// fakeUpstream is an OpenAI Chat Completions endpoint on loopback.
type fakeUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	calls []upstreamCall
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model     string `json:"model"`
			MaxTokens int    `json:"max_tokens"`
			Stream    bool   `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, upstreamCall{Model: body.Model, MaxTokens: body.MaxTokens, Authorization: r.Header.Get("Authorization")})
		f.mu.Unlock()
		if body.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hello from fake\"},\"finish_reason\":null}]}\n\n", body.Model)
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\ndata: [DONE]\n\n", body.Model)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hello from fake"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`, body.Model)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeUpstream) last() (upstreamCall, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return upstreamCall{}, 0
	}
	return f.calls[len(f.calls)-1], len(f.calls)
}

// startServer runs the server binary on a free loopback port and waits
// until /health answers. It returns the base URL.
func startServer(t *testing.T, bin, cfgPath, home string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, "-config", cfgPath, "-host", "127.0.0.1", "-port", strconv.Itoa(port))
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "FAKE_UPSTREAM_KEY=" + upstreamKey}
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-done:
			t.Fatalf("server exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy after 15s: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireEndpoints checks that the server serves the UI and the management
// API. Without them the test is skipped, or fails under CI=true.
func requireEndpoints(t *testing.T, base string) {
	t.Helper()
	for _, path := range []string{"/ui/", "/api/status"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			continue
		}
		msg := fmt.Sprintf("the server answers 404 for %s: server/main.go must mount uiHandler at /ui/ and /ui, and the management API at /api/", path)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// sendMessage posts a small Anthropic Messages request and returns the
// status and body.
func sendMessage(t *testing.T, base, key string, thinking bool) (int, string) {
	t.Helper()
	body := map[string]any{
		"model":      "claude-sonnet-4-5",
		"max_tokens": 2048,
		"messages":   []any{map[string]any{"role": "user", "content": "hi"}},
	}
	if thinking {
		body["thinking"] = map[string]any{"type": "enabled", "budget_tokens": 1024}
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/messages", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/messages: %v", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(rb)
}

// browserLog collects what the page reports: console errors, exceptions,
// browser log errors and the URL of every request.
type browserLog struct {
	mu       sync.Mutex
	allow    string // a failed-load status expected in the current step, such as "401"
	problems []string
	urls     []string
}

func (l *browserLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			l.problems = append(l.problems, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		l.problems = append(l.problems, fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1))
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.EntryLevelError {
			return
		}
		// Chromium logs an API error answer as a failed resource load.
		// Some steps expect one (a 401 before signing in, a 400 for a
		// rejected config); elsewhere it is a failure.
		if l.allow != "" && strings.Contains(e.Text, "status of "+l.allow+" ") {
			return
		}
		l.problems = append(l.problems, fmt.Sprintf("log %s: %s (%s)", e.Source, e.Text, e.URL))
	case *network.EventRequestWillBeSent:
		l.urls = append(l.urls, ev.Request.URL)
	}
}

func (l *browserLog) expectStatus(status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.allow = status
}

// ui drives one tab against the server.
type ui struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots
	n    int
}

// do runs the actions with a timeout, failing the test on error.
func (u *ui) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		u.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](u *ui, expr string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is truthy.
func (u *ui) waitFor(what, expr string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		u.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		u.t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// choose selects a value in a <select> and fires its change event.
func (u *ui) choose(sel, value string) {
	u.t.Helper()
	ok := eval[bool](u, fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (!s || ![...s.options].some(o => o.value === %q)) return false; s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, sel, value, value))
	if !ok {
		options := eval[[]string](u, fmt.Sprintf(`[...(document.querySelector(%q)?.options || [])].map(o => o.value)`, sel))
		u.t.Fatalf("select %s has no option %q (options %q)", sel, value, options)
	}
}

// nav clicks a header link and waits for the page's marker element.
func (u *ui) nav(page, marker string) {
	u.t.Helper()
	u.do("open "+page, chromedp.Click(chromedp.CSS(`#nav a[href="#/`+page+`"]`), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(marker)))
}

// shot saves a screenshot of the whole page. The viewport is stretched to
// the page height for the capture, so the sticky header stays on top.
func (u *ui) shot(name string) {
	u.t.Helper()
	u.n++
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	defer cancel()
	w := eval[int64](u, `window.innerWidth`)
	h := eval[int64](u, `window.innerHeight`)
	full := eval[int64](u, `Math.min(4000, Math.ceil(document.documentElement.scrollHeight))`)
	buf, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		if _, err := chromedp.EmulateViewport(w, max(h, full))(ctx, t); err != nil {
			return nil, err
		}
		time.Sleep(150 * time.Millisecond) // one layout and paint at the new size
		b, err := chromedp.CaptureScreenshot()(ctx, t)
		if _, rerr := chromedp.EmulateViewport(w, h)(ctx, t); err == nil {
			err = rerr
		}
		return b, err
	})
	if err != nil {
		u.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(u.dir, fmt.Sprintf("%02d-%s.png", u.n, name)), buf, 0o644); err != nil {
		u.t.Error(err)
	}
}

// readConfig decodes the config file the server wrote.
func readConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("config file: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config file is not JSON: %v\n%s", err, b)
	}
	return cfg
}

// TestBrowserUI drives the web UI in headless Chromium against the real
// server binary: first-run setup, a request reaching the upstream, editing a
// route, the other pages, and signing in. The page must log no errors and
// load nothing from beyond loopback.
func TestBrowserUI(t *testing.T) {
	chromium := chromiumPath(t)
	bin := serverBinary(t)
	up := newFakeUpstream(t)
	home := t.TempDir()
	cfgPath := filepath.Join(home, "config.json") // absent: the server starts in setup mode
	base := startServer(t, bin, cfgPath, home)
	requireEndpoints(t, base)

	shots := *screenshotDir
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	var blog browserLog
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(blog.listen))
	defer cancelTab()
	if err := chromedp.Do(ctx); err != nil { // start the browser, with no timeout
		t.Fatalf("start chromium: %v", err)
	}
	u := &ui{t: t, ctx: ctx, base: base, dir: shots}

	// 1. First run: /ui redirects to /ui/, which shows the setup.
	u.do("open /ui", chromedp.Navigate(base+"/ui"), chromedp.WaitVisible(chromedp.CSS("#p-name")))
	if got := eval[string](u, `location.pathname + location.hash`); got != "/ui/#/setup" {
		t.Errorf("first page = %s, want /ui/#/setup", got)
	}
	u.do("press Tab", chromedp.KeyEvent("\t"))
	if cls := eval[string](u, `document.activeElement.className`); cls != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", cls)
	}
	u.shot("setup")

	// 2. Add a provider pointing at the fake upstream.
	u.do("fill in the provider",
		chromedp.SendKeys(chromedp.CSS("#p-name"), "fake"),
		chromedp.SendKeys(chromedp.CSS("#p-url"), up.URL+"/v1/chat/completions"),
		chromedp.SendKeys(chromedp.CSS("#p-key"), "$FAKE_UPSTREAM_KEY"),
		chromedp.SendKeys(chromedp.CSS("#p-model-new"), "fake-model, fake-big"),
		chromedp.Click(chromedp.CSS("#p-model-add")))
	u.waitFor("two model chips", `document.querySelectorAll(".provider-editor .chips .chip").length === 2`)

	// The transformer chain comes from /api/transformers; maxtoken, when the
	// server has it, also proves that options reach the config and the upstream.
	withMaxtoken := eval[bool](u, `[...document.querySelectorAll("datalist option")].some(o => o.value === "maxtoken")`)
	if withMaxtoken {
		u.do("add maxtoken",
			chromedp.SendKeys(chromedp.CSS("#chain-add-provider"), "maxtoken"),
			chromedp.Click(chromedp.CSS("#chain-add-btn-provider")),
			chromedp.WaitVisible(chromedp.CSS(".chain-entry .opts input[type=number]")),
			chromedp.SendKeys(chromedp.CSS(".chain-entry .opts input[type=number]"), "777"))
	} else {
		t.Log("the server has no maxtoken transformer; the chain-option checks are skipped")
	}

	// 3. The default route and the API key.
	if got := eval[string](u, `document.querySelector("#setup-default").value`); got != "fake-model" {
		t.Errorf("default model preselected = %q, want fake-model", got)
	}
	key := eval[string](u, `document.querySelector("#setup-key").textContent`)
	if !strings.HasPrefix(key, "ccr-") || len(key) < 30 {
		t.Fatalf("generated key %q", key)
	}
	u.shot("setup-filled")

	// 4. Save & apply, then the status page.
	u.do("save and apply", chromedp.Click(chromedp.CSS("#setup-apply")), chromedp.WaitVisible(chromedp.CSS("#status-version")))
	if h := eval[string](u, `location.hash`); !strings.HasPrefix(h, "#/status") {
		t.Errorf("after setup: hash %s, want #/status", h)
	}
	if got := eval[string](u, `localStorage.getItem("ccr.apiKey")`); got != key {
		t.Errorf("stored key = %q, want the generated key", got)
	}
	u.waitFor("the auth mode", `document.querySelector("#status-auth")?.textContent === "API key"`)
	u.shot("status-after-setup")

	// 5. The config file on disk.
	cfg := readConfig(t, cfgPath)
	provs, _ := cfg["Providers"].([]any)
	if len(provs) != 1 {
		t.Fatalf("config Providers = %v, want one provider", cfg["Providers"])
	}
	p, _ := provs[0].(map[string]any)
	wantProvider := map[string]any{"name": "fake", "api_base_url": up.URL + "/v1/chat/completions", "api_key": "$FAKE_UPSTREAM_KEY"}
	for k, want := range wantProvider {
		if p[k] != want {
			t.Errorf("config Providers[0].%s = %v, want %v", k, p[k], want)
		}
	}
	if got, _ := json.Marshal(p["models"]); string(got) != `["fake-model","fake-big"]` {
		t.Errorf("config Providers[0].models = %s", got)
	}
	if withMaxtoken {
		if got, _ := json.Marshal(p["transformer"]); string(got) != `{"use":[["maxtoken",{"max_tokens":777}]]}` {
			t.Errorf("config Providers[0].transformer = %s", got)
		}
	}
	if r, _ := cfg["Router"].(map[string]any); r["default"] != "fake,fake-model" {
		t.Errorf("config Router = %v, want default fake,fake-model", cfg["Router"])
	}
	if cfg["APIKEY"] != key {
		t.Errorf("config APIKEY = %v, want the generated key", cfg["APIKEY"])
	}
	getenv := func(k string) string {
		if k == "FAKE_UPSTREAM_KEY" {
			return upstreamKey
		}
		return ""
	}
	if _, _, err := ccr.LoadConfig(cfgPath, getenv); err != nil {
		t.Errorf("the written config does not load: %v", err)
	}

	// 6. A request now reaches the fake upstream, with the key from the
	// environment and the routed model.
	if code, body := sendMessage(t, base, "wrong-key", false); code != http.StatusUnauthorized {
		t.Errorf("POST /v1/messages with a wrong key: %d %s, want 401", code, body)
	}
	code, body := sendMessage(t, base, key, false)
	if code != http.StatusOK || !strings.Contains(body, "hello from fake") {
		t.Fatalf("POST /v1/messages: %d %s", code, body)
	}
	call, n := up.last()
	if n == 0 || call.Model != "fake-model" || call.Authorization != "Bearer "+upstreamKey {
		t.Errorf("upstream saw %+v (%d calls), want model fake-model with the key from the environment", call, n)
	}
	if withMaxtoken && call.MaxTokens != 777 {
		t.Errorf("upstream max_tokens = %d, want 777 from the maxtoken option", call.MaxTokens)
	}

	// 7. Providers list and editor.
	u.nav("providers", "article.provider")
	u.shot("providers")
	u.do("edit the provider", chromedp.Click(chromedp.CSS(`a[href="#/providers/edit/0"]`)), chromedp.WaitVisible(chromedp.CSS("#p-name")))
	u.shot("provider-editor")

	// The in-app unsaved-changes warning: leaving an edited provider asks first.
	u.do("edit the name", chromedp.SendKeys(chromedp.CSS("#p-name"), "-x"))
	u.do("leave the editor", chromedp.Click(chromedp.CSS(`#nav a[href="#/router"]`)), chromedp.WaitVisible(chromedp.CSS("dialog[open]")))
	u.shot("unsaved-warning")
	u.do("stay", chromedp.Click(chromedp.CSS(`dialog[open] button[value="cancel"]`)), chromedp.WaitNotPresent(chromedp.CSS("dialog")))
	if h := eval[string](u, `location.hash`); h != "#/providers/edit/0" {
		t.Errorf("after Stay: hash %s, want #/providers/edit/0", h)
	}
	u.do("cancel and leave", chromedp.Click(chromedp.CSS("#p-cancel")), chromedp.WaitVisible(chromedp.CSS("dialog[open]")),
		chromedp.Click(chromedp.CSS(`dialog[open] button[value="ok"]`)), chromedp.WaitVisible(chromedp.CSS("article.provider")))

	// 8. Edit a route and apply it.
	u.nav("router", "#route-think")
	u.choose("#route-think", "fake,fake-big")
	u.waitFor("the save bar", `!document.querySelector("#savebar").hidden`)
	if !eval[bool](u, `(() => { const e = new Event("beforeunload", {cancelable: true}); dispatchEvent(e); return e.defaultPrevented })()`) {
		t.Error("with unsaved changes, beforeunload is not cancelled")
	}
	u.shot("router-unsaved")
	u.do("save and apply the route", chromedp.Click(chromedp.CSS("#save-apply")))
	u.waitFor("the save bar to go", `document.querySelector("#savebar").hidden`)
	u.shot("router-saved")
	if r, _ := readConfig(t, cfgPath)["Router"].(map[string]any); r["think"] != "fake,fake-big" || r["default"] != "fake,fake-model" {
		t.Errorf("config Router after the edit = %v", r)
	}
	if code, body := sendMessage(t, base, key, true); code != http.StatusOK {
		t.Errorf("POST /v1/messages with thinking: %d %s", code, body)
	}
	if call, _ := up.last(); call.Model != "fake-big" {
		t.Errorf("a thinking request went to %q, want fake-big (the applied think route)", call.Model)
	}

	// 9. Logs, requests, raw JSON, settings.
	u.nav("logs", "#log-lines")
	u.waitFor("log lines", `document.querySelectorAll("#log-lines .logline").length > 0`)
	u.shot("logs")
	u.choose("#log-level", "WARN")
	if bad := eval[int](u, `[...document.querySelectorAll("#log-lines .lvl")].filter(e => !["WARN", "ERROR"].includes(e.textContent)).length`); bad != 0 {
		t.Errorf("level filter warn: %d lines below warn still shown", bad)
	}
	u.choose("#log-level", "")

	u.nav("requests", "#req-table")
	u.waitFor("the request rows", `[...document.querySelectorAll("#req-table tbody td")].some(td => td.textContent.includes("fake-big"))`)
	u.shot("requests")

	u.nav("json", "#json-text")
	if txt := eval[string](u, `document.querySelector("#json-text").value`); !strings.Contains(txt, `"think": "fake,fake-big"`) {
		t.Errorf("raw JSON editor lacks the think route:\n%s", txt)
	}
	u.shot("raw-json")

	// A config the server rejects: its problems are marked on the line and
	// listed in the save bar, linked to the path.
	blog.expectStatus("400")
	u.do("break the port", chromedp.Evaluate[chromedp.Void](`(() => { const t = document.querySelector("#json-text"); t.value = t.value.replace("{", '{\n  "PORT": 70000,'); t.dispatchEvent(new Event("input", {bubbles: true})) })()`))
	u.do("save the broken config", chromedp.Click(chromedp.CSS("#save")))
	u.waitFor("a marked line", `document.querySelector(".editor .gutter .bad")?.textContent.trim() === "✕ 2"`)
	if got := eval[string](u, `[...document.querySelectorAll("#savebar .problems a.path")].map(a => a.textContent).join(",")`); got != "PORT" {
		t.Errorf("problems listed in the save bar: %q, want PORT", got)
	}
	u.shot("raw-json-problems")
	u.do("discard", chromedp.Click(chromedp.CSS("#discard")), chromedp.WaitVisible(chromedp.CSS("dialog[open]")),
		chromedp.Click(chromedp.CSS(`dialog[open] button[value="ok"]`)))
	u.waitFor("the save bar to go", `document.querySelector("#savebar").hidden`)
	blog.expectStatus("")
	if _, ok := readConfig(t, cfgPath)["PORT"]; ok {
		t.Error("the rejected config reached the file")
	}

	// Save without applying, then apply from the save bar.
	u.nav("settings", "#s-APIKEY")
	u.choose("#s-LOG_LEVEL", "debug")
	u.do("save only", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#apply-now")))
	if lvl := readConfig(t, cfgPath)["LOG_LEVEL"]; lvl != "debug" {
		t.Errorf("config LOG_LEVEL after Save = %v, want debug", lvl)
	}
	u.shot("settings-saved-not-applied")
	u.do("apply now", chromedp.Click(chromedp.CSS("#apply-now")))
	u.waitFor("the save bar to go", `document.querySelector("#savebar").hidden`)

	// 10. Dark theme (the toggle goes system → light → dark) and a phone.
	u.nav("status", "#status-version")
	u.do("dark theme", chromedp.Click(chromedp.CSS("#theme")), chromedp.Click(chromedp.CSS("#theme")))
	if th := eval[string](u, `document.documentElement.dataset.theme`); th != "dark" {
		t.Errorf("theme after two clicks = %q, want dark", th)
	}
	u.shot("status-dark")
	u.do("system theme", chromedp.Click(chromedp.CSS("#theme")))
	u.do("phone size", chromedp.EmulateViewport(390, 844)) // the width drives the layout
	u.nav("router", "#route-think")
	u.shot("phone-router")
	u.nav("providers", "article.provider")
	u.shot("phone-providers")
	u.do("laptop size", chromedp.EmulateViewport(1280, 900))

	// 11. Sign in: without a stored key the API answers 401 and the login
	// appears; the key brings the pages back.
	blog.expectStatus("401")
	u.do("forget the key", chromedp.Evaluate[chromedp.Void](`localStorage.removeItem("ccr.apiKey")`),
		chromedp.Navigate(base+"/ui/#/logs"), chromedp.WaitVisible(chromedp.CSS("#login-key")))
	u.shot("login")
	u.do("sign in", chromedp.SendKeys(chromedp.CSS("#login-key"), key), chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#log-lines")))
	blog.expectStatus("")
	if h := eval[string](u, `location.hash`); h != "#/logs" {
		t.Errorf("after signing in: hash %s, want #/logs", h)
	}

	// 12. What the browser did.
	blog.mu.Lock()
	defer blog.mu.Unlock()
	for _, p := range blog.problems {
		t.Errorf("browser: %s", p)
	}
	if len(blog.urls) == 0 {
		t.Error("no network request was observed")
	}
	for _, raw := range blog.urls {
		if err := loopbackOnly(raw); err != nil {
			t.Errorf("request to %s: %v", raw, err)
		}
	}
}

// loopbackOnly accepts http URLs on 127.0.0.1 or localhost and data: URLs.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "data", "about":
		return nil
	case "http", "https", "ws", "wss":
		if h := u.Hostname(); h == "127.0.0.1" || h == "localhost" || h == "::1" {
			return nil
		}
		return errors.New("not a loopback host")
	}
	return fmt.Errorf("unexpected scheme %q", u.Scheme)
}
