// Package gctune sizes the garbage collector's allowance for garbage for a
// server whose live heap grows with the streams it holds open.
//
// Go's default (GOGC=100) lets the heap grow between collections by as much
// as is live, plus the goroutine stacks: a server holding a thousand open
// streams, which are mostly live memory, may then take twice their memory.
// A tuned server lets the heap grow by a fixed allowance instead, or by a
// quarter of what is live once that is larger: memory grows with open
// streams by little more than what they hold, and collections come about as
// often as with the default while the live heap is small, as it is for
// short requests. The price is more frequent collections while many
// streams are open and new requests keep coming.
package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Allowance is the least the heap may grow by between collections.
const Allowance = 8 << 20

// Start tunes the collector after every collection, unless the GOGC or
// GOMEMLIMIT environment variable (read with getenv) is set: then the user
// has chosen and Start does nothing. stop ends the tuning and restores the
// collector's setting from before Start.
func Start(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := &tuner{
		before: debug.SetGCPercent(100),
		samples: []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/gc/scan/stack:bytes"},
			{Name: "/gc/scan/globals:bytes"},
		},
	}
	t.tune()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.stopped {
			t.stopped = true
			debug.SetGCPercent(t.before)
		}
	}
}

type tuner struct {
	mu      sync.Mutex
	before  int
	stopped bool
	samples []metrics.Sample
	percent int
}

// sentinel is the object whose collection marks the end of a cycle.
type sentinel struct {
	t *tuner
	_ [16]byte // not a tiny allocation, which may share a block and linger
}

// arm has the tuner run after the next collection: the garbage collector
// finds the sentinel unreachable, and its finalizer tunes and arms again.
func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		if s.t.tune() {
			s.t.arm()
		}
	})
}

// tune sets GOGC so that the next collection comes when the heap has grown
// by Percent's allowance. It reports false once the tuner is stopped.
func (t *tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	if p := Percent(v[0], v[1], v[2]); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
	return true
}

// Percent returns the GOGC under which the heap grows by Allowance before
// the next collection, or by a quarter of what is live, stacks and globals
// included, once that is more (GOGC=25). Go lets the heap grow by GOGC
// percent of the live heap plus the scanned stacks and globals.
func Percent(live, stacks, globals uint64) int {
	base := max(live+stacks+globals, 1)
	p := math.Round(100 * float64(Allowance) / float64(base))
	// Go also keeps the heap goal at least 4 MiB × GOGC/100: the upper
	// bound keeps that floor within the allowance while next to nothing is
	// live.
	return int(min(max(p, 25), 100*Allowance/(4<<20)))
}
