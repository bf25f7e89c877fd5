// Package greylist decides whether a delivery attempt from an unknown
// (client network, sender, recipient) triplet is refused for now, by
// greylisting (RFC 6647): a real MTA retries after a while, and the retry is
// accepted and remembered, while much spam software never retries.
//
// Check is the pure function; New makes a Checker, the verdict.Check for
// the Rcpt stage. The history lives in a Store: Memory (NewMemory,
// in-process, bounded, with snapshots to survive a restart) or Redis
// (NewRedis, shared by several MX hosts, one atomic round trip a check).
//
// The reference systems differ; the choices here, and why:
//
//   - Key: postgrey's, the client network (IPv4 /24, IPv6 /64) with the
//     normalised sender and the recipient. Not rspamd's body hash, which
//     lets one message to many recipients through after one retry
//     (rspamd#5410), nor Haraka's reverse-DNS host id, which needs the
//     result of another check; the prefix lengths are options (rspamd
//     uses /19).
//   - Timing: postgrey's: 5 minutes' delay, a 2-day retry window (Haraka:
//     25 hours, rspamd: 1 day), 35 days' memory after the last use (Haraka:
//     the same). An early retry does not reset the first sighting
//     (postgrey, Haraka); a retry after the window starts over (postgrey's
//     reset, Haraka's expired record).
//   - Auto-allow: postgrey's, by client network, after 5 passes counted at
//     most once an hour, for as long as the network keeps sending. Haraka
//     allows a host after a single pass, which a spammer retrying once
//     would earn.
//   - Who is greylisted: every unauthenticated, untrusted client, as
//     postgrey and Haraka do; rspamd greylists only suspicious mail, which
//     Options.Exempt can express (exempt a session whose score so far is
//     low). Authenticated sessions are exempt by default (rspamd, Haraka).
//   - Reply: 451 4.7.1, as rspamd's milter and Haraka; postgrey's
//     DEFER_IF_PERMIT (450) is a Postfix-ism that verdict.Policy makes
//     unnecessary, since a Reject demand from another check wins anyway.
//   - Store failure: accepted by default with a TempError result
//     (greylisting only delays, and an outage should not delay everyone);
//     Haraka's tempfail with Options.Defer.
//
// Keys are SHA-256 digests, so no store holds an address and no client can
// choose a triplet that collides with one that passed.
package greylist

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Triplet is what greylisting remembers: who sent, from where, to whom.
type Triplet struct {
	IP         netip.Addr
	From, Rcpt string
}

// Reasons of the results; reasonGreylisted is the text the client sees.
const (
	reasonGreylisted = "greylisted, try again later"
	reasonStore      = "greylist store failed"
)

var errNoStore = errors.New("greylist: no store")

// Check greylists one recipient of a transaction (RFC 6647): the first
// sighting of a triplet, and a retry sooner than o.Delay, get a TempFail
// demand (451 4.7.1 "greylisted, try again later"); a retry after the delay
// and within the retry window passes, and the triplet is remembered for
// o.Lifetime after each use. now is the time of the sighting.
//
// The triplet is keyed on the client's network (IPv4 /24, IPv6 /64 by
// default), the sender normalised so that the retries of one message and
// the mail of one sender match (see appendSender: BATV, SRS, VERP,
// +extension), and the recipient. A client without an address, or in
// o.TrustedNets, is not greylisted (Status None).
//
// A store failure accepts the mail with Status TempError (the reason says
// so, Err holds the error) unless o.Defer, which makes it a TempFail
// demand, 451 4.3.0.
func Check(ctx context.Context, st Store, t Triplet, now time.Time, o *Options) verdict.Result {
	s := resolve(o)
	return s.check(ctx, st, t, now)
}

func (s *settings) check(ctx context.Context, st Store, t Triplet, now time.Time) verdict.Result {
	ip := t.IP.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return result(verdict.None, 0, "no client address, not greylisted")
	case s.trusted.Contains(ip):
		return result(verdict.None, 0, "trusted network, not greylisted")
	case st == nil:
		return s.storeFailed(errNoStore)
	}
	out, err := st.Observe(ctx, makeKey(ip, t.From, t.Rcpt, s.bits4, s.bits6), now, s.rules)
	if err != nil {
		return s.storeFailed(err)
	}
	switch out.State {
	case Deferred, Early:
		r := result(verdict.SoftFail, s.scores.Deferred, reasonGreylisted)
		r.Action, r.Code, r.Enhanced = verdict.TempFail, 451, "4.7.1"
		return r
	case Passed:
		waited := now.Sub(out.First).Round(time.Second)
		return result(verdict.Pass, s.scores.Passed, "passed greylisting after "+strconv.FormatInt(int64(waited/time.Second), 10)+"s")
	case Known:
		return result(verdict.Pass, s.scores.Passed, "known triplet")
	case AutoAllowed:
		return result(verdict.Pass, s.scores.AutoAllowed, "client network auto-allowed")
	}
	return s.storeFailed(errors.New("greylist: store returned " + out.State.String()))
}

func (s *settings) storeFailed(err error) verdict.Result {
	if s.failClosed {
		r := result(verdict.TempError, s.scores.StoreError, reasonStore+", try again later")
		r.Action, r.Code, r.Enhanced, r.Err = verdict.TempFail, 451, "4.3.0", err
		return r
	}
	r := result(verdict.TempError, s.scores.StoreError, reasonStore+", accepted")
	r.Err = err
	return r
}

func result(st verdict.Status, score float64, reason string) verdict.Result {
	return verdict.Result{Check: Name, Status: st, Score: score, Reason: reason}
}
