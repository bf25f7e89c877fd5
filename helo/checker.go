package helo

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/netset"
	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in verdict.Result.Check and
// verdict.Session.Result.
const Name = "helo"

// Options configure the check. A nil *Options means the defaults: no local
// names, no trusted networks, DefaultScores.
type Options struct {
	// LocalNames are our own host names and domains. A client outside
	// TrustedNets that gives one of them, or a name below one, as its HELO
	// is forging our identity.
	LocalNames []string

	// TrustedNets are our own clients' networks. Their HELO is not checked
	// at all (nor that of a session marked verdict.Session.Trusted, as
	// verdict.Policy.TrustedNets marks it: either is enough), as Haraka skips relaying and private clients and Postfix's
	// permit_mynetworks comes before the HELO restrictions: internal hosts
	// may use our names, private domains and whatever their software
	// sends.
	TrustedNets []netip.Prefix

	// Scores replaces DefaultScores.
	Scores *Scores
}

// Scores are the points each sub-check adds when it fires, on the scale of
// verdict.Policy (a strong single signal is about 3 to 6, a weak one about
// 0.5 to 1, a trust signal negative). The field comments name the
// sub-check as it appears in a Reason.
type Scores struct {
	Invalid         float64 // "invalid": not a domain or address literal (Postfix reject_invalid_helo_hostname)
	BareIP          float64 // "bare-ip": an address without brackets
	LiteralMismatch float64 // "literal-mismatch": an address literal that is not the client's address
	Localhost       float64 // "localhost": localhost, localhost.localdomain or a name under .localhost
	ForgedLocal     float64 // "forged-local": one of Options.LocalNames from a client not in Options.TrustedNets
	NotFQDN         float64 // "not-fqdn": a name without a dot (Postfix reject_non_fqdn_helo_hostname)
	PrivateTLD      float64 // "private-tld": a name under a private or special-use top-level domain (.local, .lan, .test, ...)
	UnknownTLD      float64 // "unknown-tld": a top-level domain the public suffix list does not know
	Dynamic         float64 // "dynamic": the name spells out the client's address, as providers name end-user addresses
	NoDNS           float64 // "no-dns": the name has no A, AAAA or MX record (Postfix reject_unknown_helo_hostname)
	Inconsistent    float64 // "inconsistent": the name resolves, but neither to the client nor to its rDNS domain
	Consistent      float64 // "consistent": the name resolves to the client or shares its rDNS domain
}

// DefaultScores are the scores used when Options.Scores is nil, chosen
// after rspamd's hfilter weights: a HELO no mail server would send
// (invalid, bare address, localhost, no dot) weighs about 3; claiming one
// of our own names from outside weighs 6, enough to quarantine alone under
// the example policy, since an internal name from an external address must
// authenticate; a provider's name for a dynamic address weighs 2.5
// (rspamd's HFILTER_HELO_4 for such names); a name that does not exist
// weighs 1.5; a mismatch with the client only 0.5, as RFC 5321 §4.1.4
// forbids refusing mail for it and large senders' HELO names often do not
// match (maddy removed its strict check for that reason); a consistent
// HELO earns a little trust.
//
// New copies DefaultScores: changing it later does not change a Checker
// already made.
var DefaultScores = Scores{
	Invalid:         3,
	BareIP:          3,
	LiteralMismatch: 2,
	Localhost:       3,
	ForgedLocal:     6,
	NotFQDN:         2.5,
	PrivateTLD:      1,
	UnknownTLD:      2,
	Dynamic:         2.5,
	NoDNS:           1.5,
	Inconsistent:    0.5,
	Consistent:      -0.5,
}

// New returns the check as a verdict.Check for the Helo stage. It checks
// the session's HELO name with r and o (nil for the defaults), taking the
// client's confirmed rDNS name from the session's fcrdns result (its
// Domain, when its Status is Pass), so the fcrdns check must run at the
// Connect stage for the rDNS part of the consistency sub-check to work.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r, scores: DefaultScores}
	if o == nil {
		return c
	}
	if o.Scores != nil {
		c.scores = *o.Scores
	}
	c.trusted = netset.New(o.TrustedNets)
	for _, l := range o.LocalNames {
		if l, err := dnsname.Normalize(l); err == nil {
			c.localNames = append(c.localNames, l)
		}
	}
	return c
}

// Checker is the helo check as a verdict.Check.
type Checker struct {
	r          Resolver
	localNames []string // normalized
	trusted    netset.Set
	scores     Scores
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Helo.
func (c *Checker) Stage() verdict.Stage { return verdict.Helo }

// Check checks s.HELO from s.IP, with the Domain of a passing fcrdns
// result in s as the client's rDNS name. A session without a HELO name
// (the client sent none, which Postfix allows unless smtpd_helo_required
// is set) gets None: there is nothing to check. So does a trusted session
// (s.Trusted), as a client in Options.TrustedNets does.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	if s.HELO == "" {
		return verdict.Result{Check: Name, Reason: "no HELO name"}
	}
	if s.Trusted {
		return verdict.Result{Check: Name, Reason: "trusted client; HELO not checked"}
	}
	clientName := ""
	if fc, ok := s.Result(fcrdns.Name); ok && fc.Status == verdict.Pass {
		clientName = fc.Domain
	}
	return c.Evaluate(ctx, s.IP, s.HELO, clientName)
}

// Evaluate checks name, the HELO or EHLO argument of the client at ip, as
// the package's Check does, with the Checker's Options. clientName is the
// client's forward-confirmed reverse DNS name (the Domain of a passing
// fcrdns result), or "" if it has none: a HELO equal to it, or in the same
// registrable domain, is consistent.
func (c *Checker) Evaluate(ctx context.Context, ip netip.Addr, name, clientName string) verdict.Result {
	return c.check(ctx, ip, name, clientName)
}

// After returns fcrdns.Name: the HELO consistency sub-check uses the name
// it confirmed, so a Policy evaluating both at once runs helo second.
func (c *Checker) After() []string { return []string{fcrdns.Name} }

// Prefetch starts the address lookups of the HELO name, which do not
// depend on fcrdns, so that with a caching resolver (package resolver) the
// wait for fcrdns costs no extra round trip when a Policy evaluates both
// at once. It is a verdict.Prefetcher.
func (c *Checker) Prefetch(ctx context.Context, s *verdict.Session) {
	n, err := Parse(s.HELO)
	if err != nil || n.Kind != Domain || !strings.Contains(n.Domain, ".") {
		return
	}
	var wg sync.WaitGroup
	for _, network := range []string{"ip4", "ip6"} {
		wg.Go(func() { c.r.LookupNetIP(ctx, network, n.Domain) })
	}
	wg.Wait()
}
