package ccr

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ccrgo/ccr/internal/json5"
)

// Limits of the management API.
const (
	// maxConfigBytes caps a POST /api/config body.
	maxConfigBytes = 4 << 20
	// defaultLogLines is how many lines GET /api/logs returns by default
	// (the last ones); maxLogLines caps any request.
	defaultLogLines = 500
	maxLogLines     = 5000
	// maxLogLineBytes cuts longer log lines; maxLogReadBytes bounds what
	// one GET /api/logs reads and returns, whatever the file's size.
	maxLogLineBytes = 64 << 10
	maxLogReadBytes = 8 << 20
)

// emptyConfig is what GET /api/config shows when there is no file yet.
const emptyConfig = `{"Providers":[],"Router":{}}`

// AdminOptions configure the management API. Router and ConfigPath are
// required; the other fields are optional.
type AdminOptions struct {
	// Router is the live router: the API authenticates with it, reloads
	// it and reports its counters.
	Router *Router
	// ConfigPath is the config file the API shows, saves and reloads.
	ConfigPath string
	// LogDir is the directory of the log files the API lists, shows and
	// clears. "" means there are none.
	LogDir string
	// LogFile is the log file being written, if any: it is the "current"
	// log when a request names none.
	LogFile *LogFile
	// Getenv expands $VAR references when a configuration is validated or
	// loaded; nil means no variable is set.
	Getenv func(string) string
	// Prepare adds the settings that a config file cannot carry (Logger,
	// Env, Transformers, Hooks, RouteFunc, Transport) to every
	// configuration read from the file or from a request, before it is
	// validated or applied. It may run for configurations that are then
	// not applied. nil means: Env is Getenv and Logger is Logger.
	Prepare func(*Config)
	// Applied is called with each configuration the API makes live (for
	// example to change the log level).
	Applied func(Config)
	// Logger receives the API's own records (saves and reloads, never a
	// body). nil means slog.Default().
	Logger *slog.Logger
	// Version is reported by GET /api/status; "" means [Version].
	Version string
	// Listen is the address the server listens on, for GET /api/status.
	Listen string
}

// Admin is the management API: an http.Handler serving, under /api/,
//
//	GET    /api/config        the config file as written, as JSON ($VAR references kept)
//	POST   /api/config        validate and save a whole config (?apply=true also reloads)
//	POST   /api/restart       re-read the config file and make it live
//	GET    /api/transformers  the transformer names usable in config
//	GET    /api/logs/files    the log files, newest first
//	GET    /api/logs          lines of a log file (?file=, tail=, offset=, lines=)
//	DELETE /api/logs          empty a log file (?file=)
//	GET    /api/requests      the most recent requests
//	GET    /api/status        version, uptime, counters, listen address, auth mode
//
// Every request is authenticated by [Router.Authenticate] and, whatever
// the configuration, browser requests from another origin are refused,
// which keeps web pages from driving the API (CSRF). Errors are Anthropic
// error JSON. The paths are matched in full, so mount an Admin at "/api/"
// of the server's mux, or under a prefix with [http.StripPrefix].
type Admin struct {
	opts AdminOptions
	log  *slog.Logger
	now  func() time.Time
	// mu serialises config saves and reloads.
	mu sync.Mutex
}

// NewAdmin returns the management API for opts. It panics if opts.Router
// is nil or opts.ConfigPath is empty.
func NewAdmin(opts AdminOptions) *Admin {
	if opts.Router == nil || opts.ConfigPath == "" {
		panic("ccr: NewAdmin needs a Router and a ConfigPath")
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Version == "" {
		opts.Version = Version
	}
	a := &Admin{opts: opts, log: opts.Logger, now: time.Now}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

type adminRoute struct {
	method, path string
	h            func(*Admin, http.ResponseWriter, *http.Request)
}

// adminRoutes is the API's one table of endpoints.
var adminRoutes = [...]adminRoute{
	{http.MethodGet, "/api/config", (*Admin).getConfig},
	{http.MethodPost, "/api/config", (*Admin).postConfig},
	{http.MethodPost, "/api/restart", (*Admin).restart},
	{http.MethodGet, "/api/transformers", (*Admin).transformers},
	{http.MethodGet, "/api/logs/files", (*Admin).logFiles},
	{http.MethodGet, "/api/logs", (*Admin).getLogs},
	{http.MethodDelete, "/api/logs", (*Admin).deleteLogs},
	{http.MethodGet, "/api/requests", (*Admin).requests},
	{http.MethodGet, "/api/status", (*Admin).status},
}

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := crossOriginError(r); err != nil {
		WriteError(w, err)
		return
	}
	if err := a.opts.Router.Authenticate(r); err != nil {
		WriteError(w, err)
		return
	}
	var allow []string
	for _, rt := range adminRoutes {
		if rt.path != r.URL.Path {
			continue
		}
		if rt.method == r.Method || (rt.method == http.MethodGet && r.Method == http.MethodHead) {
			rt.h(a, w, r)
			return
		}
		allow = append(allow, rt.method)
	}
	if allow == nil {
		WriteError(w, &Error{Status: http.StatusNotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	WriteError(w, &Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Message: "method " + r.Method + " not allowed; use " + strings.Join(allow, " or ")})
}

// crossOriginError refuses browser requests made by another origin, for
// every method (the API's GETs return configuration and logs). Browsers
// send Sec-Fetch-Site, or at least Origin on cross-origin requests;
// clients that are not browsers send neither and are left to
// authentication.
func crossOriginError(r *http.Request) error {
	refuse := &Error{Status: http.StatusForbidden, Message: "cross-origin requests to the management API are refused"}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return refuse
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
			return refuse
		}
	}
	return nil
}

// prepare completes a configuration read from the file or a request.
func (a *Admin) prepare(cfg *Config) {
	if a.opts.Prepare != nil {
		a.opts.Prepare(cfg)
		return
	}
	cfg.Env = a.opts.Getenv
	if a.opts.Logger != nil {
		cfg.Logger = a.opts.Logger
	}
}

// Reload re-reads the config file and makes it live, as POST
// /api/restart does (a server calls it on SIGHUP too). It returns the
// file's warnings and, when the file cannot be read or is invalid, an
// error (a *ConfigError listing every problem); the old configuration
// then stays live.
func (a *Admin) Reload() ([]Problem, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reloadLocked()
}

func (a *Admin) reloadLocked() ([]Problem, error) {
	cfg, warnings, err := LoadConfig(a.opts.ConfigPath, a.opts.Getenv)
	if err != nil {
		return warnings, err
	}
	a.prepare(&cfg)
	if err := a.opts.Router.Reload(cfg); err != nil {
		return warnings, err
	}
	if a.opts.Applied != nil {
		a.opts.Applied(cfg)
	}
	a.log.Info("config reloaded", "path", a.opts.ConfigPath, "providers", len(cfg.Providers))
	return warnings, nil
}

// adminResult is the reference's {"success":true,"message":...} answer.
type adminResult struct {
	Success  bool      `json:"success"`
	Message  string    `json:"message"`
	Warnings []Problem `json:"warnings"`
	Applied  bool      `json:"applied,omitempty"`
}

// configErrorBody is an Anthropic error with the problems of a rejected
// configuration.
type configErrorBody struct {
	Type     string       `json:"type"`
	Error    errorPayload `json:"error"`
	Problems []Problem    `json:"problems"`
	Warnings []Problem    `json:"warnings"`
}

// writeConfigError answers a configuration that could not be read or
// validated: 400 with every problem for a *ConfigError, else 500 (the
// cause goes to the log). what starts the message.
func (a *Admin) writeConfigError(w http.ResponseWriter, what string, err error, warnings []Problem, red *Redactor) {
	var ce *ConfigError
	if !errors.As(err, &ce) {
		a.log.Error(what, "err", err)
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: what})
		return
	}
	problems := redactProblems(ce.Problems, red)
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.String()
	}
	writeJSON(w, http.StatusBadRequest, configErrorBody{
		Type:     "error",
		Error:    errorPayload{Type: "invalid_request_error", Message: what + ": " + strings.Join(msgs, "; ")},
		Problems: problems,
		Warnings: redactProblems(warnings, red),
	})
}

// redactProblems returns ps, never nil, with any known key redacted from
// the messages: a problem may quote a value.
func redactProblems(ps []Problem, red *Redactor) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem{Path: red.Redact(p.Path), Message: red.Redact(p.Message)}
	}
	return out
}

// liveRedactor returns a Redactor of the live configuration's keys.
func (a *Admin) liveRedactor() *Redactor {
	red := &Redactor{}
	cfg := a.opts.Router.Config()
	red.AddConfig(&cfg)
	return red
}

func (a *Admin) getConfig(w http.ResponseWriter, r *http.Request) {
	data, err := os.ReadFile(a.opts.ConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		writeRawJSON(w, []byte(emptyConfig))
		return
	}
	if err != nil {
		a.log.Error("read config file", "err", err)
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "could not read the config file"})
		return
	}
	js, err := json5.ToJSON(data)
	if err != nil {
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "the config file has a syntax error: " + err.Error()})
		return
	}
	writeRawJSON(w, js)
}

func writeRawJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (a *Admin) postConfig(w http.ResponseWriter, r *http.Request) {
	apply, err := boolParam(r, "apply")
	if err != nil {
		WriteError(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
	if err != nil {
		WriteError(w, err)
		return
	}
	red := a.liveRedactor()
	js, err := json5.ToJSON(body)
	if err != nil {
		a.writeConfigError(w, "invalid configuration", &ConfigError{Problems: []Problem{{Message: "syntax error: " + err.Error()}}}, nil, red)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, warnings, err := ParseConfig(bytes.NewReader(js), a.opts.Getenv)
	red.AddConfig(&cfg)
	if err == nil {
		a.prepare(&cfg)
		err = Validate(cfg)
	}
	if err != nil {
		a.writeConfigError(w, "invalid configuration", err, warnings, red)
		return
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, js, "", "  "); err != nil {
		WriteError(w, err)
		return
	}
	pretty.WriteByte('\n')
	if err := writeConfigFile(a.opts.ConfigPath, pretty.Bytes(), a.now); err != nil {
		a.log.Error("save config", "err", err)
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "could not save the configuration"})
		return
	}
	a.log.Info("config saved", "path", a.opts.ConfigPath, "bytes", pretty.Len())
	res := adminResult{Success: true, Message: "Config saved successfully", Warnings: redactProblems(warnings, red)}
	if apply {
		if _, err := a.reloadLocked(); err != nil {
			a.writeConfigError(w, "the configuration was saved but could not be applied", err, nil, red)
			return
		}
		res.Message, res.Applied = "Config saved and applied", true
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *Admin) restart(w http.ResponseWriter, r *http.Request) {
	warnings, err := a.Reload()
	red := a.liveRedactor()
	if err != nil {
		a.writeConfigError(w, "the configuration was not reloaded", err, warnings, red)
		return
	}
	writeJSON(w, http.StatusOK, adminResult{Success: true, Message: "Service restarted: configuration reloaded", Warnings: redactProblems(warnings, red)})
}

// transformerInfo is one entry of GET /api/transformers.
type transformerInfo struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Endpoint    *string     `json:"endpoint"` // null for hooks, as in the reference
	Options     []OptionDef `json:"options"`
}

func (a *Admin) transformers(w http.ResponseWriter, r *http.Request) {
	defs := a.opts.Router.Config().Transformers
	if defs == nil {
		defs = DefaultTransformers()
	}
	list := make([]transformerInfo, 0, len(defs))
	for _, name := range sortedKeys(defs) {
		d := defs[name]
		ti := transformerInfo{Name: name, Description: d.Description, Options: d.Options}
		if d.Endpoint != "" {
			ti.Endpoint = &d.Endpoint
		}
		if ti.Options == nil {
			ti.Options = []OptionDef{}
		}
		list = append(list, ti)
	}
	writeJSON(w, http.StatusOK, struct {
		Transformers []transformerInfo `json:"transformers"`
	}{list})
}

func (a *Admin) requests(w http.ResponseWriter, r *http.Request) {
	recs := a.opts.Router.RecentRequests()
	if recs == nil {
		recs = []RequestRecord{}
	}
	writeJSON(w, http.StatusOK, struct {
		Requests []RequestRecord `json:"requests"`
	}{recs})
}

// adminStatus is the answer of GET /api/status.
type adminStatus struct {
	Version       string `json:"version"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	Listen        string `json:"listen,omitempty"`
	Auth          string `json:"auth"` // "api_key" or "none"
	SetupMode     bool   `json:"setup_mode"`
	Warning       string `json:"warning,omitempty"`
	Requests      struct {
		Total    int64 `json:"total"`
		Errors   int64 `json:"errors"`
		InFlight int64 `json:"in_flight"`
		Streams  int64 `json:"streams"`
	} `json:"requests"`
	ConfigPath string `json:"config_path"`
	Logs       struct {
		File    string `json:"file,omitempty"`
		Dropped int64  `json:"dropped"`
	} `json:"logs"`
}

func (a *Admin) status(w http.ResponseWriter, r *http.Request) {
	st := a.opts.Router.Stats()
	cfg := a.opts.Router.Config()
	s := adminStatus{
		Version:       a.opts.Version,
		UptimeSeconds: int64(st.Uptime / time.Second),
		Listen:        a.opts.Listen,
		Auth:          "none",
		SetupMode:     st.SetupMode,
		ConfigPath:    a.opts.ConfigPath,
	}
	if cfg.APIKey != "" && !st.SetupMode {
		s.Auth = "api_key"
	}
	if s.Auth == "none" && a.opts.Listen != "" && !isLoopbackHost(a.opts.Listen) {
		s.Warning = "listening on " + a.opts.Listen + " without an APIKEY: only requests addressed to a loopback name are served; set APIKEY to serve the network"
	}
	s.Requests.Total, s.Requests.Errors, s.Requests.InFlight, s.Requests.Streams = st.Total, st.Errors, st.InFlight, st.Streams
	if f := a.opts.LogFile; f != nil {
		s.Logs.File, s.Logs.Dropped = f.Name(), f.Dropped()
	}
	writeJSON(w, http.StatusOK, s)
}

// logFileInfo is one entry of GET /api/logs/files. It names the file,
// never its absolute path.
type logFileInfo struct {
	Name         string `json:"name"`
	Size         int64  `json:"size"`
	LastModified string `json:"lastModified"`

	mod time.Time
}

// listLogs returns the *.log files of the log directory, newest first.
// A missing directory has none.
func (a *Admin) listLogs() ([]logFileInfo, error) {
	out := []logFileInfo{}
	if a.opts.LogDir == "" {
		return out, nil
	}
	entries, err := os.ReadDir(a.opts.LogDir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, logFileInfo{Name: e.Name(), Size: info.Size(), mod: info.ModTime(),
			LastModified: info.ModTime().UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].mod.Equal(out[j].mod) {
			return out[i].mod.After(out[j].mod)
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

func (a *Admin) logFiles(w http.ResponseWriter, r *http.Request) {
	list, err := a.listLogs()
	if err != nil {
		a.log.Error("list log files", "err", err)
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "could not list the log files"})
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// validLogName reports whether name is the plain name of a log file:
// letters, digits, '.', '_' and '-', ending in ".log", not starting with
// a dot. Separators, "..", absolute paths, drive letters and NUL cannot
// pass.
func validLogName(name string) bool {
	if len(name) > 255 || len(name) <= len(".log") || !strings.HasSuffix(name, ".log") || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '.' || c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

// logName returns the log file a request names with ?file=, or the
// current log when it names none ("" when there is none).
func (a *Admin) logName(r *http.Request) (string, error) {
	q := r.URL.Query()
	if vs, ok := q["file"]; ok {
		if len(vs) != 1 || !validLogName(vs[0]) {
			return "", &Error{Status: http.StatusBadRequest, Message: "file must be the name of a .log file in the log directory, such as ccr-20260101120000.log"}
		}
		return vs[0], nil
	}
	if a.opts.LogFile != nil && filepath.Clean(a.opts.LogFile.Dir()) == filepath.Clean(a.opts.LogDir) {
		return a.opts.LogFile.Name(), nil
	}
	list, err := a.listLogs()
	if err != nil || len(list) == 0 {
		return "", err
	}
	return list[0].Name, nil
}

// openLog opens a log file of the log directory. Through os.Root, a
// symbolic link can only lead to a file inside the directory.
func (a *Admin) openLog(name string, flag int) (*os.File, error) {
	notFound := &Error{Status: http.StatusNotFound, Message: "no log file " + name}
	if a.opts.LogDir == "" {
		return nil, notFound
	}
	root, err := os.OpenRoot(a.opts.LogDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, flag, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound
		}
		if fi, lerr := root.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &Error{Status: http.StatusBadRequest, Message: "log file " + name + " is a link that leads outside the log directory", Err: err}
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, &Error{Status: http.StatusBadRequest, Message: name + " is not a regular file"}
	}
	return f, nil
}

func (a *Admin) getLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tail, terr := intParam(q, "tail")
	offset, oerr := intParam(q, "offset")
	lines, lerr := intParam(q, "lines")
	if err := errors.Join(terr, oerr, lerr); err != nil {
		WriteError(w, err)
		return
	}
	paged := q.Has("offset") || q.Has("lines")
	if paged && q.Has("tail") {
		WriteError(w, &Error{Status: http.StatusBadRequest, Message: "use either tail or offset and lines"})
		return
	}
	name, err := a.logName(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	if name == "" {
		writeJSON(w, http.StatusOK, []string{})
		return
	}
	f, err := a.openLog(name, os.O_RDONLY)
	if err != nil {
		WriteError(w, err)
		return
	}
	defer f.Close()
	var out []string
	if paged {
		if !q.Has("lines") {
			lines = defaultLogLines
		}
		out, err = readLogLines(f, offset, min(lines, maxLogLines), maxLogReadBytes)
	} else {
		if !q.Has("tail") {
			tail = defaultLogLines
		}
		out, err = tailLogLines(f, min(tail, maxLogLines))
	}
	if err != nil {
		a.log.Error("read log file", "file", name, "err", err)
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "could not read log file " + name})
		return
	}
	w.Header().Set("X-Log-File", name)
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) deleteLogs(w http.ResponseWriter, r *http.Request) {
	name, err := a.logName(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	if name == "" {
		WriteError(w, &Error{Status: http.StatusNotFound, Message: "there is no log file"})
		return
	}
	f, err := a.openLog(name, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		WriteError(w, err)
		return
	}
	f.Close()
	if a.opts.LogFile != nil {
		a.opts.LogFile.truncated(name)
	}
	a.log.Info("log file cleared", "file", name)
	writeJSON(w, http.StatusOK, adminResult{Success: true, Message: "Logs cleared successfully", Warnings: []Problem{}})
}

// intParam parses a non-negative integer query parameter; absent is 0.
func intParam(q url.Values, name string) (int, error) {
	s := q.Get(name)
	if s == "" && !q.Has(name) {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, &Error{Status: http.StatusBadRequest, Message: name + " must be a whole number >= 0"}
	}
	return n, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return false, nil
	}
	switch strings.ToLower(q.Get(name)) {
	case "", "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, &Error{Status: http.StatusBadRequest, Message: name + " must be true or false"}
}

// logLine returns a line for the API: without its line ending, cut at
// maxLogLineBytes.
func logLine(b []byte) string {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > maxLogLineBytes {
		return string(b[:maxLogLineBytes]) + "…[truncated]"
	}
	return string(b)
}

// lineReader reads lines of any length, keeping at most
// maxLogLineBytes+1 bytes of each, so that memory stays bounded and
// logLine can tell that a line was cut.
type lineReader struct {
	br *bufio.Reader
}

// next returns the next line, io.EOF after the last.
func (lr *lineReader) next() ([]byte, error) {
	var line []byte
	for {
		frag, err := lr.br.ReadSlice('\n')
		if len(line) <= maxLogLineBytes {
			line = append(line, frag[:min(len(frag), maxLogLineBytes+1-len(line))]...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		}
		return line, err
	}
}

// readLogLines returns up to n non-empty lines after skipping offset
// non-empty lines, reading forward; it stops once the lines add up to
// maxBytes.
func readLogLines(f io.Reader, offset, n, maxBytes int) ([]string, error) {
	lr := &lineReader{br: bufio.NewReaderSize(f, 64<<10)}
	out := []string{}
	total := 0
	for len(out) < n && total < maxBytes {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		s := logLine(line)
		if s == "" {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		out = append(out, s)
		total += len(s)
	}
	return out, nil
}

// tailLogLines returns the last n non-empty lines of f. It scans backward
// from the end in blocks until it has seen n line breaks or
// maxLogReadBytes, so a large file is never read whole.
func tailLogLines(f *os.File, n int) ([]string, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if n == 0 || size == 0 {
		return []string{}, nil
	}
	const block = 64 << 10
	buf := make([]byte, block)
	pos, start := size, int64(0)
	partial := false // start falls inside a line, which is dropped
	breaks := 0
scan:
	for pos > 0 {
		k := min(int64(block), pos)
		pos -= k
		if _, err := f.ReadAt(buf[:k], pos); err != nil && err != io.EOF {
			return nil, err
		}
		for i := k - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == size-1 {
				continue
			}
			breaks++
			if breaks == n {
				start = pos + i + 1
				break scan
			}
		}
		if size-pos >= maxLogReadBytes {
			start, partial = pos, pos > 0
			break
		}
	}
	// Only a break after a non-empty line counts; with blank lines there
	// may be fewer than n lines, which is fine.
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	lines, err := readLogLines(io.LimitReader(f, size-start), 0, math.MaxInt, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if partial && len(lines) > 0 {
		lines = lines[1:]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}
