package ccr

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ConfigBackups is how many backups of the config file WriteConfigFile
// keeps.
const ConfigBackups = 3

// backupTimeFormat names backups so that their lexical order is their
// age: config.json.2026-11-25T01-02-03.000Z.bak.
const backupTimeFormat = "2006-01-02T15-04-05.000Z"

// WriteConfigFile replaces the config file at path with data, the way the
// management API saves a configuration:
//
//   - the current file, if any, is first copied to
//     <path>.<UTC timestamp>.bak, and only the newest [ConfigBackups]
//     backups are kept;
//   - data is written to a temporary file in the same directory, synced,
//     and renamed over path, so that a reader sees the old file or the new
//     one, never a mix, and a crash leaves one of them;
//   - the new file keeps the old one's permissions, 0600 for a new file;
//     a missing directory is created 0700;
//   - when path is a symbolic link, the file it points to is replaced.
//
// WriteConfigFile does not validate data.
func WriteConfigFile(path string, data []byte) error {
	return writeConfigFile(path, data, time.Now)
}

func writeConfigFile(path string, data []byte, now func() time.Time) error {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ccr: config file: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ccr: config directory: %w", err)
	}
	perm := fs.FileMode(0o600)
	info, err := os.Stat(path)
	switch {
	case err == nil:
		if !info.Mode().IsRegular() {
			return fmt.Errorf("ccr: config file %s is not a regular file", path)
		}
		perm = info.Mode().Perm()
		if err := backupConfigFile(path, perm, now()); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("ccr: config file: %w", err)
	}
	if err := atomicWrite(path, data, perm); err != nil {
		return err
	}
	// Pruning is housekeeping: the new file is in place, so a backup that
	// cannot be deleted does not fail the save.
	pruneBackups(path, ConfigBackups)
	return nil
}

// atomicWrite writes data to path through a synced temporary file in the
// same directory and a rename, then syncs the directory.
func atomicWrite(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("ccr: write config: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("ccr: write config: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("ccr: write config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("ccr: write config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ccr: write config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("ccr: write config: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Some systems cannot sync a
// directory; the rename has happened anyway, so errors are ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// backupConfigFile copies path to a new timestamped backup and deletes
// all but the newest ConfigBackups backups.
func backupConfigFile(path string, perm fs.FileMode, now time.Time) error {
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ccr: back up config: %w", err)
	}
	defer src.Close()
	// The new backup must sort after every existing one, or pruning would
	// delete it: when the clock has not moved on (two saves within a
	// millisecond) or has gone back, take the newest backup's time plus a
	// millisecond.
	t := now.UTC()
	if bs, err := configBackups(path); err == nil && len(bs) > 0 {
		last := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(bs[len(bs)-1]), filepath.Base(path)+"."), ".bak")
		if lt, err := time.Parse(backupTimeFormat, last); err == nil && !t.After(lt) {
			t = lt.Add(time.Millisecond)
		}
	}
	var dst *os.File
	for i := 0; ; i++ {
		name := path + "." + t.Add(time.Duration(i)*time.Millisecond).Format(backupTimeFormat) + ".bak"
		dst, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i == 1000 {
			return fmt.Errorf("ccr: back up config: %w", err)
		}
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
		return fmt.Errorf("ccr: back up config: %w", err)
	}
	return nil
}

// configBackups returns the backups of the config file at path, oldest
// first.
func configBackups(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, base+".") && strings.HasSuffix(n, ".bak") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

func pruneBackups(path string, keep int) error {
	bs, err := configBackups(path)
	if err != nil {
		return fmt.Errorf("ccr: prune config backups: %w", err)
	}
	for len(bs) > keep {
		if err := os.Remove(bs[0]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ccr: prune config backups: %w", err)
		}
		bs = bs[1:]
	}
	return nil
}
