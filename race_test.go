//go:build race

package ccr

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put back, so tests that count allocations skip under it.
const raceEnabled = true
