package greylist

import (
	"time"

	"github.com/mtaguard/mtaguard/internal/netset"
)

// Defaults (RFC 6647 §4 leaves them to the operator; these are postgrey's).
const (
	defaultDelay       = 5 * time.Minute
	defaultRetryWindow = 48 * time.Hour
	defaultLifetime    = 35 * 24 * time.Hour
	defaultAutoAllow   = 5
	countEvery         = time.Hour
	maxDuration        = 10 * 365 * 24 * time.Hour
)

// settings are Options resolved: defaults filled in, limits applied.
type settings struct {
	rules      Rules
	bits4      int
	bits6      int
	trusted    netset.Set
	failClosed bool
	scores     Scores
}

func resolve(o *Options) settings {
	if o == nil {
		o = &Options{}
	}
	s := settings{
		rules: Rules{
			Delay:       duration(o.Delay, defaultDelay),
			RetryWindow: duration(o.RetryWindow, defaultRetryWindow),
			Lifetime:    duration(o.Lifetime, defaultLifetime),
			AutoAllow:   o.AutoAllow,
			CountEvery:  countEvery,
		},
		bits4:      prefixLen(o.IPv4Prefix, 24, 32),
		bits6:      prefixLen(o.IPv6Prefix, 64, 128),
		failClosed: o.Defer,
		scores:     DefaultScores,
	}
	s.rules.RetryWindow = max(s.rules.RetryWindow, s.rules.Delay)
	switch {
	case s.rules.AutoAllow == 0:
		s.rules.AutoAllow = defaultAutoAllow
	case s.rules.AutoAllow < 0:
		s.rules.AutoAllow = 0
	}
	if len(o.TrustedNets) > 0 {
		s.trusted = netset.New(o.TrustedNets)
	}
	if o.Scores != nil {
		s.scores = *o.Scores
	}
	return s
}

func duration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return min(max(d, time.Millisecond), maxDuration)
}

func prefixLen(n, def, most int) int {
	if n <= 0 || n > most {
		return def
	}
	return n
}
