package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func logNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestLogFileNameAndMode(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	clock := &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)}
	lf, err := OpenLogFile(dir, LogFileOptions{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if lf.Name() != "ccr-20260304050607.log" {
		t.Errorf("Name() = %q", lf.Name())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, want 0700", di.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(dir, lf.Name())); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, want 0600", fi.Mode().Perm())
	}
	// A second file opened in the same second does not reuse the name.
	lf2, err := OpenLogFile(dir, LogFileOptions{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer lf2.Close()
	if lf2.Name() != "ccr-20260304050607_1.log" {
		t.Errorf("second Name() = %q", lf2.Name())
	}
}

func TestLogFileRotatesBySizeAndKeepsMaxFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)}
	lf, err := OpenLogFile(dir, LogFileOptions{MaxSize: 100, MaxFiles: 3, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	line := []byte(strings.Repeat("a", 39) + "\n") // 40 bytes: two per file
	for i := range 10 {
		if n, err := lf.Write(line); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		clock.advance(time.Second)
		_ = i
	}
	names := logNames(t, dir)
	if len(names) != 3 {
		t.Fatalf("files = %q, want 3", names)
	}
	for _, n := range names {
		fi, _ := os.Stat(filepath.Join(dir, n))
		if fi.Size() > 100 || fi.Size()%40 != 0 {
			t.Errorf("%s has %d bytes", n, fi.Size())
		}
	}
	if names[2] != lf.Name() || lf.Name() != "ccr-20260304050615.log" {
		t.Errorf("files %q, current %q: want the newest kept", names, lf.Name())
	}
	// A single line larger than the limit is still written.
	big := []byte(strings.Repeat("b", 300) + "\n")
	lf.Write(big)
	lf.Write(line)
	if lf.Dropped() != 0 {
		t.Errorf("Dropped() = %d", lf.Dropped())
	}
}

func TestLogFileRotatesAtMidnight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 3, 4, 23, 59, 58, 0, time.Local)}
	lf, err := OpenLogFile(dir, LogFileOptions{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lf.Write([]byte("before\n"))
	clock.advance(time.Second)
	lf.Write([]byte("still the same day\n"))
	clock.advance(2 * time.Second)
	lf.Write([]byte("after\n"))
	names := logNames(t, dir)
	if !slices.Equal(names, []string{"ccr-20260304235958.log", "ccr-20260305000001.log"}) {
		t.Fatalf("files = %q", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, names[1]))
	if string(b) != "after\n" {
		t.Errorf("new day's file = %q", b)
	}
}

// TestLogFileDiskFailure: when the directory goes away, lines are dropped
// and counted, Write still succeeds, the error is reported at most once a
// minute, and logging resumes once a file can be opened again.
func TestLogFileDiskFailure(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	clock := &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)}
	var errs bytes.Buffer
	lf, err := OpenLogFile(dir, LogFileOptions{MaxSize: 10, Now: clock.now, Errors: &errs})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lf.Write([]byte("first line\n"))
	os.RemoveAll(dir) // the next rotation cannot open a file
	for range 20 {
		clock.advance(time.Second)
		if n, err := lf.Write([]byte("lost\n")); n != 5 || err != nil {
			t.Fatalf("Write = %d, %v; want success", n, err)
		}
	}
	if lf.Dropped() != 20 {
		t.Errorf("Dropped() = %d, want 20", lf.Dropped())
	}
	if got := strings.Count(errs.String(), "\n"); got != 1 {
		t.Errorf("reported %d times in 20s, want once:\n%s", got, errs.String())
	}
	clock.advance(time.Minute)
	lf.Write([]byte("lost\n"))
	if got := strings.Count(errs.String(), "\n"); got != 2 || !strings.Contains(errs.String(), "dropped so far: 21") {
		t.Errorf("after a minute: %q", errs.String())
	}
	os.MkdirAll(dir, 0o700)
	clock.advance(logReopenInterval)
	lf.Write([]byte("back\n"))
	b, err := os.ReadFile(filepath.Join(dir, lf.Name()))
	if err != nil || string(b) != "back\n" {
		t.Errorf("after recovery: %q, %v", b, err)
	}
}

// TestLogFileWriteError: a write the disk refuses (a full disk) is
// dropped and reported, never returned.
func TestLogFileWriteError(t *testing.T) {
	t.Parallel()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	var errs bytes.Buffer
	lf, err := OpenLogFile(t.TempDir(), LogFileOptions{Errors: &errs})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lf.mu.Lock()
	lf.f.Close()
	lf.f = full
	lf.mu.Unlock()
	if n, err := lf.Write([]byte("x\n")); n != 2 || err != nil {
		t.Errorf("Write = %d, %v", n, err)
	}
	lf.Write([]byte("y\n")) // within the reopen interval: dropped quietly
	if lf.Dropped() != 2 || !strings.Contains(errs.String(), "no space left") || strings.Count(errs.String(), "\n") != 1 {
		t.Errorf("Dropped() = %d, errors %q", lf.Dropped(), errs.String())
	}
}

// TestLogFileConcurrent: lines written from many goroutines, across
// rotations, arrive whole and none is lost.
func TestLogFileConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lf, err := OpenLogFile(dir, LogFileOptions{MaxSize: 4 << 10, MaxFiles: 1000})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(lf, nil))
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				logger.Info("line", "w", w, "i", i, "pad", strings.Repeat("p", 50))
			}
		})
	}
	wg.Wait()
	lf.Close()
	seen := make(map[string]bool)
	for _, n := range logNames(t, dir) {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if len(b) > 4<<10 {
			t.Errorf("%s has %d bytes, over the limit", n, len(b))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var rec struct{ W, I int }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("torn line in %s: %q", n, line)
			}
			seen[fmt.Sprint(rec.W, rec.I)] = true
		}
	}
	if len(seen) != workers*each || lf.Dropped() != 0 {
		t.Errorf("%d distinct lines, %d dropped; want %d, 0", len(seen), lf.Dropped(), workers*each)
	}
	if n := lf.Dropped(); n != 0 {
		t.Errorf("Dropped() = %d", n)
	}
	lf.Write([]byte("after close\n"))
	if lf.Dropped() != 1 {
		t.Error("a write after Close was not counted as dropped")
	}
}

type leakyError struct{ s string }

func (e leakyError) Error() string { return "dial failed for " + e.s }

func TestRedactor(t *testing.T) {
	t.Parallel()
	const key = "sk-abcdef123456"
	var r Redactor
	r.AddConfig(&Config{APIKey: "client-key-77", Providers: []ProviderConfig{{APIKeys: []Secret{key, "abc"}}}})
	r.Add(`quote"<key>`)
	if got := r.Redact("a " + key + " b client-key-77 abc"); got != "a [REDACTED] b [REDACTED] abc" {
		t.Errorf("Redact = %q (short secrets stay)", got)
	}

	var buf bytes.Buffer
	logger := slog.New(r.Handler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	logger = logger.With("pre", "with "+key)
	logger.WithGroup("grp").Debug("msg "+key,
		"s", key,
		"err", leakyError{key},
		"wrapped", fmt.Errorf("ctx: %w", errors.New(key)),
		"bytes", []byte("x"+key),
		"group", slog.GroupValue(slog.String("inner", key), slog.Int("n", 1)),
		"any", map[string]any{"k": key, "q": `quote"<key>`},
		"secret", Secret("whatever"),
		"n", 42,
		"clean", map[string]int{"a": 1},
	)
	out := buf.String()
	if strings.Contains(out, key) || strings.Contains(out, "quote") || strings.Contains(out, "whatever") {
		t.Errorf("leak: %s", out)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, out)
	}
	grp, _ := rec["grp"].(map[string]any)
	if rec["msg"] != "msg [REDACTED]" || rec["pre"] != "with [REDACTED]" || grp == nil || grp["s"] != "[REDACTED]" ||
		grp["err"] != "dial failed for [REDACTED]" || grp["n"] != float64(42) || grp["secret"] != "REDACTED" {
		t.Errorf("record = %s", out)
	}
	if clean, ok := grp["clean"].(map[string]any); !ok || clean["a"] != float64(1) {
		t.Errorf("a structured value without secrets must stay structured: %s", out)
	}
	if any, ok := grp["any"].(map[string]any); !ok || any["k"] != "[REDACTED]" {
		t.Errorf("a structured value with a secret must stay JSON, redacted: %s", out)
	}
}

func TestRedactorEmptyPassesThrough(t *testing.T) {
	t.Parallel()
	var r Redactor
	var buf bytes.Buffer
	h := r.Handler(slog.NewJSONHandler(&buf, nil))
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled must follow the wrapped handler")
	}
	slog.New(h).Info("hello", "k", "v")
	if !strings.Contains(buf.String(), `"msg":"hello","k":"v"`) {
		t.Errorf("out = %s", buf.String())
	}
}

func TestLogLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{
		"": slog.LevelInfo, "info": slog.LevelInfo, "debug": slog.LevelDebug, "DEBUG": slog.LevelDebug, "trace": slog.LevelDebug,
		"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError, "fatal": slog.LevelError, "bogus": slog.LevelInfo,
	} {
		if got := LogLevel(in); got != want {
			t.Errorf("LogLevel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestServerLogs(t *testing.T) {
	t.Parallel()
	t.Run("files", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "logs")
		var stderr bytes.Buffer
		cfg := Config{Log: true, APIKey: "the-client-key"}
		l := OpenServerLogs(&cfg, dir, &stderr)
		defer l.Close()
		if l.File == nil {
			t.Fatalf("no file: %s", stderr.String())
		}
		l.Logger.Debug("hidden at info")
		l.Logger.Info("shown", "k", "the-client-key")
		next := Config{LogLevel: "debug", Providers: []ProviderConfig{{APIKeys: []Secret{"sk-new-provider"}}}}
		l.Prepare(&next)
		if next.Logger != l.Logger {
			t.Error("Prepare did not set the logger")
		}
		l.Logger.Debug("still hidden: not applied yet", "k", "sk-new-provider")
		l.Apply(next)
		l.Logger.Debug("debug now", "k", "sk-new-provider")
		b, _ := os.ReadFile(filepath.Join(dir, l.File.Name()))
		out := string(b)
		if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || !strings.Contains(out, "debug now") ||
			strings.Contains(out, "the-client-key") || strings.Contains(out, "sk-new-provider") || stderr.Len() != 0 {
			t.Errorf("log file:\n%s\nstderr: %s", out, stderr.String())
		}
	})
	t.Run("LOG false", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "logs")
		var stderr bytes.Buffer
		l := OpenServerLogs(&Config{Log: false, LogLevel: "warn"}, dir, &stderr)
		defer l.Close()
		l.Logger.Info("quiet")
		l.Logger.Warn("loud")
		if l.File != nil || !strings.Contains(stderr.String(), `"msg":"loud"`) || strings.Contains(stderr.String(), "quiet") {
			t.Errorf("File %v, stderr %q", l.File, stderr.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Error("LOG: false created the log directory")
		}
	})
	t.Run("unusable directory", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "not-a-dir")
		os.WriteFile(file, nil, 0o600)
		var stderr bytes.Buffer
		l := OpenServerLogs(&Config{Log: true}, filepath.Join(file, "logs"), &stderr)
		defer l.Close()
		l.Logger.Info("to stderr")
		if l.File != nil || !strings.Contains(stderr.String(), "logging to stderr") || !strings.Contains(stderr.String(), `"msg":"to stderr"`) {
			t.Errorf("stderr = %q", stderr.String())
		}
	})
}
