//go:build !race

package resolver

// raceEnabled scales down tests that the race detector makes slow.
const raceEnabled = false
