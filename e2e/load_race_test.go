//go:build race

package e2e

// raceEnabled scales the load test down under the race detector, which
// allows at most 8,128 live goroutines; the full load runs without -race.
const raceEnabled = true
