package screen

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mtaguard/mtaguard/internal/netset"
)

// Action is what the screen does with a client that fails a test.
type Action uint8

const (
	// Default is the test's default action: Ignore for Pregreet and
	// BareLF, Enforce for Pipelining, Drop for NonSMTP (postscreen's).
	Default Action = iota
	// Ignore lets the client through: a pregreet talker is handed to
	// the server with the finding on its Conn; a deep test failed is
	// passed all the same, the finding noted in the cache and carried by
	// the client's later connections.
	Ignore
	// Enforce finishes the screen's own dialogue with the client and
	// answers every recipient "550 5.5.1 Protocol error"; nothing is
	// cached, so the test is repeated at the next connection.
	Enforce
	// Drop answers "521 5.5.1 Protocol error" (non-SMTP commands: "521
	// 5.7.0") at once and closes the connection.
	Drop
)

// Options configure a Listener. A nil *Options, and every zero field,
// means the default.
type Options struct {
	// Hostname is our name in the greeting and replies; default the
	// system's host name.
	Hostname string
	// Banner is the text of the "220-" line sent at once, before the
	// pause; the server's own "220 " greeting completes the reply for a
	// client that is let through. Default Hostname followed by " ESMTP".
	Banner string
	// GreetWait is the pause before the greeting: a client that speaks
	// within it is a pregreet talker. Default 6 s (postscreen_greet_wait).
	GreetWait time.Duration

	// Disable lists the tests not to run.
	Disable Test
	// PregreetAction ... BareLFAction are what a failed test leads to.
	PregreetAction, PipeliningAction, NonSMTPAction, BareLFAction Action

	// GreetTTL is how long a pass of the pregreet test is remembered,
	// default 1 day; DeepTTL that of the deep tests, default 30 days
	// (postscreen_greet_ttl, postscreen_pipelining_ttl, ...).
	GreetTTL, DeepTTL time.Duration
	// Cache remembers the passes; nil means a NewMemoryCache(0) of the
	// Listener's own. Share a NewRedisCache among several MX hosts.
	Cache Cache

	// Allow, if set, is asked during the pause whether the client is on
	// an allow list (a DNS allow list, say: see package dnsbl); once it
	// says yes, the pause ends and the client skips the tests. Its ctx
	// ends with the pause.
	Allow func(ctx context.Context, ip netip.Addr) bool

	// Proxies are the addresses of the proxies whose connections begin
	// with a PROXY protocol header (version 1 or 2); the client address
	// is then the header's. Connections from elsewhere must not send one.
	Proxies []netip.Prefix
	// ProxyTimeout bounds the reading of a PROXY header; default 5 s
	// (postscreen_upstream_proxy_timeout).
	ProxyTimeout time.Duration

	// CommandTimeout bounds each command of the screen's dialogue;
	// default 60 s. CommandLimit bounds their number; default 20
	// (postscreen_command_count_limit).
	CommandTimeout time.Duration
	CommandLimit   int

	// MaxPending bounds the connections being screened at once; more are
	// answered "421 4.7.0" and closed. Default 1000.
	MaxPending int

	// Scores replaces DefaultScores in the Results of the connections.
	Scores *Scores

	// Logger, if set, receives a record per connection screened.
	Logger *slog.Logger

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Listener screens the connections of a net.Listener. Its Accept returns
// the clients that may talk to the server, as *Conn.
type Listener struct {
	l        net.Listener
	host     string
	banner   string
	wait     time.Duration
	enabled  Test
	actions  [len(testNames)]Action
	greetTTL time.Duration
	deepTTL  time.Duration
	cache    Cache
	allow    func(context.Context, netip.Addr) bool
	proxies  netset.Set
	proxyTO  time.Duration
	cmdTO    time.Duration
	cmdLimit int
	scores   Scores
	log      *slog.Logger
	now      func() time.Time

	pending chan struct{}
	conns   chan *Conn
	ctx     context.Context
	cancel  context.CancelFunc
	errOnce sync.Once
	err     error
	done    chan struct{}
}

// cacheTimeout bounds a cache operation: the cache is an aid, and a slow
// one must not hold the screening up.
const cacheTimeout = 2 * time.Second

func dur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Listen returns a Listener that screens the connections l accepts. It
// starts accepting at once, in a goroutine of its own; Close stops it.
func Listen(l net.Listener, o *Options) *Listener {
	if o == nil {
		o = &Options{}
	}
	x := &Listener{
		l: l, host: o.Hostname, banner: o.Banner,
		wait:     dur(o.GreetWait, 6*time.Second),
		enabled:  AllTests &^ o.Disable,
		greetTTL: dur(o.GreetTTL, 24*time.Hour),
		deepTTL:  dur(o.DeepTTL, 30*24*time.Hour),
		cache:    o.Cache,
		allow:    o.Allow,
		proxyTO:  dur(o.ProxyTimeout, 5*time.Second),
		cmdTO:    dur(o.CommandTimeout, 60*time.Second),
		cmdLimit: o.CommandLimit,
		scores:   DefaultScores,
		log:      o.Logger,
		now:      o.Now,
		conns:    make(chan *Conn),
		done:     make(chan struct{}),
	}
	if x.host == "" {
		x.host, _ = os.Hostname()
		if x.host == "" {
			x.host = "localhost"
		}
	}
	if x.banner == "" {
		x.banner = x.host + " ESMTP"
	}
	for i, a := range [...]Action{o.PregreetAction, o.PipeliningAction, o.NonSMTPAction, o.BareLFAction} {
		if a == Default {
			a = [...]Action{Ignore, Enforce, Drop, Ignore}[i]
		}
		x.actions[i] = a
	}
	if x.cache == nil {
		x.cache = NewMemoryCache(0)
	}
	if len(o.Proxies) > 0 {
		x.proxies = netset.New(o.Proxies)
	}
	if x.cmdLimit <= 0 {
		x.cmdLimit = 20
	}
	if o.Scores != nil {
		x.scores = *o.Scores
	}
	if x.now == nil {
		x.now = time.Now
	}
	maxPending := o.MaxPending
	if maxPending <= 0 {
		maxPending = 1000
	}
	x.pending = make(chan struct{}, maxPending)
	x.ctx, x.cancel = context.WithCancel(context.Background())
	go x.serve()
	return x
}

// action returns the action for the (single) test t.
func (l *Listener) action(t Test) Action {
	for i := range testNames {
		if t == 1<<i {
			return l.actions[i]
		}
	}
	return Ignore
}

// Accept waits for and returns the next connection that passed the
// screen (or was let through), a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close stops accepting, closes the wrapped listener and ends the
// screenings under way.
func (l *Listener) Close() error {
	err := l.l.Close()
	l.cancel()
	return err
}

// Addr returns the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.l.Addr() }

func (l *Listener) serve() {
	var delay time.Duration
	for {
		raw, err := l.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && l.ctx.Err() == nil {
				// A passing shortage (EMFILE, say): wait, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			l.errOnce.Do(func() {
				l.err = err
				l.cancel()
				close(l.done)
			})
			return
		}
		delay = 0
		select {
		case l.pending <- struct{}{}:
			go func() {
				defer func() { <-l.pending }()
				l.screen(raw)
			}()
		default:
			raw.SetWriteDeadline(time.Now().Add(time.Second))
			raw.Write([]byte("421 4.7.0 " + l.host + " Service unavailable - try again later\r\n"))
			raw.Close()
		}
	}
}

// screen runs the tests on one connection and hands it to Accept or
// closes it.
func (l *Listener) screen(raw net.Conn) {
	stop := context.AfterFunc(l.ctx, func() { raw.Close() })
	handed := false
	defer func() {
		if !stop() || !handed {
			raw.Close()
		}
	}()
	br := bufio.NewReaderSize(raw, 4096)
	c := &Conn{Conn: raw, r: br, client: addrPort(raw.RemoteAddr()), scores: &l.scores}
	if l.proxies.Contains(c.client.Addr()) {
		raw.SetReadDeadline(time.Now().Add(l.proxyTO))
		h, err := ReadProxyHeader(br)
		raw.SetReadDeadline(time.Time{})
		if err != nil {
			l.logf(c, "bad PROXY header", slog.String("err", err.Error()))
			return
		}
		if !h.Local {
			c.client = h.Source
		}
		c.proxied = true
	}
	ip := c.client.Addr()
	now := l.now()
	ctx, cancel := context.WithTimeout(l.ctx, cacheTimeout)
	passed, noted, err := l.cache.Lookup(ctx, ip, now)
	cancel()
	if err != nil {
		// The tests run as if the client were new; the cache is an aid.
		l.logf(c, "cache lookup failed", slog.String("err", err.Error()))
	}
	c.findings = noted
	todo := l.enabled &^ passed
	if todo == 0 {
		if l.enabled != 0 {
			c.how = "cached"
		}
		handed = l.hand(c)
		return
	}

	talked, allowed, ok := false, false, true
	if todo&Pregreet != 0 {
		talked, allowed, ok = l.pause(c, br, ip)
	} else if l.allow != nil {
		ctx, cancel := context.WithTimeout(l.ctx, min(l.wait, 2*time.Second))
		allowed = l.allow(ctx, ip)
		cancel()
	}
	if !ok {
		return
	}
	var enforce Test
	if talked {
		c.findings |= Pregreet
		switch l.action(Pregreet) {
		case Drop:
			l.reply(raw, "521 5.5.1 Protocol error\r\n")
			l.logf(c, "dropped")
			return
		case Enforce:
			enforce |= Pregreet
		}
	}
	// greet is the pregreet pass to remember, as postscreen does, only
	// if no test fails in this connection.
	var greet Test
	if todo&Pregreet != 0 && !talked {
		greet = Pregreet
	}
	if allowed && !talked {
		c.how = "allow list"
		l.remember(c, greet, 0, 0, l.greetTTL)
		handed = l.hand(c)
		return
	}
	if todo&DeepTests == 0 && enforce == 0 {
		l.remember(c, greet, 0, 0, l.greetTTL)
		handed = l.hand(c)
		return
	}
	l.dialogue(c, br, enforce, greet, talked)
}

// remember records in the cache that c passed tests (noting noted) for
// ttl, and greet for GreetTTL.
func (l *Listener) remember(c *Conn, greet, tests, noted Test, ttl time.Duration) {
	now := l.now()
	ctx, cancel := context.WithTimeout(l.ctx, cacheTimeout)
	defer cancel()
	for _, p := range [...]struct {
		t   Test
		ttl time.Duration
	}{{greet, l.greetTTL}, {tests, ttl}} {
		if p.t == 0 {
			continue
		}
		if err := l.cache.Pass(ctx, c.client.Addr(), p.t, noted&p.t, now.Add(p.ttl), now); err != nil {
			l.logf(c, "cache update failed", slog.String("err", err.Error()))
			return
		}
	}
}

// pause sends the "220-" banner and waits GreetWait for the client to
// speak, or for Allow to say yes. ok is false when the client went away.
func (l *Listener) pause(c *Conn, br *bufio.Reader, ip netip.Addr) (talked, allowed, ok bool) {
	raw := c.Conn
	raw.SetWriteDeadline(time.Now().Add(l.cmdTO))
	if _, err := raw.Write([]byte("220-" + l.banner + "\r\n")); err != nil {
		return false, false, false
	}
	end := time.Now().Add(l.wait)
	var yes chan bool
	ctx, cancel := context.WithDeadline(l.ctx, end)
	defer cancel()
	var mu sync.Mutex // over: the pause is over, the deadline no more Allow's to set
	over := false
	if l.allow != nil {
		yes = make(chan bool, 1)
		go func() {
			a := l.allow(ctx, ip)
			yes <- a
			mu.Lock()
			if a && !over {
				raw.SetReadDeadline(time.Now()) // end the pause
			}
			mu.Unlock()
		}()
	}
	raw.SetReadDeadline(end)
	_, err := br.Peek(1)
	mu.Lock()
	over = true
	raw.SetReadDeadline(time.Time{})
	mu.Unlock()
	var ne net.Error
	switch {
	case err == nil:
		talked = true
	case errors.As(err, &ne) && ne.Timeout():
	default:
		return false, false, false
	}
	if yes != nil {
		select {
		case allowed = <-yes:
		default:
		}
	}
	if talked {
		// A talker waits out the pause all the same; what it sent stays
		// buffered for the server or the dialogue.
		t := time.NewTimer(time.Until(end))
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return false, false, false
		}
	}
	return talked, allowed, true
}

// hand passes c to Accept; false if the Listener closed first.
func (l *Listener) hand(c *Conn) bool {
	l.logf(c, "pass")
	select {
	case l.conns <- c:
		return true
	case <-l.ctx.Done():
		return false
	}
}

func (l *Listener) reply(raw net.Conn, s string) error {
	raw.SetWriteDeadline(time.Now().Add(l.cmdTO))
	_, err := raw.Write([]byte(s))
	return err
}

func (l *Listener) logf(c *Conn, msg string, attrs ...slog.Attr) {
	if l.log == nil {
		return
	}
	attrs = append(attrs, slog.String("client", c.client.String()), slog.String("findings", c.findings.String()))
	l.log.LogAttrs(l.ctx, slog.LevelInfo, "screen: "+msg, attrs...)
}

// addrPort returns the address and port of a net.Addr, or the zero
// AddrPort.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
