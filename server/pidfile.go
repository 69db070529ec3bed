package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccrgo/ccr"
)

// The PID file records which process serves, where, and a per-run token
// that the server echoes at instancePath. The command line signals a
// process only when all three agree, so a PID file left behind by a crash
// (whose PID the system may since have given to anything) is never a
// reason to kill something: it is stale, and removed.

// pidFileName is the reference's PID file name, in its home directory.
const pidFileName = ".claude-code-router.pid"

// instancePath is the public endpoint that identifies a running server.
const instancePath = "/health/instance"

// defaultPIDFile returns ~/.claude-code-router/.claude-code-router.pid.
func defaultPIDFile(home string) string {
	return filepath.Join(filepath.Dir(ccr.DefaultConfigPath(home)), pidFileName)
}

// pidRecord is the content of the PID file.
type pidRecord struct {
	PID     int       `json:"pid"`
	Addr    string    `json:"addr"`  // the listener's host:port
	Token   string    `json:"token"` // random per run; see instancePath
	Config  string    `json:"config"`
	Flags   []string  `json:"flags,omitempty"` // the serve flags, for restart
	Started time.Time `json:"started"`
	Version string    `json:"version"`
}

// instanceInfo is the answer of GET /health/instance.
type instanceInfo struct {
	PID     int    `json:"pid"`
	Token   string `json:"token"`
	Version string `json:"version"`
	Auth    string `json:"auth"` // api-key, loopback-only or setup
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writePIDFile writes rec atomically with mode 0600, creating the
// directory (0700) if needed.
func writePIDFile(path string, rec pidRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file in path's directory,
// syncs it and renames it over path, so that readers see the old or the
// new content, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// errLegacyPIDFile reports a PID file holding a bare number, as the
// reference's ccr writes it: it names a process but cannot prove which.
var errLegacyPIDFile = errors.New("PID file holds only a number (written by another ccr?)")

// readPIDFile reads the PID file. It returns the raw bytes too, so that a
// stale file can be removed only if nobody rewrote it meanwhile.
func readPIDFile(path string) (pidRecord, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, nil, err
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && n > 0 {
		return pidRecord{PID: n}, data, errLegacyPIDFile
	}
	var rec pidRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.PID <= 0 || rec.Addr == "" || rec.Token == "" {
		return pidRecord{}, data, fmt.Errorf("malformed PID file %s", path)
	}
	return rec, data, nil
}

// removeIfUnchanged removes path if it still holds data.
func removeIfUnchanged(path string, data []byte) {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		os.Remove(path)
	}
}

// removePIDFileOf removes the PID file if it still belongs to the run with
// token.
func removePIDFileOf(path, token string) {
	if rec, data, err := readPIDFile(path); err == nil && rec.Token == token {
		removeIfUnchanged(path, data)
	}
}

// runState is what the command line knows of a PID file.
type runState int

const (
	// stateNone: no PID file, or a stale one (now removed).
	stateNone runState = iota
	// stateRunning: the recorded process is alive and answered on the
	// recorded address with the recorded PID and token.
	stateRunning
	// stateUnknown: a live process holds the PID file but could not be
	// confirmed as this ccr (it did not answer in time, or the file is
	// the reference's format). It is left alone.
	stateUnknown
)

// probeResult describes the PID file and the process it names.
type probeResult struct {
	state runState
	rec   pidRecord
	info  instanceInfo // when running
	note  string       // why the state is what it is, for humans
}

// probe reads the PID file at path and checks the process it names: alive,
// and answering as the same ccr run on the recorded address. A stale file
// is removed.
func (c *cli) probe(ctx context.Context, path string) probeResult {
	rec, data, err := readPIDFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return probeResult{note: "no PID file"}
	case errors.Is(err, errLegacyPIDFile):
		if !c.alive(rec.PID) {
			removeIfUnchanged(path, data)
			return probeResult{rec: rec, note: fmt.Sprintf("removed a stale PID file (pid %d is not running)", rec.PID)}
		}
		return probeResult{state: stateUnknown, rec: rec, note: fmt.Sprintf("%s names live pid %d, which cannot be confirmed as ccr; it is left alone", path, rec.PID)}
	case err != nil:
		if data != nil {
			removeIfUnchanged(path, data)
			return probeResult{note: "removed a malformed PID file"}
		}
		return probeResult{state: stateUnknown, note: err.Error()}
	}
	if !c.alive(rec.PID) {
		removeIfUnchanged(path, data)
		return probeResult{rec: rec, note: fmt.Sprintf("removed a stale PID file (pid %d is not running)", rec.PID)}
	}
	info, err := c.instance(ctx, rec.Addr)
	switch {
	case err == nil && info.PID == rec.PID && info.Token == rec.Token:
		return probeResult{state: stateRunning, rec: rec, info: info}
	case err == nil:
		removeIfUnchanged(path, data)
		return probeResult{rec: rec, note: fmt.Sprintf("removed a stale PID file (pid %d is alive, but %s is served by another process)", rec.PID, rec.Addr)}
	case isRefused(err):
		removeIfUnchanged(path, data)
		return probeResult{rec: rec, note: fmt.Sprintf("removed a stale PID file (pid %d is alive, but nothing listens on %s)", rec.PID, rec.Addr)}
	}
	return probeResult{state: stateUnknown, rec: rec, note: fmt.Sprintf("pid %d is alive but did not answer as ccr on %s (%v); it is left alone", rec.PID, rec.Addr, err)}
}

// instance asks the server at addr who it is.
func (c *cli) instance(ctx context.Context, addr string) (instanceInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dialAddr(addr)+instancePath, nil)
	if err != nil {
		return instanceInfo{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return instanceInfo{}, err
	}
	defer resp.Body.Close()
	var info instanceInfo
	if resp.StatusCode != http.StatusOK {
		return info, nil // answered, but not as ccr: a zero PID never matches
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4096)).Decode(&info); err != nil {
		return instanceInfo{}, nil
	}
	return info, nil
}

// isRefused reports whether err means that nothing listens.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// dialAddr turns a listen address into one a client on this machine can
// dial: an unspecified host (0.0.0.0, ::) becomes loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// instanceHandler serves GET /health/instance for the running server.
func instanceHandler(rt *ccr.Router, token string) http.Handler {
	pid := os.Getpid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := "loopback-only"
		switch {
		case rt.Stats().SetupMode:
			auth = "setup"
		case rt.Config().APIKey != "":
			auth = "api-key"
		}
		w.Header().Set("Cache-Control", "no-store")
		ccr.WriteJSON(w, http.StatusOK, instanceInfo{PID: pid, Token: token, Version: ccr.Version, Auth: auth})
	})
}
