// Package flagpolicy builds the verdict.Policy of the example programs from
// command-line flags, so that mtacheck, smtpd, policyd and milter take the
// same knobs and make the same decisions.
package flagpolicy

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/examples/internal/metrics"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/message"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/scan/clamd"
	"github.com/mtaguard/mtaguard/scan/rspamd"
	"github.com/mtaguard/mtaguard/scan/spamd"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
	"github.com/mtaguard/mtaguard/verify"
)

// Config holds the flag values. Register fills it in; Build turns it into
// a policy.
type Config struct {
	Zone         string        // answer DNS from this zone file, offline
	DNS          list          // DNS servers, host:port
	Hostname     string        // our host name: the authserv-id, and one of our HELO names
	LocalDomains list          // domains we receive mail for
	RelayDomains list          // domains we relay to
	Trusted      list          // networks of clients that may relay
	DNSBL        list          // zone:score
	Greylist     string        // off, memory, or a redis:// URL
	GreyDelay    time.Duration // greylisting delay
	Quarantine   float64
	Reject       float64
	SPFReject    bool // an SPF fail rejects (550 5.7.23), not only scores
	DeferDNS     bool // a DNS failure in SPF defers (451 4.4.3) rather than letting the message through unchecked
	Timeout      time.Duration
	NonGlobal    bool // look up private and loopback client addresses too (test setups)

	// Rolling out and watching.
	Monitor     bool     // dry run: refuse nothing, log and count what would have been refused
	Metrics     string   // address to serve Prometheus metrics on ("" = none)
	MetricsAddr net.Addr // where Build serves them (Metrics may say port 0)

	// Address verification by callout (package verify).
	VerifySender    bool   // verify senders at their MX (reject_unverified_sender)
	VerifyRecipient string // host:port of the inside server that verifies recipients of our domains

	// Data-stage checks of the message itself.
	MessageCheck bool   // RFC 5322 structure checks (package message)
	Clamd        string // clamd address: host:port, or a unix socket path
	Rspamd       string // rspamd normal worker URL
	Spamd        string // spamd address: host:port, or a unix socket path
}

// list is a flag holding a comma-separated list; repeating the flag adds.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// Register defines the policy flags on fs and returns the Config they fill.
func Register(fs *flag.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Zone, "zone", "", "answer DNS from this zone `file` (offline; for demos and tests)")
	fs.Var(&c.DNS, "dns", "DNS `servers` (host:port, comma-separated); default: /etc/resolv.conf")
	host, _ := os.Hostname()
	fs.StringVar(&c.Hostname, "hostname", host, "our host `name`: authserv-id of Authentication-Results, and a HELO name only we may use")
	fs.Var(&c.LocalDomains, "local", "`domains` we receive mail for (comma-separated)")
	fs.Var(&c.RelayDomains, "relay-domains", "`domains` we relay to, e.g. as backup MX")
	fs.Var(&c.Trusted, "trusted", "client `networks` that may relay, e.g. 10.0.0.0/8")
	fs.Var(&c.DNSBL, "dnsbl", "DNS lists as `zone:score` (comma-separated; a negative score makes an allow list)")
	fs.StringVar(&c.Greylist, "greylist", "off", "greylisting: off, memory, or a redis://host:port/db `URL`")
	fs.DurationVar(&c.GreyDelay, "grey-delay", 5*time.Minute, "how long a greylisted sender must wait before a retry is accepted")
	fs.Float64Var(&c.Quarantine, "quarantine", 6, "score at which a message is quarantined (0: never)")
	fs.Float64Var(&c.Reject, "reject", 15, "score at which a message is rejected (0: never)")
	fs.BoolVar(&c.SPFReject, "spf-reject", false, "reject on SPF fail (550 5.7.23) instead of only scoring it")
	fs.BoolVar(&c.DeferDNS, "defer-dns", true, "defer (451 4.4.3) when a DNS failure leaves SPF undecided, as Postfix defers on temporary lookup failures")
	fs.DurationVar(&c.Timeout, "timeout", verdict.DefaultTimeout, "deadline of each stage's checks")
	fs.BoolVar(&c.NonGlobal, "nonglobal", false, "check private and loopback client addresses too (for test setups)")

	// Rolling out and watching.
	fs.BoolVar(&c.Monitor, "monitor", false, "dry run: every check runs but nothing is refused; the log and the metrics say what would have been")
	fs.StringVar(&c.Metrics, "metrics", "", "serve Prometheus metrics at http://`address`/metrics, e.g. 127.0.0.1:9090")

	// Address verification by callout (package verify).
	fs.BoolVar(&c.VerifySender, "verify-sender", false, "verify each sender by a callout to its MX: 550 5.1.7 when it is refused there (reject_unverified_sender)")
	fs.StringVar(&c.VerifyRecipient, "verify-recipient", "", "verify recipients of the -local and -relay-domains domains by a callout to this inside server `host:port`: 550 5.1.1 for unknown users, 450 4.1.1 when it cannot tell (reject_unverified_recipient)")

	// Data-stage checks of the message itself. (The flag is
	// -message-check, since mtacheck's -message names the message file.)
	fs.BoolVar(&c.MessageCheck, "message-check", false, "check the message's RFC 5322 structure: two From fields, a bare CR, a header opening with a continuation line demand 550 5.6.0; other faults score")
	fs.StringVar(&c.Clamd, "clamd", "", "scan messages with ClamAV's clamd at `address` (host:port, or a unix socket path): a virus demands 554 5.7.0")
	fs.StringVar(&c.Rspamd, "rspamd", "", "ask the rspamd normal worker at `URL` (e.g. http://127.0.0.1:11333) about each message; its action decides")
	fs.StringVar(&c.Spamd, "spamd", "", "ask SpamAssassin's spamd at `address` (host:port, or a unix socket path); its score adds to ours")
	return c
}

// dialAddress tells a unix socket path from a host:port, as the flags
// take either.
func dialAddress(addr string) (network, address string) {
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "./") || strings.HasPrefix(addr, "unix:") {
		return "unix", strings.TrimPrefix(addr, "unix:")
	}
	return "tcp", addr
}

// scanChecks returns the Data-stage checks of the message flags, and a
// function that closes their pooled connections.
func (c *Config) scanChecks() ([]verdict.Check, func(), error) {
	var checks []verdict.Check
	var closers []func() error
	if c.MessageCheck {
		checks = append(checks, message.New(nil))
	}
	if c.Clamd != "" {
		network, addr := dialAddress(c.Clamd)
		if network == "tcp" {
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				return nil, nil, fmt.Errorf("-clamd %q: want host:port or a unix socket path", c.Clamd)
			}
		}
		cc := clamd.New(network, addr, nil)
		checks = append(checks, cc)
		closers = append(closers, cc.Close)
	}
	if c.Rspamd != "" {
		u, err := url.Parse(c.Rspamd)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("-rspamd %q: want an http:// URL", c.Rspamd)
		}
		rc := rspamd.New(c.Rspamd, nil)
		checks = append(checks, rc)
		closers = append(closers, rc.Close)
	}
	if c.Spamd != "" {
		network, addr := dialAddress(c.Spamd)
		if network == "tcp" {
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				return nil, nil, fmt.Errorf("-spamd %q: want host:port or a unix socket path", c.Spamd)
			}
		}
		checks = append(checks, spamd.New(network, addr, nil))
	}
	return checks, func() {
		for _, f := range closers {
			f()
		}
	}, nil
}

// Resolver is what the checks need of DNS: the lookup methods of
// *net.Resolver that they use.
type Resolver interface {
	fcrdns.Resolver
	helo.Resolver
	dnsbl.Resolver
	spf.Resolver
	dkim.Resolver
	dmarc.Resolver
	verify.Resolver
}

// Build returns the policy the flags describe, the resolver its checks use,
// and a function that releases what it holds (a Redis connection).
func (c *Config) Build(ctx context.Context) (*verdict.Policy, Resolver, func(), error) {
	r, err := c.resolver()
	if err != nil {
		return nil, nil, nil, err
	}
	trusted, err := prefixes(c.Trusted)
	if err != nil {
		return nil, nil, nil, err
	}
	lists, err := dnsLists(c.DNSBL)
	if err != nil {
		return nil, nil, nil, err
	}
	local := append([]string{}, c.LocalDomains...)
	localNames := append([]string{}, c.LocalDomains...)
	if c.Hostname != "" {
		localNames = append(localNames, c.Hostname)
	}

	checks := []verdict.Check{
		fcrdns.New(r, &fcrdns.Options{NonGlobal: c.NonGlobal}),
		helo.New(r, &helo.Options{LocalNames: localNames, TrustedNets: trusted}),
		spf.New(r, &spf.Options{Reject: c.SPFReject, Defer: c.DeferDNS, Receiver: c.Hostname}),
		// Postfix's reject_unknown_sender_domain: 450 for an unknown
		// domain, 550 5.7.27 for a null MX.
		verify.NewSenderDomain(r, nil),
		relay.New(&relay.Policy{LocalDomains: local, RelayDomains: c.RelayDomains, TrustedNets: trusted}),
		dkim.New(r, nil),
		dmarc.New(r, nil),
	}
	vc, err := c.verifyChecks(r)
	if err != nil {
		return nil, nil, nil, err
	}
	checks = append(checks, vc...)
	sc, closeScan, err := c.scanChecks()
	if err != nil {
		return nil, nil, nil, err
	}
	checks = append(checks, sc...)
	if len(lists) > 0 {
		checks = append(checks, dnsbl.New(r, lists, &dnsbl.Options{NonGlobal: c.NonGlobal}))
	}
	closer := closeScan
	var greyMem *greylist.Memory
	switch {
	case c.Greylist == "" || c.Greylist == "off":
	case c.Greylist == "memory":
		greyMem = greylist.NewMemory()
		checks = append(checks, greylist.New(greyMem, &greylist.Options{Delay: c.GreyDelay, TrustedNets: trusted}))
	case strings.HasPrefix(c.Greylist, "redis://") || strings.HasPrefix(c.Greylist, "rediss://"):
		opt, err := redis.ParseURL(c.Greylist)
		if err != nil {
			closeScan()
			return nil, nil, nil, fmt.Errorf("-greylist: %w", err)
		}
		client := redis.NewClient(opt)
		closer = func() { client.Close(); closeScan() }
		checks = append(checks, greylist.New(greylist.NewRedis(client, ""), &greylist.Options{Delay: c.GreyDelay, TrustedNets: trusted}))
	default:
		closeScan()
		return nil, nil, nil, fmt.Errorf("-greylist %q: want off, memory or a redis:// URL", c.Greylist)
	}

	p := &verdict.Policy{
		Checks:      checks,
		Quarantine:  c.Quarantine,
		Reject:      c.Reject,
		Timeout:     c.Timeout,
		TrustedNets: trusted,
		Monitor:     c.Monitor,
		// Our own clients and authenticated users are judged by the
		// relay rules alone, never by a score (Postfix's
		// permit_mynetworks, permit_sasl_authenticated).
		Exempt: func(s *verdict.Session) bool { return s.AuthUser != "" || s.Trusted },
	}
	if c.Metrics != "" {
		col := metrics.New()
		p.Observe = col.Observe
		if st, ok := r.(interface{ Stats() resolver.Stats }); ok {
			col.Resolver(st.Stats)
		}
		if greyMem != nil {
			col.Greylist(greyMem.Len)
		}
		addr, stop, err := col.Serve(c.Metrics)
		if err != nil {
			closer()
			return nil, nil, nil, fmt.Errorf("-metrics: %w", err)
		}
		c.MetricsAddr = addr
		closeStore := closer
		closer = func() { stop(); closeStore() }
	}
	return p, r, closer, nil
}

// verifyChecks returns the callout checks the -verify flags ask for. They
// share one Callout, so one cache and one set of per-domain limits.
func (c *Config) verifyChecks(r Resolver) ([]verdict.Check, error) {
	if !c.VerifySender && c.VerifyRecipient == "" {
		return nil, nil
	}
	co := &verify.Callout{Resolver: r, HELO: c.Hostname, Cache: verify.NewMemoryCache(), NonGlobal: c.NonGlobal}
	var checks []verdict.Check
	if c.VerifySender {
		// An unknown sender is refused; a sender whose MX cannot be
		// asked is let through, as Postfix's default
		// unverified_sender_tempfail_action lets the rest decide.
		checks = append(checks, verify.NewSender(co, &verify.Options{Reject: true}))
	}
	if c.VerifyRecipient != "" {
		if _, port, err := net.SplitHostPort(c.VerifyRecipient); err != nil || port == "" {
			return nil, fmt.Errorf("-verify-recipient %q: want host:port", c.VerifyRecipient)
		}
		ours := append(append([]string{}, c.LocalDomains...), c.RelayDomains...)
		hop := []string{c.VerifyRecipient}
		co.Route = func(domain string) []string {
			for _, d := range ours {
				if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
					return hop
				}
			}
			return nil
		}
		checks = append(checks, verify.NewRecipient(co, &verify.Options{Reject: true, Defer: true, Domains: ours}))
	}
	return checks, nil
}

func (c *Config) resolver() (Resolver, error) {
	if c.Zone != "" {
		text, err := os.ReadFile(c.Zone)
		if err != nil {
			return nil, err
		}
		r, err := resolvertest.New(string(text))
		if err != nil {
			return nil, fmt.Errorf("-zone %s: %w", c.Zone, err)
		}
		return r, nil
	}
	// A query must fail well before the stage deadline, so that the check
	// itself reports the DNS failure (and, for SPF, defers) instead of
	// being abandoned by the deadline with no opinion.
	timeout := min(max(c.Timeout/5, 100*time.Millisecond), resolver.DefaultTimeout)
	return resolver.New(resolver.Config{Servers: c.DNS, Timeout: timeout, Attempts: 2})
}

func prefixes(l list) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range l {
		if !strings.Contains(s, "/") {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("-trusted %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("-trusted %q: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func dnsLists(l list) ([]dnsbl.List, error) {
	var out []dnsbl.List
	for _, s := range l {
		zone, score, ok := strings.Cut(s, ":")
		if !ok || zone == "" {
			return nil, fmt.Errorf("-dnsbl %q: want zone:score", s)
		}
		v, err := strconv.ParseFloat(score, 64)
		if err != nil {
			return nil, fmt.Errorf("-dnsbl %q: %w", s, err)
		}
		out = append(out, dnsbl.List{Zone: zone, Score: v})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
