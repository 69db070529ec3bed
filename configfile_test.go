package ccr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteConfigFile(t *testing.T) {
	t.Parallel()
	t.Run("new file and directory", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "a", "b", "config.json")
		if err := WriteConfigFile(path, []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
		if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
			t.Errorf("directory mode = %v, want 0700", di.Mode().Perm())
		}
		if names := logNames(t, filepath.Dir(path)); len(names) != 1 {
			t.Errorf("directory holds %q, want only config.json", names)
		}
	})
	t.Run("keeps the mode and backs up", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "config.json")
		os.WriteFile(path, []byte("old"), 0o644)
		os.Chmod(path, 0o644)
		if err := WriteConfigFile(path, []byte("new")); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if string(b) != "new" || fi.Mode().Perm() != 0o644 {
			t.Errorf("file = %q mode %v", b, fi.Mode().Perm())
		}
		bs, _ := configBackups(path)
		if len(bs) != 1 {
			t.Fatalf("backups = %q", bs)
		}
		bb, _ := os.ReadFile(bs[0])
		bi, _ := os.Stat(bs[0])
		if string(bb) != "old" || bi.Mode().Perm() != 0o644 {
			t.Errorf("backup = %q mode %v", bb, bi.Mode().Perm())
		}
	})
	t.Run("through a symlink", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		target := filepath.Join(dir, "dotfiles", "ccr.json")
		os.MkdirAll(filepath.Dir(target), 0o700)
		os.WriteFile(target, []byte("old"), 0o600)
		link := filepath.Join(dir, "config.json")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := WriteConfigFile(link, []byte("new")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Error("the symlink was replaced by a file")
		}
		if b, _ := os.ReadFile(target); string(b) != "new" {
			t.Errorf("target = %q", b)
		}
	})
	t.Run("not a regular file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "config.json")
		os.Mkdir(path, 0o700)
		if err := WriteConfigFile(path, []byte("{}")); err == nil {
			t.Error("writing over a directory succeeded")
		}
	})
}

func TestConfigBackupsOrderAndCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte("v0"), 0o600)
	clock := time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC)
	steps := []time.Duration{0, 0, time.Hour, -2 * time.Hour, 0} // a stopped clock, then one that goes back
	for i, d := range steps {
		clock = clock.Add(d)
		if err := writeConfigFile(path, []byte("v"+string(rune('1'+i))), func() time.Time { return clock }); err != nil {
			t.Fatal(err)
		}
	}
	bs, _ := configBackups(path)
	var got []string
	for _, b := range bs {
		c, _ := os.ReadFile(b)
		got = append(got, string(c))
	}
	if strings.Join(got, ",") != "v2,v3,v4" {
		t.Errorf("backups hold %q (%q), want the newest three in order", got, bs)
	}
	if b, _ := os.ReadFile(path); string(b) != "v5" {
		t.Errorf("file = %q", b)
	}
	// Other files of the directory are not touched.
	os.WriteFile(filepath.Join(dir, "config.json.notes"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "other.json.2020.bak"), nil, 0o600)
	writeConfigFile(path, []byte("v6"), func() time.Time { return clock })
	for _, keep := range []string{"config.json.notes", "other.json.2020.bak"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s was removed", keep)
		}
	}
}
