package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnserr"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/netset"
	"github.com/mtaguard/mtaguard/verdict"
)

// Defaults of a Callout's zero fields.
const (
	// DefaultTimeout bounds a whole probe, as Postfix's smtpd waits about
	// 6 seconds for verify(8) before it defers the client.
	DefaultTimeout = 6 * time.Second
	// DefaultPositiveTTL and DefaultNegativeTTL are how long results are
	// cached: Postfix's address_verify_positive_expire_time and
	// address_verify_negative_expire_time.
	DefaultPositiveTTL = 31 * 24 * time.Hour
	DefaultNegativeTTL = 3 * 24 * time.Hour
	// DefaultPerDomain is how many probes of one domain may run at once.
	DefaultPerDomain = 4
	// DefaultRate and DefaultBurst bound the probes started for one
	// domain: DefaultBurst at once, then DefaultRate a second.
	DefaultRate  = 2.0
	DefaultBurst = 20
)

// maxTargets bounds the servers one probe tries, as Postfix's
// smtp_mx_address_limit (5) does.
const maxTargets = 5

// Callout verifies addresses by asking the servers that receive their mail
// (a reverse SMTP callout). The zero value, with a Resolver, is ready: it
// probes the MX hosts on port 25 with MAIL FROM:<>, without cache.
//
// A Callout is safe for concurrent use, and must not be copied after its
// first use: it holds the probes in flight and the per-domain limits. The
// limits are the process's own; several processes sharing a Redis cache
// share results, not limits.
type Callout struct {
	// Resolver finds the MX hosts and their addresses.
	Resolver Resolver
	// HELO is our name in the probe's EHLO; "" means "localhost". It
	// should be a name of ours that the probed server can check.
	HELO string
	// Port is the port probed; 0 means 25. Tests use a loopback port.
	Port int
	// Route gives the next hops for a domain, "host" or "host:port"
	// (IPv6 literals in brackets), tried in order: for recipient
	// verification toward the inside server of a domain we relay to.
	// Nil, or no hops for a domain, means the domain's MX hosts. The
	// hops are the operator's choice: they are probed whatever their
	// addresses.
	Route func(domain string) []string
	// Timeout bounds a whole probe, every MX host tried; 0 means
	// DefaultTimeout. A probe that runs out of time is a TempError.
	Timeout time.Duration
	// Cache keeps results; nil means none. See NewMemoryCache and
	// NewRedisCache.
	Cache Cache

	// MailFrom is the probe's envelope sender, without angle brackets:
	// "" (the null sender, as Postfix's address_verify_sender does by
	// default) or an address of ours such as postmaster@our.domain for
	// servers that refuse the null sender.
	MailFrom string
	// PositiveTTL and NegativeTTL are how long Pass (and Neutral) and
	// Fail results are cached; 0 means DefaultPositiveTTL and
	// DefaultNegativeTTL, a negative value not at all. TempTTL is how
	// long a TempError is cached; 0 (or negative) means not at all.
	PositiveTTL, NegativeTTL, TempTTL time.Duration
	// PerDomain is how many probes of one domain may run at once (0
	// means DefaultPerDomain); a probe beyond waits for one to end.
	// Rate and Burst bound how many probes of one domain start: Burst at
	// once, then Rate a second (0 means DefaultRate and DefaultBurst).
	// A probe over the rate is not made: TempError.
	PerDomain int
	Rate      float64
	Burst     int
	// NonGlobal allows probing loopback, private, link-local and our own
	// addresses found in the DNS, for test setups. By default they are
	// never probed: an MX pointing at them would make us probe ourselves
	// or the network behind us on a stranger's behalf.
	NonGlobal bool
	// NoTLS disables STARTTLS.
	NoTLS bool
	// NoCatchAll disables the second RCPT that detects catch-all
	// domains.
	NoCatchAll bool

	once  sync.Once
	state *state
}

// state is what a Callout keeps between probes.
type state struct {
	mu      sync.Mutex
	flights map[string]*flight
	limits  *limiter
	self    func() []netip.Addr
	probes  int // probes made, for tests
}

// flight is one probe in flight, shared by every caller that verifies its
// address meanwhile.
type flight struct {
	done chan struct{}
	res  verdict.Result
}

func (c *Callout) init() *state {
	c.once.Do(func() {
		per := c.PerDomain
		if per <= 0 {
			per = DefaultPerDomain
		}
		rate, burst := c.Rate, c.Burst
		if rate <= 0 {
			rate = DefaultRate
		}
		if burst <= 0 {
			burst = DefaultBurst
		}
		c.state = &state{
			flights: map[string]*flight{},
			limits:  newLimiter(per, rate, burst),
			self:    sync.OnceValue(ownAddresses),
		}
	})
	return c.state
}

func (c *Callout) helo() string {
	if c.HELO == "" {
		return "localhost"
	}
	return c.HELO
}

func (c *Callout) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Verify tells whether the server responsible for the address addr accepts
// mail for it. The result's Check is Name and its Domain the address's domain.
//
//   - Pass: the server accepted RCPT TO:<address> (2xx);
//   - Fail: it refused it with a 5xx, whose code and text are in the
//     reason ("550 5.1.1 user unknown"); or the domain does not exist, has
//     no MX or address records, or publishes a null MX;
//   - Neutral: it accepted a random address of the domain too: a
//     catch-all domain, about which a callout says nothing;
//   - TempError: a 4xx to RCPT, a timeout, a refused connection, no
//     server answering, a server that refuses us (at connect, EHLO or
//     MAIL), a DNS failure, or the per-domain rate reached;
//   - None: nothing to verify (the null address, an address literal, an
//     address the probe cannot carry: not ASCII or with spaces, angle
//     brackets or control characters).
//
// Results come from the cache when it holds one. Concurrent calls for the
// same address share one probe; each returns when the probe ends or its
// own ctx is done, whichever is first. The probe itself is bounded by
// Timeout, not by the callers' ctx, so that its result can be cached for
// the next caller even when the first gives up.
func (c *Callout) Verify(ctx context.Context, addr string) verdict.Result {
	st := c.init()
	res := verdict.Result{Check: Name}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if addr == "" {
		res.Reason = "null address: not verified"
		return res
	}
	local, domain, ok := address.Split(addr)
	if ok && strings.HasPrefix(domain, "[") {
		res.Reason = "address literal: not verified"
		return res
	}
	name, err := dnsname.Normalize(domain)
	if !ok || err != nil || !probeable(local) {
		res.Reason = "address " + verdict.Printable(addr) + " cannot be verified by callout"
		return res
	}
	res.Domain = name
	key := local + "@" + name

	if c.Cache != nil {
		if e, ok, err := c.Cache.Get(ctx, key); err == nil && ok && time.Now().Before(e.Expires) {
			res.Status, res.Reason = e.Status, "cached: "+e.Reason
			return res
		}
	}

	st.mu.Lock()
	f, ok := st.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		st.flights[key] = f
		st.probes++
		st.mu.Unlock()
		// The probe outlives a caller that gives up: others may wait for
		// it, and its result is worth caching.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout())
		go func() {
			defer cancel()
			f.res = c.probe(pctx, st, local, name, key)
			st.mu.Lock()
			delete(st.flights, key)
			st.mu.Unlock()
			close(f.done)
		}()
	} else {
		st.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
		res.Status, res.Err = verdict.TempError, ctx.Err()
		res.Reason = "callout for " + verdict.Printable(key) + " not finished: " + ctx.Err().Error()
		return res
	}
}

// probeable reports whether a local part can be sent in RCPT TO as it is:
// printable ASCII without space, angle brackets or backslash-escaped
// controls. Quoted local parts with spaces and SMTPUTF8 addresses are left
// alone rather than mangled.
func probeable(local string) bool {
	if local == "" || len(local) > 256 {
		return false
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// probe runs the callout for local@domain and caches its result.
func (c *Callout) probe(ctx context.Context, st *state, local, domain, key string) verdict.Result {
	res := verdict.Result{Check: Name, Domain: domain}
	res.Status, res.Reason = c.run(ctx, st, local, domain)
	if res.Status == verdict.TempError && ctx.Err() != nil {
		res.Err = ctx.Err()
	}
	if c.Cache != nil {
		ttl := c.ttl(res.Status)
		if ttl > 0 {
			// A store failure loses only the saving of a later probe.
			c.Cache.Put(context.WithoutCancel(ctx), key, Entry{Status: res.Status, Reason: res.Reason, Expires: time.Now().Add(ttl)})
		}
	}
	return res
}

func (c *Callout) ttl(s verdict.Status) time.Duration {
	pick := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	switch s {
	case verdict.Pass, verdict.Neutral:
		return pick(c.PositiveTTL, DefaultPositiveTTL)
	case verdict.Fail:
		return pick(c.NegativeTTL, DefaultNegativeTTL)
	case verdict.TempError:
		return c.TempTTL
	}
	return 0
}

// target is one server to probe.
type target struct {
	host string
	addr netip.AddrPort
}

func (c *Callout) run(ctx context.Context, st *state, local, domain string) (verdict.Status, string) {
	release, err := st.limits.acquire(ctx, domain)
	if err != nil {
		return verdict.TempError, "callout to " + domain + " not made: " + err.Error()
	}
	defer release()

	hosts, routed, status, reason := c.hops(ctx, domain)
	if status != verdict.None {
		return status, reason
	}
	address := local + "@" + domain
	random := ""
	if !c.NoCatchAll {
		random = randomLocal() + "@" + domain
	}
	var why []string
	tried := 0
	for _, h := range hosts {
		targets, whyNot := c.resolveHop(ctx, st, h, routed)
		if whyNot != "" {
			why = append(why, whyNot)
		}
		for _, t := range targets {
			if tried == maxTargets {
				break
			}
			tried++
			o := c.dialogue(ctx, t.host, t.addr, address, random, !c.NoTLS)
			if o.tlsFailed && ctx.Err() == nil {
				// RFC 7435 §4: fall back to plain text when the
				// opportunistic handshake fails.
				o = c.dialogue(ctx, t.host, t.addr, address, random, false)
			}
			if o.final {
				return o.status, "callout to " + o.reason
			}
			why = append(why, o.reason)
			if ctx.Err() != nil {
				break
			}
		}
		if ctx.Err() != nil || tried == maxTargets {
			break
		}
	}
	if len(why) == 0 {
		why = append(why, "no server to ask")
	}
	if len(why) > 3 {
		why = append(why[:3], "...")
	}
	return verdict.TempError, "callout for " + domain + " failed: " + strings.Join(why, "; ")
}

// hops returns the next hops for domain: Route's, or the MX hosts in order
// of preference (RFC 5321 §5.1), or the domain itself as its implicit MX.
// A status other than None is the final answer: the domain cannot receive
// mail, or its DNS failed.
func (c *Callout) hops(ctx context.Context, domain string) (hosts []string, routed bool, _ verdict.Status, _ string) {
	if c.Route != nil {
		if h := c.Route(domain); len(h) > 0 {
			return h, true, verdict.None, ""
		}
	}
	mxs, err := c.Resolver.LookupMX(ctx, domain)
	if err != nil && len(mxs) == 0 && !dnserr.NotFound(err) {
		return nil, false, verdict.TempError, "DNS failure looking up the MX of " + domain + ": " + dnserr.Reason(err)
	}
	if len(mxs) == 0 {
		ips, err := c.Resolver.LookupNetIP(ctx, "ip", domain)
		if err != nil && !dnserr.NotFound(err) {
			return nil, false, verdict.TempError, "DNS failure looking up " + domain + ": " + dnserr.Reason(err)
		}
		if len(ips) == 0 {
			return nil, false, verdict.Fail, "domain " + domain + " has no MX or address records"
		}
		return []string{domain}, false, verdict.None, ""
	}
	if isNullMX(mxs) {
		return nil, false, verdict.Fail, "domain " + domain + " accepts no mail (null MX)"
	}
	mxs = append([]*net.MX(nil), mxs...)
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts, false, verdict.None, ""
}

// resolveHop returns the servers of one hop, "host" or "host:port", and a
// reason when it has none to probe.
func (c *Callout) resolveHop(ctx context.Context, st *state, hop string, routed bool) ([]target, string) {
	port := c.Port
	if port == 0 {
		port = 25
	}
	host := hop
	if h, p, err := net.SplitHostPort(hop); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, "bad port in " + verdict.Printable(hop)
		}
		host, port = h, n
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		var err error
		ips, err = c.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil && len(ips) == 0 {
			return nil, "looking up " + verdict.Printable(host) + ": " + dnserr.Reason(err)
		}
	}
	var out []target
	var refused []string
	for _, ip := range ips {
		ip = ip.Unmap()
		if !routed && !c.NonGlobal && !c.allowed(st, ip) {
			refused = append(refused, ip.String())
			continue
		}
		out = append(out, target{host: host, addr: netip.AddrPortFrom(ip, uint16(port))})
	}
	if len(refused) > 0 && len(out) == 0 {
		return nil, "not probing " + verdict.Printable(host) + " at " + strings.Join(refused, ", ") + ": not a global address of another host"
	}
	return out, ""
}

// allowed reports whether ip, found in the DNS, may be probed: a global
// unicast address, not private (RFC 1918, RFC 4193) or shared (RFC 6598),
// and not one of ours.
func (c *Callout) allowed(st *state, ip netip.Addr) bool {
	if !netset.Public(ip) {
		return false
	}
	for _, a := range st.self() {
		if a == ip {
			return false
		}
	}
	return true
}

// ownAddresses returns the addresses of this host's interfaces.
func ownAddresses() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// randomLocal returns a local part no one has: the probe's test for a
// catch-all domain.
func randomLocal() string {
	var b [9]byte
	rand.Read(b[:])
	return "mtaguard-probe-" + hex.EncodeToString(b[:])
}

var (
	errRate = errors.New("probe rate for the domain reached")
	errBusy = errors.New("too many probes of the domain in flight")
)
