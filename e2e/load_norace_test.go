//go:build !race

package e2e

// raceEnabled: see load_race_test.go.
const raceEnabled = false
