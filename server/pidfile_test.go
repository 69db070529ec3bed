package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPIDFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, pidFileName)
	want := pidRecord{PID: 42, Addr: "127.0.0.1:3456", Token: "t1", Config: "/c.json", Flags: []string{"-port", "1"}, Started: time.Unix(1700000000, 0).UTC(), Version: "x"}
	if err := writePIDFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, _, err := readPIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.PID != want.PID || got.Addr != want.Addr || got.Token != want.Token || got.Config != want.Config ||
		strings.Join(got.Flags, " ") != "-port 1" || !got.Started.Equal(want.Started) {
		t.Errorf("readPIDFile = %+v, want %+v", got, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("PID file mode %o, want 600", perm)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("PID dir mode %o, want 700", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the PID file (no temporary files left)", len(entries))
	}

	// Only the run that wrote it removes it.
	removePIDFileOf(path, "other-token")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("removePIDFileOf with another token removed the file: %v", err)
	}
	removePIDFileOf(path, "t1")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("removePIDFileOf with its token left the file: %v", err)
	}
}

func TestReadPIDFileFormats(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, content string
		legacy, bad   bool
		pid           int
	}{
		{name: "ours", content: `{"pid":7,"addr":"127.0.0.1:1","token":"x"}`, pid: 7},
		{name: "legacy number", content: "1234\n", legacy: true, pid: 1234},
		{name: "no token", content: `{"pid":7,"addr":"127.0.0.1:1"}`, bad: true},
		{name: "no addr", content: `{"pid":7,"token":"x"}`, bad: true},
		{name: "negative", content: "-5", bad: true},
		{name: "garbage", content: "hello", bad: true},
		{name: "empty", content: "", bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pid")
			os.WriteFile(path, []byte(c.content), 0o600)
			rec, data, err := readPIDFile(path)
			switch {
			case c.legacy && err != errLegacyPIDFile, c.bad && (err == nil || err == errLegacyPIDFile), !c.legacy && !c.bad && err != nil:
				t.Fatalf("readPIDFile(%q) err = %v", c.content, err)
			}
			if rec.PID != c.pid {
				t.Errorf("pid = %d, want %d", rec.PID, c.pid)
			}
			if string(data) != c.content {
				t.Errorf("data = %q", data)
			}
		})
	}
}

func TestDialAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:3456":   "127.0.0.1:3456",
		"0.0.0.0:3456":     "127.0.0.1:3456",
		"[::]:3456":        "127.0.0.1:3456",
		":3456":            "127.0.0.1:3456",
		"[::1]:3456":       "[::1]:3456",
		"192.168.1.5:8080": "192.168.1.5:8080",
		"example:1":        "example:1",
	} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
