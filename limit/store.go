package limit

import (
	"context"
	"time"
)

// OpKind is what an Op does to its counter.
type OpKind uint8

const (
	// Take counts N events if they fit the Rate (see Allow).
	Take OpKind = iota
	// Peek says whether N events would fit the Rate, counting nothing.
	Peek
	// Acquire takes a lease named Lease, for TTL, if fewer than Max
	// unexpired leases are held; taking a lease already held renews it.
	Acquire
	// Release gives a lease back.
	Release
)

// Op is one operation of a decision on one counter: the request fields
// are set by the caller, the result fields by the Store.
type Op struct {
	Key   Key
	Kind  OpKind
	Rate  Rate          // Take, Peek
	N     int           // Take, Peek: events
	Max   int           // Acquire: leases allowed at once
	Lease string        // Acquire, Release: the lease's name, unique per connection
	TTL   time.Duration // Acquire: the lease's life

	OK    bool          // Take, Peek: the events fit; Acquire: the lease is held
	Left  int           // Take, Peek: single events that still fit; Acquire, Release: leases held
	Retry time.Duration // Take, Peek: when not OK, how long until the events would fit; when OK and Left is 0, until one more would
}

// A Store keeps counters. Do carries out ops, each on its own counter, as
// one decision at time now: on a shared store, in one round trip. The
// ops are independent: one that does not fit does not undo another. Do
// returns an error only when it could not decide (the result fields are
// then unspecified). Counters are compared in whole microseconds.
//
// Stores must be safe for concurrent use.
type Store interface {
	Do(ctx context.Context, now time.Time, ops []Op) error
}
