package greylist

import (
	"context"
	"net/netip"
	"strconv"
	"time"
)

// A Store keeps the greylisting history. Observe records one sighting of a
// triplet and says what the history makes of it, applying Rules in one
// atomic step, so that several engines sharing a store (several MX hosts on
// one Redis) see one consistent history: of two simultaneous first
// sightings, one is Deferred and the other Early.
//
// The rules every Store applies, with t the time of the sighting:
//
//   - If the client network has an auto-allow record that has not expired
//     and counts AutoAllow passes (AutoAllow > 0), the result is
//     AutoAllowed and the record's expiry becomes t+Lifetime.
//   - A triplet with no record, or an expired one, gets a pending record
//     first seen at t, expiring at t+RetryWindow: Deferred.
//   - A pending record first seen less than Delay ago: Early, nothing
//     changes (the first sighting is not reset, as in postgrey).
//   - A pending record first seen at least Delay ago: Passed; a record
//     that passed before: Known. Either way the record is now passed and
//     expires at t+Lifetime, and, when AutoAllow > 0, the network's count
//     of passes grows by one unless it grew less than CountEvery ago; its
//     record expires at t+Lifetime.
//
// Times come only from the t passed in, never from a clock, so that tests
// are deterministic; a store may also expire records by the wall clock
// after their lifetime (Redis key TTLs do).
type Store interface {
	Observe(ctx context.Context, k Key, t time.Time, r Rules) (Outcome, error)
}

// Key names a triplet in a Store without holding its addresses.
type Key struct {
	Net     netip.Prefix // the client network (the client address masked)
	Triplet [16]byte     // SHA-256 of network, normalised sender and recipient, truncated
}

// Rules are the timings a Store applies, resolved from Options.
type Rules struct {
	Delay       time.Duration // minimum wait before a retry passes
	RetryWindow time.Duration // how long a pending triplet waits for its retry
	Lifetime    time.Duration // how long a passed triplet or network is remembered
	AutoAllow   int           // passes after which the network is allowed; 0 = never
	CountEvery  time.Duration // passes of one network are counted at most this often
}

// Outcome is what a Store made of a sighting.
type Outcome struct {
	State State
	First time.Time // when the triplet was first seen; zero for AutoAllowed
}

// State is the greylisting state of a sighting.
type State uint8

const (
	Deferred    State = iota // first sighting, or the first after the record expired
	Early                    // retry before Delay
	Passed                   // first retry after Delay
	Known                    // a triplet that passed before
	AutoAllowed              // the client network is auto-allowed
)

var stateNames = [...]string{"deferred", "early", "passed", "known", "auto-allowed"}

// String returns the state's name: "deferred", "early", "passed", "known"
// or "auto-allowed".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}
