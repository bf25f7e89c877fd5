// Package limit decides whether a client is over its rate or concurrency
// limits: connections at once and per time from its address or network,
// messages and recipients per time from its network, its authenticated
// user or its envelope sender, recipients per time to one domain, and the
// failed AUTH attempts, unknown recipients and errors it has caused.
//
// A limit over a rate is a Rate: a number of events per period with a
// burst, applied with the generic cell rate algorithm (GCRA, the "virtual
// scheduling" form of ITU-T I.371 used by token-bucket limiters): an
// idle counter allows Burst events at once, then one every Per/Events. A
// limit over concurrency counts leases: a session holds one from its
// connection to its end, and a lease that is not renewed expires, so a
// server that crashes cannot keep a slot taken for ever.
//
// Counters live in a Store: NewMemory keeps them in the process (bounded,
// sharded), NewRedis in a Redis server that several MX hosts share, each
// decision one round trip.
//
// Over a limit the checks ask for a temporary refusal and never for a
// permanent one: a connection limit 421 4.7.0 (the server then closes the
// connection, as Postfix's anvil limits do), a message or recipient rate
// 450 4.7.1, failed AUTH attempts 454 4.7.0 before the next attempt and
// 421 4.7.0 after the failure that fills the counter. A Store that fails
// lets the client through (the result says so) unless Options.Defer.
//
// The practice: Postfix anvil(8) and smtpd_client_*_limit, Exim's
// ratelimit ACL condition, rspamd's ratelimit module (buckets in Redis),
// Haraka's limit plugin.
package limit

import (
	"time"
)

// Rate is a limit over a rate: Events per Per, with Burst events allowed
// at once after a quiet time. The zero Rate allows nothing.
type Rate struct {
	Events int
	Per    time.Duration
	Burst  int // events allowed at once from an idle counter; 0 means Events
}

// interval returns the time one event uses up (Per/Events) and the burst,
// in microseconds: both stores count in whole microseconds, so that they
// decide alike and Redis's Lua numbers (doubles) stay exact.
func (r Rate) interval() (t, burst int64) {
	if r.Events <= 0 || r.Per <= 0 {
		return 0, 0
	}
	t = max(r.Per.Microseconds()/int64(r.Events), 1)
	burst = int64(r.Burst)
	if burst <= 0 {
		burst = int64(r.Events)
	}
	return t, burst
}

// Allow applies a Rate to one counter: tat is the counter's theoretical
// arrival time (the zero Time for a counter never used), now the time of
// the n events. If they fit, ok is true and next is the counter's new
// theoretical arrival time; if not, next is tat unchanged, nothing is
// counted, and retry says how long until they would fit. left is the
// number of single events that would still fit at now after this
// decision; when it is 0 and ok, retry says how long until one would.
//
// The edge is exact: n events fit while tat+n*Per/Events (tat no earlier
// than now) is at most now+Burst*Per/Events, so from idle exactly Burst
// events fit at one instant and one more exactly Per/Events later, to
// the microsecond (the stores' resolution).
func Allow(tat, now time.Time, r Rate, n int) (next time.Time, ok bool, retry time.Duration, left int) {
	var t int64
	if !tat.IsZero() {
		t = tat.UnixMicro()
	}
	iv, burst := r.interval()
	nt, ok, rt, l := gcra(t, now.UnixMicro(), iv, burst, int64(n))
	left = int(l)
	if ok {
		next = time.UnixMicro(nt)
	} else {
		next = tat
	}
	return next, ok, time.Duration(rt) * time.Microsecond, left
}

// gcra is Allow in microseconds. The Lua script of the Redis store is the
// same arithmetic; keep them together.
func gcra(tat, now, interval, burst, n int64) (newTAT int64, ok bool, retry, left int64) {
	if interval <= 0 || burst <= 0 {
		return tat, false, 0, 0 // a zero Rate allows nothing, and never will
	}
	if tat < now {
		tat = now
	}
	tau := burst * interval
	nt := tat + n*interval
	if nt-now > tau {
		// left can only be negative when the rate changed to a smaller
		// burst since the counter was last used.
		return tat, false, nt - tau - now, max(now+tau-tat, 0) / interval
	}
	left = (now + tau - nt) / interval
	if left == 0 {
		retry = nt + interval - tau - now
	}
	return nt, true, retry, left
}
