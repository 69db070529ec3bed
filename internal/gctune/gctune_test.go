package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name                  string
		live, stacks, globals uint64
		want                  int
	}{
		// The allowance over next to nothing would be GOGC 8000; Go's
		// 4 MiB × GOGC/100 floor then makes the goal the allowance.
		{"start", 100 << 10, 0, 100 << 10, 200},
		// Idle, the tokenizer loaded: the heap may grow by the allowance.
		{"idle", 5*mb + mb/2, 30 << 10, mb / 2, 133},
		// 500 open streams: still the allowance, a third of the growth
		// GOGC=100 would allow.
		{"500 streams", 19 * mb, 5 * mb, mb / 2, 33},
		// Beyond it, a quarter of the live heap and stacks.
		{"1000 streams", 36 * mb, 10 * mb, mb / 2, 25},
		{"4000 streams", 120 * mb, 40 * mb, mb / 2, 25},
		{"stacks galore", 40 * mb, 400 * mb, 0, 25},
	} {
		if got := Percent(tc.live, tc.stacks, tc.globals); got != tc.want {
			t.Errorf("%s: Percent(%d, %d, %d) = %d; want %d", tc.name, tc.live, tc.stacks, tc.globals, got, tc.want)
		}
	}
}

// gcPercent reads the collector's setting.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// The tests below change the process's collector: none runs in parallel.

func TestStartTunesAfterEachCollection(t *testing.T) {
	before := gcPercent()
	stop := Start(env(nil))
	// The finalizer goroutine tunes after the collection.
	var p int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		runtime.GC()
		if p = gcPercent(); p != 100 {
			break
		}
	}
	// This test binary has next to nothing live: the upper bound.
	if p != 200 {
		t.Errorf("GOGC = %d after a collection; want 200", p)
	}
	stop()
	if p := gcPercent(); p != before {
		t.Errorf("GOGC = %d after stop; want %d, the setting before Start", p, before)
	}
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if p := gcPercent(); p != before {
		t.Errorf("GOGC = %d after stop and a collection; want %d", p, before)
	}
}

func TestStartLeavesTheUsersChoice(t *testing.T) {
	before := gcPercent()
	for _, e := range []map[string]string{{"GOGC": "off"}, {"GOMEMLIMIT": "512MiB"}} {
		stop := Start(env(e))
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := gcPercent(); p != before {
			t.Errorf("%v: GOGC = %d; want %d, untouched", e, p, before)
		}
		stop()
	}
}
