//go:build !race

package acceptance

// raceEnabled is whether the race detector is on: the tests that make a
// million operations make fewer under it, to fit CI's time.
const raceEnabled = false
