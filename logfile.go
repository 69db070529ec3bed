package ccr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLogDir returns the reference's log directory,
// ~/.claude-code-router/logs, for the given home directory.
func DefaultLogDir(home string) string {
	return filepath.Join(home, ".claude-code-router", "logs")
}

// Log file defaults.
const (
	// DefaultLogMaxSize is the size at which a log file is rotated.
	DefaultLogMaxSize = 50 << 20
	// DefaultLogMaxFiles is how many log files are kept.
	DefaultLogMaxFiles = 10
)

// logFileTimeFormat names log files by their creation time, local time,
// as the reference does: ccr-20261125010203.log.
const logFileTimeFormat = "20060102150405"

// Retry and report intervals of a LogFile whose disk fails.
const (
	logReopenInterval = 10 * time.Second
	logReportInterval = time.Minute
)

// LogFileOptions configure a [LogFile]. Every field is optional.
type LogFileOptions struct {
	// MaxSize is the size in bytes at which the file is rotated; 0 means
	// DefaultLogMaxSize.
	MaxSize int64
	// MaxFiles is how many ccr-*.log files the directory keeps, the
	// current one included; older ones are deleted at each rotation. 0
	// means DefaultLogMaxFiles.
	MaxFiles int
	// Errors receives a line when writing fails, at most once a minute.
	// nil means the failures are only counted.
	Errors io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// LogFile is an io.Writer of log lines to ccr-YYYYMMDDHHmmss.log files in a
// directory, rotated when a file reaches its size limit or a new (local)
// day begins, keeping a bounded number of files. It is safe for
// concurrent use; each Write should be one whole line, as slog handlers
// write them.
//
// A LogFile never fails its caller: when the disk fails, lines are
// dropped and counted (see [LogFile.Dropped]), the error is reported to
// LogFileOptions.Errors at most once a minute, and a new file is tried
// every few seconds.
type LogFile struct {
	dir  string
	opts LogFileOptions

	mu         sync.Mutex
	f          *os.File
	name       string // base name of the current (or last) file
	size       int64
	opened     time.Time
	lastOpen   time.Time // last attempt to open a file
	lastReport time.Time
	closed     bool

	dropped atomic.Int64
}

// OpenLogFile creates dir (0700) if needed, opens a new log file in it and
// deletes the oldest files beyond the limit.
func OpenLogFile(dir string, opts LogFileOptions) (*LogFile, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultLogMaxSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultLogMaxFiles
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &LogFile{dir: dir, opts: opts}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ccr: log directory: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.open(opts.Now()); err != nil {
		return nil, err
	}
	return l, nil
}

// Dir returns the directory of the log files.
func (l *LogFile) Dir() string { return l.dir }

// Name returns the base name of the file being written.
func (l *LogFile) Name() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name
}

// Dropped returns how many lines could not be written.
func (l *LogFile) Dropped() int64 { return l.dropped.Load() }

// Write writes one log line. It always reports success: a line the disk
// refuses is dropped and counted.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		l.dropped.Add(1)
		return len(p), nil
	}
	now := l.opts.Now()
	if l.f != nil && ((l.size > 0 && l.size+int64(len(p)) > l.opts.MaxSize) || !sameDay(now, l.opened)) {
		l.closeFile()
		l.lastOpen = time.Time{} // rotate now
	}
	if l.f == nil {
		if !l.lastOpen.IsZero() && now.Sub(l.lastOpen) < logReopenInterval {
			l.dropped.Add(1)
			return len(p), nil
		}
		if err := l.open(now); err != nil {
			l.fail(now, err)
			return len(p), nil
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	if err != nil {
		l.fail(now, err)
		l.closeFile()
		l.lastOpen = now
	}
	return len(p), nil
}

// Close closes the current file. Later writes are dropped.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// truncated tells l that the file name was emptied behind its back.
func (l *LogFile) truncated(name string) {
	l.mu.Lock()
	if name == l.name {
		l.size = 0
	}
	l.mu.Unlock()
}

func (l *LogFile) fail(now time.Time, err error) {
	n := l.dropped.Add(1)
	if l.opts.Errors != nil && (l.lastReport.IsZero() || now.Sub(l.lastReport) >= logReportInterval) {
		l.lastReport = now
		fmt.Fprintf(l.opts.Errors, "ccr: log file: %v (log lines dropped so far: %d)\n", err, n)
	}
}

func (l *LogFile) closeFile() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// open starts a new file named after now. The caller holds l.mu.
func (l *LogFile) open(now time.Time) error {
	l.lastOpen = now
	stamp := now.Format(logFileTimeFormat)
	var f *os.File
	var name string
	var err error
	for i := 0; i < 1000; i++ {
		name = "ccr-" + stamp + ".log"
		if i > 0 {
			name = fmt.Sprintf("ccr-%s_%d.log", stamp, i)
		}
		f, err = os.OpenFile(filepath.Join(l.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("ccr: open log file: %w", err)
	}
	l.f, l.name, l.size, l.opened = f, name, 0, now
	l.prune()
	return nil
}

// prune deletes the oldest ccr-*.log files beyond MaxFiles, never the
// current one.
func (l *LogFile) prune() {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return
	}
	type logEntry struct {
		name string
		mod  time.Time
	}
	var files []logEntry
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, "ccr-") || !strings.HasSuffix(n, ".log") || n == l.name {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, logEntry{n, info.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool {
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.After(files[j].mod)
		}
		return files[i].name > files[j].name
	})
	for _, f := range files[min(len(files), l.opts.MaxFiles-1):] {
		os.Remove(filepath.Join(l.dir, f.name))
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// Redactor replaces known secrets (provider keys, the APIKEY) in log
// records with "[REDACTED]". The router never logs a key on purpose; a
// Redactor is the second line of defence against one quoted in an error,
// a URL or an upstream body. The zero value is ready to use and redacts
// nothing; it is safe for concurrent use.
type Redactor struct {
	mu       sync.Mutex
	secrets  map[string]bool
	patterns atomic.Pointer[[]string] // longest first
}

// minSecretLen is the shortest secret a Redactor replaces, as the
// provider's own error redaction does.
const minSecretLen = 4

// Add adds secrets to redact. Secrets shorter than four bytes are
// ignored: replacing them would mangle ordinary words.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		if len(s) < minSecretLen || r.secrets[s] {
			continue
		}
		if r.secrets == nil {
			r.secrets = make(map[string]bool)
		}
		r.secrets[s] = true
		changed = true
	}
	if !changed {
		return
	}
	var ps []string
	seen := make(map[string]bool)
	for s := range r.secrets {
		// The secret as written, and as it appears inside a JSON string.
		forms := []string{s}
		if b, err := json.Marshal(s); err == nil {
			if q := string(b[1 : len(b)-1]); q != s {
				forms = append(forms, q)
			}
		}
		for _, f := range forms {
			if !seen[f] {
				seen[f] = true
				ps = append(ps, f)
			}
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if len(ps[i]) != len(ps[j]) {
			return len(ps[i]) > len(ps[j])
		}
		return ps[i] < ps[j]
	})
	r.patterns.Store(&ps)
}

// AddConfig adds the secrets of cfg: its APIKey and every provider key.
// Keys are only ever added, so that the keys of a replaced configuration,
// which requests still in flight may use, stay redacted.
func (r *Redactor) AddConfig(cfg *Config) {
	ss := []string{string(cfg.APIKey)}
	for _, p := range cfg.Providers {
		for _, k := range p.APIKeys {
			ss = append(ss, string(k))
		}
	}
	r.Add(ss...)
}

// Redact returns s with every known secret replaced by "[REDACTED]".
func (r *Redactor) Redact(s string) string {
	p := r.patterns.Load()
	if p == nil {
		return s
	}
	return redactWith(*p, s)
}

func redactWith(patterns []string, s string) string {
	for _, p := range patterns {
		if strings.Contains(s, p) {
			s = strings.ReplaceAll(s, p, "[REDACTED]")
		}
	}
	return s
}

// Handler returns a slog.Handler that redacts the message and every
// string, error and structured attribute of each record before passing
// it to h. Attributes added with WithAttrs are redacted with the secrets
// known at that time.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &redactHandler{h: h, r: r}
}

type redactHandler struct {
	h slog.Handler
	r *Redactor
}

func (h *redactHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.h.Enabled(ctx, level)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	p := h.r.patterns.Load()
	if p == nil {
		return h.h.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, redactWith(*p, rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(*p, a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if p := h.r.patterns.Load(); p != nil {
		red := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			red[i] = redactAttr(*p, a)
		}
		attrs = red
	}
	return &redactHandler{h: h.h.WithAttrs(attrs), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: h.h.WithGroup(name), r: h.r}
}

func redactAttr(patterns []string, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redactWith(patterns, v.String()))
	case slog.KindGroup:
		as := v.Group()
		red := make([]slog.Attr, len(as))
		for i, g := range as {
			red[i] = redactAttr(patterns, g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, redactWith(patterns, x.Error()))
		case []byte:
			return slog.String(a.Key, redactWith(patterns, string(x)))
		default:
			// Structured values are written as JSON by the JSON handler;
			// when their encoding quotes a secret, write the redacted
			// encoding instead.
			b, err := json.Marshal(x)
			if err != nil {
				s := fmt.Sprint(x)
				if r := redactWith(patterns, s); r != s {
					return slog.String(a.Key, r)
				}
				return slog.Attr{Key: a.Key, Value: v}
			}
			if r := redactWith(patterns, string(b)); r != string(b) {
				return slog.Any(a.Key, json.RawMessage(r))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// ServerLogs is a ccr server's logging: slog JSON lines to a rotating
// [LogFile] (or to stderr when LOG is false or the directory cannot be
// used), at the level of the last applied configuration, with every
// known key redacted.
type ServerLogs struct {
	// Logger is the logger to give the Router (see [ServerLogs.Prepare]).
	Logger *slog.Logger
	// File is the log file being written; nil when logging to stderr.
	File *LogFile

	level    slog.LevelVar
	redactor Redactor
}

// OpenServerLogs sets up logging for cfg: files in dir when cfg.Log is
// true, stderr otherwise, and the level of cfg.LogLevel. When the
// directory cannot be used it logs to stderr and says so there: a server
// does not fail to start for want of a log file.
func OpenServerLogs(cfg *Config, dir string, stderr io.Writer) *ServerLogs {
	l := &ServerLogs{}
	l.level.Set(LogLevel(cfg.LogLevel))
	var out io.Writer = stderr
	if cfg.Log && dir != "" {
		f, err := OpenLogFile(dir, LogFileOptions{Errors: stderr})
		if err != nil {
			fmt.Fprintf(stderr, "ccr: warning: %v; logging to stderr\n", err)
		} else {
			l.File, out = f, f
		}
	}
	l.Logger = slog.New(l.redactor.Handler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: &l.level})))
	l.redactor.AddConfig(cfg)
	return l
}

// Prepare gives cfg the logger and adds its keys to the redaction list.
// Call it on every configuration read, before it is validated or applied.
func (l *ServerLogs) Prepare(cfg *Config) {
	cfg.Logger = l.Logger
	l.redactor.AddConfig(cfg)
}

// Apply sets the level of cfg.LogLevel. Call it when cfg becomes live.
// A change of LOG (files or stderr) takes effect at the next start.
func (l *ServerLogs) Apply(cfg Config) {
	l.level.Set(LogLevel(cfg.LogLevel))
}

// Redact returns s with every known key replaced by "[REDACTED]".
func (l *ServerLogs) Redact(s string) string { return l.redactor.Redact(s) }

// Close closes the log file.
func (l *ServerLogs) Close() error {
	if l.File == nil {
		return nil
	}
	return l.File.Close()
}

// LogLevel returns the slog level for a LOG_LEVEL value: debug, info,
// warn or error (case-insensitive; trace is debug and fatal is error).
// Anything else, including "", is info.
func LogLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug", "trace":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error", "fatal":
		return slog.LevelError
	}
	return slog.LevelInfo
}
