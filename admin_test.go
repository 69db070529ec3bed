package ccr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	adminUpKey  = "sk-live-upstream-secret-0123456789"
	adminAPIKey = "ccr-client-secret-9876543210"
)

// adminConfig is a user's JSON5 file: comments, trailing commas, unquoted
// keys and a $VAR reference for the provider key.
const adminConfig = `{
  // written by hand
  LOG: false,
  "Providers": [
    {
      "name": "up",
      "api_base_url": "http://127.0.0.1:9/v1/messages",
      "api_key": "$UP_KEY",
      "models": ["m1", "m2"],
      "transformer": { "use": ["Anthropic"] },
    },
  ],
  "Router": { "default": "up,m1" },
}
`

// adminEnv is a Router and its management API over a temporary config
// directory.
type adminEnv struct {
	t      *testing.T
	dir    string
	path   string
	logDir string
	env    map[string]string
	rt     *Router
	admin  *Admin
	h      http.Handler
}

func newAdminEnv(t *testing.T, file string, env map[string]string) *adminEnv {
	t.Helper()
	dir := t.TempDir()
	e := &adminEnv{t: t, dir: dir, path: filepath.Join(dir, "config.json"), logDir: filepath.Join(dir, "logs"), env: env}
	if file != "" {
		if err := os.WriteFile(e.path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(e.logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	prepare := func(c *Config) { c.Env = getenv; c.Logger = testLogger(t) }
	cfg, _, err := LoadConfig(e.path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	prepare(&cfg)
	if e.rt, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.admin = NewAdmin(AdminOptions{Router: e.rt, ConfigPath: e.path, LogDir: e.logDir, Getenv: getenv,
		Prepare: prepare, Logger: testLogger(t), Listen: "127.0.0.1:3456", Version: "test"})
	mux := http.NewServeMux()
	mux.Handle("/", e.rt)
	mux.Handle("/api/", e.admin)
	e.h = mux
	return e
}

// do sends a request addressed to 127.0.0.1:3456 unless hdr sets Host.
func (e *adminEnv) do(method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = "127.0.0.1:3456"
	for k, v := range hdr {
		if k == "Host" {
			r.Host = v
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *adminEnv) readFile() []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *adminEnv) backups() []string {
	e.t.Helper()
	bs, err := configBackups(e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	return bs
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
}

// wantError checks an Anthropic error body of the given type.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, typ string) {
	t.Helper()
	wantStatus(t, w, status)
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Type != "error" || e.Error.Type != typ || e.Error.Message == "" {
		t.Fatalf("body = %s, want an Anthropic %s error", w.Body, typ)
	}
}

func TestAdminGetConfig(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	w := e.do("GET", "/api/config", "", nil)
	wantStatus(t, w, 200)
	var got struct {
		LOG       bool
		Providers []struct {
			Name   string `json:"name"`
			APIKey string `json:"api_key"`
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("GET /api/config is not JSON: %v: %s", err, w.Body)
	}
	if len(got.Providers) != 1 || got.Providers[0].APIKey != "$UP_KEY" || got.LOG {
		t.Errorf("GET /api/config = %s, want the file as written with $UP_KEY", w.Body)
	}
	if strings.Contains(w.Body.String(), adminUpKey) {
		t.Error("GET /api/config shows the resolved key")
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func TestAdminGetConfigMissingFile(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, "", nil)
	w := e.do("GET", "/api/config", "", nil)
	wantStatus(t, w, 200)
	if got := compactJSON(t, w.Body.Bytes()); got != `{"Providers":[],"Router":{}}` {
		t.Errorf("GET /api/config = %s, want the empty default", got)
	}
	if _, err := os.Stat(e.path); !os.IsNotExist(err) {
		t.Errorf("GET /api/config wrote the file: stat err = %v", err)
	}
}

func TestAdminGetConfigSyntaxError(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	os.WriteFile(e.path, []byte(`{"Providers": [`), 0o600)
	w := e.do("GET", "/api/config", "", nil)
	wantError(t, w, 500, "api_error")
	if !strings.Contains(w.Body.String(), "syntax error") {
		t.Errorf("body = %s, want the syntax error", w.Body)
	}
}

// TestAdminConfigRoundTrip saves what GET returned: the $VAR reference is
// written back as a reference, no response ever shows the secret, the
// old file is backed up and the permissions are kept.
func TestAdminConfigRoundTrip(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	if err := os.Chmod(e.path, 0o640); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	get := e.do("GET", "/api/config", "", nil)
	wantStatus(t, get, 200)
	bodies = append(bodies, get.Body.String())

	post := e.do("POST", "/api/config", get.Body.String(), map[string]string{"Content-Type": "application/json"})
	wantStatus(t, post, 200)
	bodies = append(bodies, post.Body.String())
	var res struct {
		Success  bool
		Message  string
		Warnings []Problem
	}
	if err := json.Unmarshal(post.Body.Bytes(), &res); err != nil || !res.Success || res.Message != "Config saved successfully" || res.Warnings == nil {
		t.Fatalf("POST /api/config = %s", post.Body)
	}

	file := e.readFile()
	if !bytes.Contains(file, []byte(`"api_key": "$UP_KEY"`)) || bytes.Contains(file, []byte(adminUpKey)) {
		t.Errorf("saved file = %s, want the $UP_KEY reference and not the key", file)
	}
	if !bytes.HasPrefix(file, []byte("{\n  \"LOG\": false,\n  \"Providers\": [\n")) || !bytes.HasSuffix(file, []byte("}\n")) {
		t.Errorf("saved file is not pretty-printed in the original key order:\n%s", file)
	}
	if fi, err := os.Stat(e.path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after save = %v (%v), want 0640 kept", fi.Mode().Perm(), err)
	}
	bs := e.backups()
	if len(bs) != 1 {
		t.Fatalf("backups = %v, want 1", bs)
	}
	if b, _ := os.ReadFile(bs[0]); string(b) != adminConfig {
		t.Errorf("backup = %q, want the original file", b)
	}
	if name := filepath.Base(bs[0]); !strings.HasPrefix(name, "config.json.") || len(name) != len("config.json.2026-11-25T01-02-03.000Z.bak") {
		t.Errorf("backup name %q, want config.json.<timestamp>.bak", name)
	}

	again := e.do("GET", "/api/config", "", nil)
	bodies = append(bodies, again.Body.String())
	if compactJSON(t, again.Body.Bytes()) != compactJSON(t, get.Body.Bytes()) {
		t.Errorf("GET after save = %s, want %s", again.Body, get.Body)
	}
	// The file is not applied by a plain save.
	if got := e.rt.Config().Router.Default; got != "up,m1" {
		t.Errorf("live default = %q after a save without apply", got)
	}
	rs := e.do("POST", "/api/restart", "", nil)
	wantStatus(t, rs, 200)
	bodies = append(bodies, rs.Body.String(), e.do("GET", "/api/status", "", nil).Body.String())
	for i, b := range bodies {
		if strings.Contains(b, adminUpKey) {
			t.Errorf("response %d shows the resolved key: %s", i, b)
		}
	}
}

func TestAdminPostConfigNewFile(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, "", nil)
	e.path = filepath.Join(e.dir, "sub", "dir", "config.json")
	e.admin.opts.ConfigPath = e.path
	w := e.do("POST", "/api/config", `{"Providers":[],"Router":{},"PORT":3456}`, nil)
	wantStatus(t, w, 200)
	fi, err := os.Stat(e.path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if di, err := os.Stat(filepath.Dir(e.path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("new directory mode = %v (%v), want 0700", di.Mode().Perm(), err)
	}
	if len(e.backups()) != 0 {
		t.Errorf("backups of a file that did not exist: %v", e.backups())
	}
}

// TestAdminPostConfigInvalid: every problem is reported, and the file is
// left byte for byte as it was, with no backup taken.
func TestAdminPostConfigInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantPaths []string
	}{
		{"syntax", `{"Providers": [`, []string{""}},
		{"not an object", `[1,2]`, []string{""}},
		{"wrong types", `{"Providers": "x", "PORT": "abc", "LOG": 3}`, []string{"LOG", "PORT", "Providers"}},
		{"unknown provider and transformer", `{"Providers":[{"name":"a","api_base_url":"http://127.0.0.1:9/v1","transformer":{"use":["nope"]}}],"Router":{"default":"b,m","think":"a"}}`,
			[]string{"Providers[0].transformer.use[0]", "Router.default", "Router.think"}},
		{"missing fields", `{"Providers":[{"api_key":"$UP_KEY"}]}`, []string{"Providers[0].api_base_url", "Providers[0].name"}},
		{"APIKEY from an unset variable", `{"APIKEY":"$NOT_SET","Providers":[]}`, []string{"APIKEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
			before, _ := os.Stat(e.path)
			w := e.do("POST", "/api/config?apply=true", tt.body, nil)
			wantError(t, w, 400, "invalid_request_error")
			var res struct {
				Problems []Problem `json:"problems"`
				Warnings []Problem `json:"warnings"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Warnings == nil {
				t.Fatalf("body = %s", w.Body)
			}
			var paths []string
			for _, p := range res.Problems {
				paths = append(paths, p.Path)
			}
			sort.Strings(paths)
			if !slices.Equal(paths, tt.wantPaths) {
				t.Errorf("problem paths = %q, want %q (body %s)", paths, tt.wantPaths, w.Body)
			}
			if got := e.readFile(); string(got) != adminConfig {
				t.Errorf("file changed to %q", got)
			}
			after, _ := os.Stat(e.path)
			if !after.ModTime().Equal(before.ModTime()) {
				t.Error("file was rewritten")
			}
			if bs := e.backups(); len(bs) != 0 {
				t.Errorf("backups = %v, want none", bs)
			}
			if strings.Contains(w.Body.String(), adminUpKey) {
				t.Error("response shows the key")
			}
			entries, _ := os.ReadDir(e.dir)
			if len(entries) != 2 { // config.json and logs/
				t.Errorf("directory holds %d entries, want 2 (no temporary file left)", len(entries))
			}
		})
	}
}

func TestAdminBackupsCapped(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	// A fixed clock: every backup has the same time, and must still get
	// its own name, in order.
	at := time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC)
	e.admin.now = func() time.Time { return at }
	var saved []string
	for i := range 6 {
		body := fmt.Sprintf(`{"Providers":[],"Router":{},"PORT":%d}`, 4000+i)
		wantStatus(t, e.do("POST", "/api/config", body, nil), 200)
		saved = append(saved, string(e.readFile()))
	}
	bs := e.backups()
	if len(bs) != ConfigBackups {
		t.Fatalf("backups = %v, want %d", bs, ConfigBackups)
	}
	// The newest three backups hold the versions before the last three
	// saves, oldest first.
	for i, b := range bs {
		got, _ := os.ReadFile(b)
		if want := saved[i+2]; string(got) != want {
			t.Errorf("backup %d (%s) = %q, want %q", i, filepath.Base(b), got, want)
		}
	}
	if filepath.Base(bs[0]) != "config.json.2026-11-25T01-02-03.003Z.bak" {
		t.Errorf("oldest kept backup = %s", filepath.Base(bs[0]))
	}
}

func TestAdminRestart(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	changed := strings.Replace(adminConfig, `"default": "up,m1"`, `"default": "up,m2"`, 1)
	os.WriteFile(e.path, []byte(changed), 0o600)
	w := e.do("POST", "/api/restart", "", nil)
	wantStatus(t, w, 200)
	if got := compactJSON(t, w.Body.Bytes()); got != `{"success":true,"message":"Service restarted: configuration reloaded","warnings":[]}` {
		t.Errorf("POST /api/restart = %s", got)
	}
	if got := e.rt.Config().Router.Default; got != "up,m2" {
		t.Errorf("live default = %q, want up,m2", got)
	}

	os.WriteFile(e.path, []byte(`{"Providers":[{"name":"up"}],"Router":{"default":"x,y"}}`), 0o600)
	w = e.do("POST", "/api/restart", "", nil)
	wantError(t, w, 400, "invalid_request_error")
	if !strings.Contains(w.Body.String(), `"path":"Providers[0].api_base_url"`) {
		t.Errorf("body = %s, want the problems", w.Body)
	}
	if got := e.rt.Config().Router.Default; got != "up,m2" {
		t.Errorf("live default = %q after a failed reload, want up,m2 kept", got)
	}
}

func TestAdminApplyCallsApplied(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	var applied []string
	e.admin.opts.Applied = func(c Config) { applied = append(applied, c.LogLevel) }
	body := strings.Replace(adminConfig, "LOG: false,", `LOG: false, LOG_LEVEL: "debug",`, 1)
	w := e.do("POST", "/api/config?apply=true", body, nil)
	wantStatus(t, w, 200)
	if !strings.Contains(w.Body.String(), `"applied":true`) {
		t.Errorf("body = %s, want applied", w.Body)
	}
	if !slices.Equal(applied, []string{"debug"}) {
		t.Errorf("Applied saw %q, want [debug]", applied)
	}
	wantError(t, e.do("POST", "/api/config?apply=maybe", body, nil), 400, "invalid_request_error")
}

func TestAdminTransformers(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	w := e.do("GET", "/api/transformers", "", nil)
	wantStatus(t, w, 200)
	var res struct {
		Transformers []struct {
			Name        string      `json:"name"`
			Description string      `json:"description"`
			Endpoint    *string     `json:"endpoint"`
			Options     []OptionDef `json:"options"`
		} `json:"transformers"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tr := range res.Transformers {
		names = append(names, tr.Name)
		if tr.Options == nil || tr.Description == "" {
			t.Errorf("transformer %s: options %v, description %q", tr.Name, tr.Options, tr.Description)
		}
		if tr.Name == "Anthropic" && (tr.Endpoint == nil || *tr.Endpoint != "/v1/messages" || len(tr.Options) == 0) {
			t.Errorf("Anthropic = %+v", tr)
		}
	}
	if !slices.IsSorted(names) || !slices.Contains(names, "Anthropic") || len(names) != len(DefaultTransformers()) {
		t.Errorf("names = %q, want every built-in, sorted", names)
	}
}

func TestAdminRequestsAndStatus(t *testing.T) {
	t.Parallel()
	up := newFakeAnthropic(t, nil)
	file := strings.Replace(adminConfig, "http://127.0.0.1:9/v1/messages", up.URL+"/v1/messages", 1)
	e := newAdminEnv(t, file, map[string]string{"UP_KEY": adminUpKey})
	wantStatus(t, e.do("POST", "/v1/messages", helloBody, nil), 200)
	wantStatus(t, e.do("POST", "/v1/messages", `{"model":"x"}`, nil), 400)

	w := e.do("GET", "/api/requests", "", nil)
	wantStatus(t, w, 200)
	var reqs struct {
		Requests []RequestRecord `json:"requests"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs.Requests) != 2 || reqs.Requests[0].Status != 400 || reqs.Requests[1].Provider != "up" || reqs.Requests[1].Model != "m1" {
		t.Errorf("requests = %s", w.Body)
	}

	w = e.do("GET", "/api/status", "", nil)
	wantStatus(t, w, 200)
	var st adminStatus
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != "test" || st.Auth != "none" || st.SetupMode || st.Listen != "127.0.0.1:3456" || st.Warning != "" ||
		st.Requests.Total != 2 || st.Requests.Errors != 1 || st.ConfigPath != e.path || st.UptimeSeconds < 0 {
		t.Errorf("status = %s", w.Body)
	}

	// Listening beyond loopback without a key is flagged.
	e.admin.opts.Listen = "0.0.0.0:3456"
	w = e.do("GET", "/api/status", "", nil)
	json.Unmarshal(w.Body.Bytes(), &st)
	if st.Warning == "" {
		t.Errorf("status = %s, want a warning", w.Body)
	}
}

func TestAdminStatusAuthAndSetupMode(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, "", nil)
	var st adminStatus
	json.Unmarshal(e.do("GET", "/api/status", "", nil).Body.Bytes(), &st)
	if !st.SetupMode || st.Auth != "none" {
		t.Errorf("setup mode status = %+v", st)
	}
	keyed := strings.Replace(adminConfig, "LOG: false,", `LOG: false, APIKEY: "`+adminAPIKey+`",`, 1)
	e = newAdminEnv(t, keyed, map[string]string{"UP_KEY": adminUpKey})
	w := e.do("GET", "/api/status", "", map[string]string{"X-Api-Key": adminAPIKey})
	json.Unmarshal(w.Body.Bytes(), &st)
	if st.SetupMode || st.Auth != "api_key" || strings.Contains(w.Body.String(), adminAPIKey) {
		t.Errorf("status = %s", w.Body)
	}
}

// TestAdminRefusals: cross-origin browser requests, foreign Host names
// without an APIKEY, and missing or wrong keys with one.
func TestAdminRefusals(t *testing.T) {
	t.Parallel()
	open := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	keyed := strings.Replace(adminConfig, "LOG: false,", `LOG: false, APIKEY: "`+adminAPIKey+`",`, 1)
	locked := newAdminEnv(t, keyed, map[string]string{"UP_KEY": adminUpKey})
	key := map[string]string{"X-Api-Key": adminAPIKey}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := make(map[string]string)
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name   string
		env    *adminEnv
		method string
		path   string
		hdr    map[string]string
		status int
		typ    string
	}{
		{"cross-origin GET config", open, "GET", "/api/config", map[string]string{"Origin": "http://evil.example"}, 403, "permission_error"},
		{"cross-origin POST restart", open, "POST", "/api/restart", map[string]string{"Origin": "http://evil.example"}, 403, "permission_error"},
		{"cross-site fetch metadata", open, "GET", "/api/logs/files", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "permission_error"},
		{"same-site other port", open, "POST", "/api/config", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:5173"}, 403, "permission_error"},
		{"null origin", open, "GET", "/api/config", map[string]string{"Origin": "null"}, 403, "permission_error"},
		{"cross-origin with the key", locked, "GET", "/api/config", with(key, "Origin", "http://evil.example"), 403, "permission_error"},
		{"foreign Host (DNS rebinding)", open, "GET", "/api/config", map[string]string{"Host": "evil.example:3456"}, 403, "permission_error"},
		{"rebinding with a matching Origin", open, "POST", "/api/restart", map[string]string{"Host": "evil.example:3456", "Origin": "http://evil.example:3456", "Sec-Fetch-Site": "same-origin"}, 403, "permission_error"},
		{"POST without the key", locked, "POST", "/api/config", nil, 401, "authentication_error"},
		{"GET without the key", locked, "GET", "/api/config", nil, 401, "authentication_error"},
		{"wrong key", locked, "POST", "/api/restart", map[string]string{"Authorization": "Bearer nope"}, 401, "authentication_error"},
		{"unknown endpoint", open, "GET", "/api/nothing", nil, 404, "not_found_error"},
		{"unknown endpoint needs the key first", locked, "GET", "/api/nothing", nil, 401, "authentication_error"},
		{"wrong method", open, "PUT", "/api/config", nil, 405, "invalid_request_error"},
		{"update endpoints do not exist", open, "POST", "/api/update/perform", nil, 404, "not_found_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.env.readFile()
			w := tt.env.do(tt.method, tt.path, adminConfig, tt.hdr)
			wantError(t, w, tt.status, tt.typ)
			if got := tt.env.readFile(); !bytes.Equal(got, before) {
				t.Error("the config file changed")
			}
			if tt.status == 405 && w.Header().Get("Allow") != "GET, POST" {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
		})
	}

	// What is allowed: same-origin browser requests, loopback names, the
	// key as x-api-key or Bearer.
	allowed := []struct {
		name string
		env  *adminEnv
		hdr  map[string]string
	}{
		{"same-origin browser", open, map[string]string{"Origin": "http://127.0.0.1:3456", "Sec-Fetch-Site": "same-origin"}},
		{"address bar", open, map[string]string{"Sec-Fetch-Site": "none"}},
		{"localhost", open, map[string]string{"Host": "localhost:3456"}},
		{"IPv6 loopback", open, map[string]string{"Host": "[::1]:3456"}},
		{"x-api-key", locked, key},
		{"bearer", locked, map[string]string{"Authorization": "Bearer " + adminAPIKey}},
		{"key with a LAN Host", locked, with(key, "Host", "192.168.1.5:3456")},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, tt.env.do("GET", "/api/status", "", tt.hdr), 200)
		})
	}
}

// writeLog writes a log file of n numbered lines into dir.
func writeLog(t *testing.T, dir, name string, n int, mod time.Time) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"msg":"line %d"}`+"\n", i)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeLines(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var lines []string
	if err := json.Unmarshal(w.Body.Bytes(), &lines); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	return lines
}

func numbered(from, to int) []string {
	out := []string{}
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf(`{"msg":"line %d"}`, i))
	}
	return out
}

func TestAdminLogFiles(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	writeLog(t, e.logDir, "ccr-20260101000000.log", 3, base)
	writeLog(t, e.logDir, "ccr-20260102000000.log", 5, base.Add(time.Hour))
	writeLog(t, e.logDir, "notes.txt", 1, base.Add(2*time.Hour))
	os.Mkdir(filepath.Join(e.logDir, "dir.log"), 0o700)
	w := e.do("GET", "/api/logs/files", "", nil)
	wantStatus(t, w, 200)
	want := `[{"name":"ccr-20260102000000.log","size":85,"lastModified":"2026-01-02T04:04:05.000Z"},{"name":"ccr-20260101000000.log","size":51,"lastModified":"2026-01-02T03:04:05.000Z"}]`
	if got := compactJSON(t, w.Body.Bytes()); got != want {
		t.Errorf("GET /api/logs/files =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(w.Body.String(), e.dir) {
		t.Error("the listing shows an absolute path")
	}

	// A missing directory has no files.
	os.RemoveAll(e.logDir)
	w = e.do("GET", "/api/logs/files", "", nil)
	wantStatus(t, w, 200)
	if got := compactJSON(t, w.Body.Bytes()); got != "[]" {
		t.Errorf("no directory: %s", got)
	}
}

func TestAdminGetLogs(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	now := time.Now()
	writeLog(t, e.logDir, "ccr-old.log", 10, now.Add(-time.Hour))
	writeLog(t, e.logDir, "ccr-new.log", 1200, now)
	tests := []struct {
		query string
		want  []string
	}{
		{"", numbered(700, 1200)}, // the newest file, last 500 lines
		{"?file=ccr-old.log", numbered(0, 10)},
		{"?file=ccr-new.log&tail=3", numbered(1197, 1200)},
		{"?file=ccr-new.log&tail=0", []string{}},
		{"?file=ccr-new.log&tail=99999", numbered(0, 1200)},
		{"?file=ccr-new.log&offset=10&lines=5", numbered(10, 15)},
		{"?file=ccr-new.log&offset=1198", numbered(1198, 1200)},
		{"?file=ccr-new.log&lines=2", numbered(0, 2)},
		{"?file=ccr-old.log&offset=50", []string{}},
	}
	for _, tt := range tests {
		w := e.do("GET", "/api/logs"+tt.query, "", nil)
		wantStatus(t, w, 200)
		if got := decodeLines(t, w); !slices.Equal(got, tt.want) {
			t.Errorf("GET /api/logs%s = %d lines %.80q..., want %d lines %.80q...", tt.query, len(got), got, len(tt.want), tt.want)
		}
	}
	for _, q := range []string{"?tail=-1", "?tail=x", "?offset=1&tail=2", "?lines=1.5"} {
		wantError(t, e.do("GET", "/api/logs"+q, "", nil), 400, "invalid_request_error")
	}
	// The current log of a LogFile wins over the newest file.
	lf, err := OpenLogFile(e.logDir, LogFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	io.WriteString(lf, "{\"msg\":\"current\"}\n")
	e.admin.opts.LogFile = lf
	os.Chtimes(filepath.Join(e.logDir, "ccr-new.log"), now.Add(time.Hour), now.Add(time.Hour))
	w := e.do("GET", "/api/logs", "", nil)
	if got := decodeLines(t, w); !slices.Equal(got, []string{`{"msg":"current"}`}) || w.Header().Get("X-Log-File") != lf.Name() {
		t.Errorf("current log = %q (%s)", got, w.Header().Get("X-Log-File"))
	}
}

func TestAdminLogsEmptyDir(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	w := e.do("GET", "/api/logs", "", nil)
	wantStatus(t, w, 200)
	if got := decodeLines(t, w); len(got) != 0 {
		t.Errorf("lines = %q", got)
	}
	wantError(t, e.do("DELETE", "/api/logs", "", nil), 404, "not_found_error")
	wantError(t, e.do("GET", "/api/logs?file=ccr-none.log", "", nil), 404, "not_found_error")
}

// TestAdminLogsPathTraversal: only plain names of files inside the log
// directory are served or truncated.
func TestAdminLogsPathTraversal(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	// Files outside the log directory that must stay unread and whole.
	secret := filepath.Join(e.dir, "secret.log")
	os.WriteFile(secret, []byte("outside secret\n"), 0o600)
	if err := os.Symlink(secret, filepath.Join(e.logDir, "link-out.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.path, filepath.Join(e.logDir, "config.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret.log", filepath.Join(e.logDir, "rel-out.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.dir, "nowhere", "x.log"), filepath.Join(e.logDir, "dangling-out.log")); err != nil {
		t.Fatal(err)
	}
	// A link to a file inside the directory is fine.
	writeLog(t, e.logDir, "ccr-real.log", 2, time.Now())
	os.Symlink("ccr-real.log", filepath.Join(e.logDir, "link-in.log"))

	bad := []struct {
		query  string
		status int
	}{
		{"?file=", 400},
		{"?file=.", 400},
		{"?file=..", 400},
		{"?file=../secret.log", 400},
		{"?file=..%2Fsecret.log", 400},
		{"?file=%2e%2e%2fsecret.log", 400},
		{"?file=%252e%252e%252fsecret.log", 400},
		{"?file=..%5Csecret.log", 400},
		{"?file=" + strings.ReplaceAll(secret, "/", "%2F"), 400},
		{"?file=/etc/passwd", 400},
		{"?file=C:%5Cwindows%5Cwin.ini", 400},
		{"?file=ccr-real.log%00.txt", 400},
		{"?file=config.json", 400},
		{"?file=.hidden.log", 400},
		{"?file=a.log&file=b.log", 400},
		{"?file=link-out.log", 400},
		{"?file=rel-out.log", 400},
		{"?file=config.log", 400},
		{"?file=dangling-out.log", 400},
		{"?file=missing.log", 404},
	}
	for _, tt := range bad {
		for _, method := range []string{"GET", "DELETE"} {
			w := e.do(method, "/api/logs"+tt.query, "", nil)
			wantError(t, w, tt.status, ErrorType(tt.status))
			if strings.Contains(w.Body.String(), "outside secret") || strings.Contains(w.Body.String(), "Providers") {
				t.Errorf("%s %s leaked a file: %s", method, tt.query, w.Body)
			}
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "outside secret\n" {
		t.Errorf("file outside the log directory = %q", b)
	}
	if got := e.readFile(); string(got) != adminConfig {
		t.Error("config file changed")
	}
	w := e.do("GET", "/api/logs?file=link-in.log", "", nil)
	wantStatus(t, w, 200)
	if got := decodeLines(t, w); !slices.Equal(got, numbered(0, 2)) {
		t.Errorf("link inside = %q", got)
	}
}

func TestAdminDeleteLogs(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	p := writeLog(t, e.logDir, "ccr-a.log", 3, time.Now())
	other := writeLog(t, e.logDir, "ccr-b.log", 3, time.Now().Add(-time.Hour))
	w := e.do("DELETE", "/api/logs?file=ccr-a.log", "", nil)
	wantStatus(t, w, 200)
	if got := compactJSON(t, w.Body.Bytes()); got != `{"success":true,"message":"Logs cleared successfully","warnings":[]}` {
		t.Errorf("DELETE /api/logs = %s", got)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != 0 {
		t.Errorf("ccr-a.log not truncated: %v %v", fi, err)
	}
	if fi, _ := os.Stat(other); fi.Size() == 0 {
		t.Error("ccr-b.log was truncated too")
	}
	// No file: the current (newest) one.
	os.Chtimes(other, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	wantStatus(t, e.do("DELETE", "/api/logs", "", nil), 200)
	if fi, _ := os.Stat(other); fi.Size() != 0 {
		t.Error("DELETE without file did not clear the current log")
	}
}

// TestAdminTailLargeFile: the tail of a log larger than the read budget
// is found from the end, with bounded memory.
//
// Not parallel: it measures allocations.
func TestAdminTailLargeFile(t *testing.T) {
	e := newAdminEnv(t, adminConfig, map[string]string{"UP_KEY": adminUpKey})
	p := filepath.Join(e.logDir, "ccr-big.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	const n = 12000 // ~12 MB
	bw := io.Writer(f)
	for i := range n {
		fmt.Fprintf(bw, `{"msg":"line %d","pad":"%s"}`+"\n", i, pad)
	}
	// One line over the line limit, then a last short line.
	fmt.Fprintf(bw, "%s\n", strings.Repeat("y", maxLogLineBytes+10))
	fmt.Fprintf(bw, "last")
	f.Close()

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	w := e.do("GET", "/api/logs?file=ccr-big.log&tail=3", "", nil)
	runtime.ReadMemStats(&m1)
	wantStatus(t, w, 200)
	got := decodeLines(t, w)
	if len(got) != 3 || !strings.HasPrefix(got[0], fmt.Sprintf(`{"msg":"line %d"`, n-1)) ||
		len(got[1]) != maxLogLineBytes+len("…[truncated]") || got[2] != "last" {
		t.Errorf("tail=3 = %d lines, %.60q", len(got), got)
	}
	t.Logf("tail=3 of a %d-byte file allocated %d bytes", n*1024, m1.TotalAlloc-m0.TotalAlloc)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 1<<20 {
		t.Errorf("tail=3 of a 12 MB file allocated %d bytes", alloc)
	}

	// The largest tail stops at the read budget instead of the whole file.
	w = e.do("GET", "/api/logs?file=ccr-big.log&tail=100000", "", nil)
	got = decodeLines(t, w)
	if len(got) != maxLogLines {
		t.Errorf("tail=100000 = %d lines, want the cap %d", len(got), maxLogLines)
	}
	w = e.do("GET", "/api/logs?file=ccr-big.log&offset=11990&lines=5", "", nil)
	got = decodeLines(t, w)
	if len(got) != 5 || !strings.HasPrefix(got[0], `{"msg":"line 11990"`) {
		t.Errorf("offset paging = %.60q", got)
	}
	if w.Body.Len() > maxLogReadBytes+maxLogLineBytes*2 {
		t.Errorf("response of %d bytes", w.Body.Len())
	}
}

func TestValidLogName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"ccr-20260101120000.log": true, "ccr-20260101120000_1.log": true, "app.log": true,
		"": false, ".": false, "..": false, ".log": false, "..log": false, "../a.log": false, "a/b.log": false,
		`a\b.log`: false, "/a.log": false, "a.log/": false, "a.txt": false, "a.log.bak": false, "a b.log": false,
		"a\x00.log": false, "c:a.log": false, "%2e%2e.log": false, strings.Repeat("a", 300) + ".log": false,
	} {
		if got := validLogName(name); got != want {
			t.Errorf("validLogName(%q) = %v, want %v", name, got, want)
		}
	}
}

// slowAnthropic is an upstream that sends message_start, then waits for
// release before the rest of its stream, whose text is text.
func slowAnthropic(t *testing.T, text string, release <-chan struct{}) *fakeAnthropic {
	return newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		frames := strings.SplitAfter(strings.ReplaceAll(anthropicSSE, `"hel"`, `"`+text+`"`), "\n\n")
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, frames[0])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		for _, f := range frames[1:] {
			io.WriteString(w, f)
			w.(http.Flusher).Flush()
		}
	})
}

// TestAdminReloadDuringStream: a config applied while a stream is in
// flight leaves that stream on the old provider to its end; the next
// request uses the new one.
func TestAdminReloadDuringStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	a := slowAnthropic(t, "from-A", release)
	b := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(anthropicReply, `"hello"`, `"from-B"`, 1))
	})
	cfgFor := func(def string) string {
		return fmt.Sprintf(`{"APIKEY":%q,"LOG":false,"Providers":[
  {"name":"A","api_base_url":%q,"api_key":"$A_KEY","models":["ma"],"transformer":{"use":["Anthropic"]}},
  {"name":"B","api_base_url":%q,"api_key":"$B_KEY","models":["mb"],"transformer":{"use":["Anthropic"]}}],
 "Router":{"default":%q}}`, adminAPIKey, a.URL+"/v1/messages", b.URL+"/v1/messages", def)
	}
	e := newAdminEnv(t, cfgFor("A,ma"), map[string]string{"A_KEY": "sk-a-0123456789", "B_KEY": "sk-b-0123456789"})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)

	send := func(method, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Api-Key", adminAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	stream := send("POST", "/v1/messages", strings.Replace(helloBody, `"max_tokens":100`, `"max_tokens":100,"stream":true`, 1))
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		b, _ := io.ReadAll(stream.Body)
		t.Fatalf("stream status %d: %s", stream.StatusCode, b)
	}
	events := NewSSEReader(stream.Body)
	first, err := events.ReadEvent()
	if err != nil || first.Type != "message_start" {
		t.Fatalf("first event = %+v, %v", first, err)
	}

	// Switch the default to B while A's stream is open.
	resp := send("POST", "/api/config?apply=true", cfgFor("B,mb"))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"applied":true`) {
		t.Fatalf("POST /api/config?apply=true = %d %s", resp.StatusCode, body)
	}
	if got := e.rt.Config().Router.Default; got != "B,mb" {
		t.Fatalf("live default = %q, want B,mb", got)
	}
	if st := e.rt.Stats(); st.Streams != 1 {
		t.Errorf("streams in flight = %d, want 1", st.Streams)
	}

	close(release)
	var types []string
	var text strings.Builder
	for {
		ev, err := events.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream broke after the reload: %v", err)
		}
		types = append(types, ev.Type)
		var d struct {
			Delta struct{ Text string } `json:"delta"`
		}
		json.Unmarshal(ev.Data, &d)
		text.WriteString(d.Delta.Text)
	}
	if len(types) == 0 || types[len(types)-1] != "message_stop" || text.String() != "from-Alo" {
		t.Errorf("rest of the stream = %q, text %q; want A's stream to message_stop", types, text.String())
	}

	next := send("POST", "/v1/messages", helloBody)
	nb, _ := io.ReadAll(next.Body)
	next.Body.Close()
	if next.StatusCode != 200 || !strings.Contains(string(nb), "from-B") {
		t.Errorf("next request = %d %s, want B's answer", next.StatusCode, nb)
	}
	if got, _ := b.last(); !strings.Contains(string(got), `"model":"mb"`) {
		t.Errorf("B received %s", got)
	}
	a.mu.Lock()
	na := len(a.bodies)
	a.mu.Unlock()
	if na != 1 {
		t.Errorf("A received %d requests, want 1", na)
	}
	if rec := e.rt.RecentRequests(); len(rec) != 2 || rec[1].Provider != "A" || rec[1].Status != 200 || rec[0].Provider != "B" {
		t.Errorf("recent requests = %+v", rec)
	}
}

// TestNoKeyInLogs runs requests at debug level, including upstream
// failures whose bodies and URLs quote the key, and config saves and
// reloads, then reads every log line: no provider key and not the APIKEY
// may appear.
func TestNoKeyInLogs(t *testing.T) {
	t.Parallel()
	keys := map[string]string{
		"OK_KEY":    "sk-ok-aaaaaaaaaaaaaaaaaaaa",
		"BAD_KEY":   "sk-bad-bbbbbbbbbbbbbbbbbbb",
		"TXT_KEY":   "sk-txt-ccccccccccccccccccc",
		"DOWN_KEY":  "sk-down-dddddddddddddddddd",
		"CCR_KEY":   "ccr-apikey-eeeeeeeeeeeeeeee",
		"QUOTE_KEY": `sk-q"<&>-ffffffffffffffffff`,
	}
	ok := newFakeAnthropic(t, nil)
	// 401 with a JSON error quoting the key it was sent.
	bad := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key %s"}}`, r.Header.Get("X-Api-Key"))
	})
	// 500 with a plain-text body quoting the key.
	txt := newFakeAnthropic(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		fmt.Fprintf(w, "internal error for key=%s, request %q", r.Header.Get("X-Api-Key"), r.Header.Get("X-Api-Key"))
	})
	// A closed port, with the key in the URL: the transport error quotes it.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	file := fmt.Sprintf(`{
  "APIKEY": "$CCR_KEY", "LOG": true, "LOG_LEVEL": "debug",
  "Providers": [
    {"name":"ok","api_base_url":%q,"api_key":"$OK_KEY","models":["m"],"transformer":{"use":["Anthropic"]}},
    {"name":"bad","api_base_url":%q,"api_key":"$BAD_KEY","models":["m"],"transformer":{"use":["Anthropic"]}},
    {"name":"txt","api_base_url":%q,"api_key":["$TXT_KEY","$QUOTE_KEY"],"models":["m"],"transformer":{"use":["Anthropic"]}},
    {"name":"down","api_base_url":%q,"api_key":"$DOWN_KEY","models":["m"],"transformer":{"use":["Anthropic"]}}
  ],
  "Router": {"default": "ok,m"}
}`, ok.URL+"/v1/messages", bad.URL+"/v1/messages", txt.URL+"/v1/messages", closedURL+"/v1/messages?key="+keys["DOWN_KEY"])
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return keys[k] }
	cfg, _, err := LoadConfig(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "logs")
	var stderr bytes.Buffer
	logs := OpenServerLogs(&cfg, logDir, &stderr)
	defer logs.Close()
	if logs.File == nil {
		t.Fatalf("no log file: %s", stderr.String())
	}
	prepare := func(c *Config) { logs.Prepare(c); c.Env = getenv }
	prepare(&cfg)
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := NewAdmin(AdminOptions{Router: rt, ConfigPath: path, LogDir: logDir, LogFile: logs.File, Getenv: getenv,
		Prepare: prepare, Applied: logs.Apply, Logger: logs.Logger})
	mux := http.NewServeMux()
	mux.Handle("/", rt)
	mux.Handle("/api/", admin)

	do := func(method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("X-Api-Key", keys["CCR_KEY"])
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	var responses []string
	statuses := map[int]int{}
	for _, model := range []string{"ok,m", "bad,m", "txt,m", "down,m"} {
		for _, stream := range []string{"false", "true"} {
			body := strings.Replace(helloBody, `"claude-sonnet-4-5"`, `"`+model+`"`, 1)
			body = strings.Replace(body, `"max_tokens":100`, `"max_tokens":100,"stream":`+stream, 1)
			for range 2 { // twice: the second "txt" request uses the other key
				w := do("POST", "/v1/messages", body)
				statuses[w.Code]++
				responses = append(responses, w.Body.String())
			}
		}
	}
	// A wrong client key, and the admin API with keys in its bodies.
	r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(helloBody))
	r.Header.Set("Authorization", "Bearer "+keys["OK_KEY"])
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	statuses[w.Code]++
	literal := strings.ReplaceAll(file, "$OK_KEY", keys["OK_KEY"])
	for _, req := range [][3]string{
		{"POST", "/api/config", literal},
		{"POST", "/api/config?apply=true", file},
		{"POST", "/api/config", `{"Providers":[{"name":"x","api_key":"$BAD_KEY"}]}`},
		{"POST", "/api/restart", ""},
		{"GET", "/api/status", ""},
		{"GET", "/api/requests", ""},
		{"GET", "/api/logs", ""},
	} {
		w := do(req[0], req[1], req[2])
		statuses[w.Code]++
		if req[1] != "/api/logs" {
			responses = append(responses, w.Body.String())
		}
	}
	logs.Logger.Debug("belt and braces", "err", fmt.Errorf("dial %s failed", keys["BAD_KEY"]),
		"hdr", http.Header{"X-Api-Key": {keys["OK_KEY"]}}, slog.Group("g", "v", keys["TXT_KEY"]), "any", map[string]string{"k": keys["QUOTE_KEY"]})
	if statuses[200] == 0 || statuses[401] == 0 || statuses[500] == 0 || statuses[502] == 0 || statuses[400] == 0 {
		t.Errorf("statuses = %v: the run did not cover successes and failures", statuses)
	}
	logs.Close()

	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, en := range entries {
		b, _ := os.ReadFile(filepath.Join(logDir, en.Name()))
		all.Write(b)
	}
	text := all.String()
	if os.Getenv("PEEK") != "" {
		t.Log(text)
	}
	if !strings.Contains(text, `"status":401`) || !strings.Contains(text, `"status":502`) || !strings.Contains(text, "[REDACTED]") ||
		!strings.Contains(text, `"level":"DEBUG"`) || !strings.Contains(text, "config saved") {
		t.Errorf("the log lacks the records the test relies on:\n%s", text)
	}
	for name, k := range keys {
		escaped, _ := json.Marshal(k)
		for _, form := range []string{k, string(escaped[1 : len(escaped)-1])} {
			if strings.Contains(text, form) {
				t.Errorf("the log contains %s:\n%s", name, text)
			}
			for i, resp := range responses {
				if strings.Contains(resp, form) {
					t.Errorf("response %d contains %s: %s", i, name, resp)
				}
			}
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line %d is not JSON: %s", i, line)
		}
	}
}
