//go:build !race

package ccr

// raceEnabled: see race_test.go.
const raceEnabled = false
