package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtaguard/mtaguard/limit"
	"github.com/mtaguard/mtaguard/screen"
	"github.com/mtaguard/mtaguard/verdict"
)

// border are the defences in front of the SMTP dialogue: postscreen-like
// screening (package screen) and per-client limits (package limit).
type border struct {
	screen      bool
	screenPause time.Duration
	limitConn   int
	limitRate   string // messages per client, "N/duration"
	rcptRate    string // recipients per client, "N/duration"
	limitRedis  string
	authFail    string // failed AUTH attempts per client, "N/duration"

	store limit.Store // set by build
}

func (b *border) register(fs *flag.FlagSet) {
	fs.BoolVar(&b.screen, "screen", false, "screen clients before the dialogue as Postfix's postscreen does (greeting pause, pipelining, non-SMTP commands, bare LF)")
	fs.DurationVar(&b.screenPause, "screen-pause", 6*time.Second, "greeting pause of -screen: a client that talks before it is a pregreet talker")
	fs.IntVar(&b.limitConn, "limit-conn", 0, "connections at once from one client address; more get 421 4.7.0 (0: no limit)")
	fs.StringVar(&b.limitRate, "limit-rate", "", "messages (MAIL commands) per client address, as `N/duration` (e.g. 30/1m); more get 450 4.7.1")
	fs.StringVar(&b.rcptRate, "limit-rcpt-rate", "", "recipients per client address, as `N/duration`; more get 450 4.7.1")
	fs.StringVar(&b.authFail, "limit-auth-fail", "5/10m", "failed AUTH attempts per client address on -submission, as `N/duration`: the one that fills it gets 535 then 421 and the connection closes, later AUTH gets 454 4.7.0 (\"\": no limit)")
	fs.StringVar(&b.limitRedis, "limit-redis", "", "keep the limits' counters (and -screen's passes) in Redis at this redis://host:port/db `URL`, shared by several servers (default: in memory)")
}

// parseRate reads "N/duration" ("30/1m", "5/10s"); a bare unit such as
// "30/m" or "30/h" means one of it.
func parseRate(s string) (limit.Rate, error) {
	n, per, ok := strings.Cut(s, "/")
	events, err := strconv.Atoi(n)
	if !ok || err != nil || events <= 0 {
		return limit.Rate{}, fmt.Errorf("rate %q: want N/duration, e.g. 30/1m", s)
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return limit.Rate{}, fmt.Errorf("rate %q: want N/duration, e.g. 30/1m", s)
	}
	return limit.Rate{Events: events, Per: d}, nil
}

// build adds the rate checks to p and returns the listener wrapper that
// screens and limits connections: limit outside screen, so that the limit
// counts the client's real address (screen reads PROXY headers), and gosmtp
// outside both, so that the policy scores their findings at connect.
func (b *border) build(p *verdict.Policy, hostname string, logger *slog.Logger) (wrap func(net.Listener) net.Listener, closeFn func(), err error) {
	var store limit.Store = limit.NewMemory(0)
	var rc *redis.Client
	closeFn = func() {}
	if b.limitRedis != "" {
		opt, err := redis.ParseURL(b.limitRedis)
		if err != nil {
			return nil, nil, fmt.Errorf("-limit-redis: %w", err)
		}
		rc = redis.NewClient(opt)
		store = limit.NewRedis(rc, limit.DefaultRedisPrefix)
		closeFn = func() { rc.Close() }
	}
	b.store = store
	for _, r := range []struct {
		flag, v string
		c       limit.Counter
	}{{"-limit-rate", b.limitRate, limit.Messages}, {"-limit-rcpt-rate", b.rcptRate, limit.Recipients}} {
		if r.v == "" {
			continue
		}
		rate, err := parseRate(r.v)
		if err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("%s: %w", r.flag, err)
		}
		// One Checker per stage (limit.Checker.Stage): messages at MAIL,
		// recipients at RCPT.
		p.Checks = append(p.Checks, limit.New(store, &limit.Options{Rules: []limit.Rule{{Counter: r.c, Subject: limit.Client, Rate: rate}}}))
	}
	var conns *limit.Checker
	if b.limitConn > 0 {
		conns = limit.New(store, &limit.Options{Rules: []limit.Rule{{Counter: limit.Connections, Subject: limit.Client, Max: b.limitConn}}})
	}
	var so *screen.Options
	if b.screen {
		so = &screen.Options{Hostname: hostname, GreetWait: b.screenPause, Logger: logger}
		if rc != nil {
			so.Cache = screen.NewRedisCache(rc, screen.DefaultRedisPrefix)
		}
	}
	return func(l net.Listener) net.Listener {
		if so != nil {
			l = screen.Listen(l, so)
		}
		if conns != nil {
			l = limit.Listen(l, conns)
		}
		return l
	}, closeFn, nil
}

// authLimit returns the Checker of -limit-auth-fail, nil without one.
func (b *border) authLimit() (*limit.Checker, error) {
	if b.authFail == "" {
		return nil, nil
	}
	rate, err := parseRate(b.authFail)
	if err != nil {
		return nil, fmt.Errorf("-limit-auth-fail: %w", err)
	}
	return limit.New(b.store, &limit.Options{Rules: []limit.Rule{{Counter: limit.AuthFailures, Subject: limit.Client, Rate: rate}}}), nil
}
