package relay

import (
	"context"
	"github.com/mtaguard/mtaguard/internal/netset"
	"net/netip"
	"strings"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Policy says which destinations are ours and which clients may relay.
//
// Domains are compared after normalisation: case-insensitive, without one
// trailing dot, and with U-labels and A-labels (RFC 5891) as the same name.
// An entry matches that domain only, so "example.org" does not match
// "evilexample.org" nor "mail.example.org"; an entry with a leading dot
// (".example.org") matches the domain and every name below it. (Postfix's
// relay_domains matches subdomains unless parent_domain_matches_subdomains
// says otherwise; here a subdomain is ours only when said so.) An entry
// that is an address literal ("[192.0.2.10]", "[IPv6:2001:db8::25]")
// makes recipients at that literal ours, as Postfix does for its own
// interface addresses. Entries that are not valid names are ignored.
type Policy struct {
	LocalDomains []string       // we are the final destination
	RelayDomains []string       // we accept mail to forward there (backup MX, inbound gateway)
	TrustedNets  []netip.Prefix // clients that may relay anywhere

	// RequireAuth is submission mode (RFC 6409 §4.3): a client that is
	// neither authenticated nor in TrustedNets is refused with 530 5.7.0
	// whatever the recipient.
	RequireAuth bool

	// TLSAuthOnly counts SMTP AUTH only on a TLS session, like Postfix's
	// smtpd_tls_auth_only: credentials sent in the clear do not earn the
	// right to relay. Without TLS an authenticated client is treated as
	// anonymous (and, in submission mode, told to start TLS first).
	TLSAuthOnly bool

	// SenderLogin, if set, says whether the authenticated user may use
	// sender as its MAIL FROM (Postfix's smtpd_sender_login_maps with
	// reject_authenticated_sender_login_mismatch). sender is the address as
	// the client wrote it, less any source route, with its domain
	// normalised: lower-case, A-labels, no trailing dot. The null sender is
	// not passed: a user may always send a bounce.
	SenderLogin func(user, sender string) bool
}

// Envelope is what the relay rules decide from: the client and one
// recipient of its transaction.
type Envelope struct {
	IP       netip.Addr
	AuthUser string // SMTP AUTH identity; "" when not authenticated
	TLS      bool   // TLS in effect
	MailFrom string // envelope sender; "" or "<>" is the null sender
	Rcpt     string // the recipient being decided
}

// Check decides whether the client in e may send to e.Rcpt, and use
// e.MailFrom as sender, under p. The rules, in Postfix's order for a
// RCPT TO with smtpd_delay_reject (client, sender, then relay):
//
//  1. Submission mode (p.RequireAuth): a client neither authenticated nor
//     trusted is refused, 530 5.7.0.
//  2. A client neither authenticated nor trusted that uses one of our
//     LocalDomains as sender is spoofing us: 550 5.7.1. The null sender is
//     exempt. A sender address we cannot parse is refused from such a
//     client (501 5.1.7): an MTA behind us might read it as ours.
//  3. An authenticated client whose sender p.SenderLogin refuses:
//     553 5.7.1.
//  4. A recipient we cannot parse is refused (501 5.1.3).
//  5. A recipient in LocalDomains or RelayDomains whose local part does not
//     route elsewhere, or a bare "postmaster", may be sent to by anyone.
//  6. Any other recipient is relaying, allowed only to an authenticated
//     client or one in TrustedNets; anyone else is refused with
//     554 5.7.1 "Relay access denied".
//
// Refusals are Reject demands with Status Fail; allowed recipients give
// Status Pass. Scores are always 0. An IPv4-mapped IPv6 client matches IPv4
// TrustedNets.
//
// Where the reference systems disagree (anchor-cases.md section E), Check
// takes the side that cannot make an open relay:
//
//   - A local part that still routes (user%remote@local, remote!user@local,
//     "user@remote"@local) makes the address remote, as Postfix flags it
//     RESOLVE_FLAG_ROUTED, even for a relay domain (allow_untrusted_routing
//     = no); Haraka delivers it as a literal local mailbox, which is safe
//     only if nothing behind us honours the percent hack or bang paths.
//   - An unquoted second '@' (user@remote@local) is malformed, as in
//     Haraka, where Postfix would resolve it to the remote domain: both
//     refuse it.
//   - One trailing dot is accepted (Postfix), not refused (Haraka).
//   - Address literals and all-numeric domains are refused unless listed
//     (Exim's allow_domain_literals = false, Postfix's
//     resolve_numeric_domain = no).
//   - The relay refusal is 554 5.7.1, Postfix's reject_unauth_destination,
//     not its default defer_unauth_destination (454): a client that is not
//     allowed to relay will not be allowed later either.
func Check(p *Policy, e Envelope) verdict.Result {
	return compile(p).check(e)
}

// New returns a verdict.Check that applies p at the Rcpt stage to the
// session's client, sender and recipient. The sender rules run there too,
// not at a separate Mail stage check, as Postfix's smtpd_delay_reject (the
// default) does: some clients mishandle a refused MAIL FROM, and a
// refusal at RCPT TO is logged with the recipient it concerns.
// p is copied: later changes to it have no effect.
func New(p *Policy) verdict.Check {
	return &checker{compile(p)}
}

type checker struct{ r *rules }

func (c *checker) Name() string         { return "relay" }
func (c *checker) Stage() verdict.Stage { return verdict.Rcpt }

func (c *checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.r.check(Envelope{IP: s.IP, AuthUser: s.AuthUser, TLS: s.TLS, MailFrom: s.MailFrom, Rcpt: s.Rcpt})
}

// rules is a Policy with its domains normalised into sets.
type rules struct {
	local, relay domains
	trusted      netset.Set
	requireAuth  bool
	tlsAuthOnly  bool
	senderLogin  func(user, sender string) bool
}

// domains is a set of domains: exact names, parents whose subdomains also
// match, and address literals.
type domains struct {
	exact    map[string]bool
	parents  map[string]bool
	literals map[netip.Addr]bool
}

func compile(p *Policy) *rules {
	if p == nil {
		p = &Policy{}
	}
	return &rules{
		local:       compileDomains(p.LocalDomains),
		relay:       compileDomains(p.RelayDomains),
		trusted:     netset.New(p.TrustedNets),
		requireAuth: p.RequireAuth,
		tlsAuthOnly: p.TLSAuthOnly,
		senderLogin: p.SenderLogin,
	}
}

func compileDomains(list []string) domains {
	d := domains{exact: map[string]bool{}, parents: map[string]bool{}, literals: map[netip.Addr]bool{}}
	for _, s := range list {
		if strings.HasPrefix(s, "[") {
			if ip, err := parseLiteral(s); err == nil {
				d.literals[ip] = true
			}
			continue
		}
		set := d.exact
		if strings.HasPrefix(s, ".") {
			s, set = s[1:], d.parents
		}
		if n, err := dnsname.Normalize(s); err == nil {
			set[n] = true
		}
	}
	return d
}

// contains reports whether the address's domain is in the set.
func (d domains) contains(a address) bool {
	if a.literal.IsValid() {
		return d.literals[a.literal]
	}
	if a.domain == "" {
		return false
	}
	if d.exact[a.domain] || d.parents[a.domain] {
		return true
	}
	for name := a.domain; len(d.parents) > 0; {
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			return false
		}
		name = name[dot+1:]
		if d.parents[name] {
			return true
		}
	}
	return false
}

func (r *rules) check(e Envelope) verdict.Result {
	trusted := e.IP.IsValid() && r.trusted.Contains(e.IP)
	authed := e.AuthUser != "" && (e.TLS || !r.tlsAuthOnly)

	if r.requireAuth && !authed && !trusted {
		if e.AuthUser != "" {
			// RFC 3207 §4: the reply to a command that needs TLS first.
			return deny(530, "5.7.0", "Must issue a STARTTLS command first")
		}
		return deny(530, "5.7.0", "Authentication required")
	}

	if res, refused := r.checkSender(e, authed, trusted); refused {
		return res
	}

	to, err := parseAddress(e.Rcpt, true)
	if err != nil {
		res := deny(501, "5.1.3", "Bad recipient address syntax")
		res.Err = err
		return res
	}
	switch {
	case to.postmaster():
		return pass("local postmaster")
	case to.routed:
		// Postfix's RESOLVE_FLAG_ROUTED: whatever the domain, the local
		// part names another destination.
	case r.local.contains(to):
		return pass("local domain")
	case r.relay.contains(to):
		return pass("relay domain")
	}
	switch {
	case authed:
		return pass("authenticated client may relay")
	case trusted:
		return pass("trusted network may relay")
	}
	// Postfix's reject_unauth_destination reply.
	return deny(554, "5.7.1", "Relay access denied")
}

// checkSender applies the sender rules; refused is true when they refuse.
func (r *rules) checkSender(e Envelope, authed, trusted bool) (res verdict.Result, refused bool) {
	if e.MailFrom == "" || e.MailFrom == "<>" {
		return verdict.Result{}, false
	}
	from, err := parseAddress(e.MailFrom, false)
	switch {
	case authed:
		if r.senderLogin == nil {
			return verdict.Result{}, false
		}
		if err != nil || !r.senderLogin(e.AuthUser, from.String()) {
			res := deny(553, "5.7.1", "Sender address rejected: not owned by user "+verdict.Printable(e.AuthUser))
			res.Err = err
			return res, true
		}
	case trusted:
	case err != nil:
		res := deny(501, "5.1.7", "Bad sender address syntax")
		res.Err = err
		return res, true
	case r.local.contains(from):
		// Postfix's text for reject_unauthenticated_sender_login_mismatch.
		return deny(550, "5.7.1", "Sender address rejected: not logged in"), true
	}
	return verdict.Result{}, false
}

func pass(reason string) verdict.Result {
	return verdict.Result{Check: "relay", Status: verdict.Pass, Reason: reason}
}

func deny(code int, enhanced, reason string) verdict.Result {
	return verdict.Result{
		Check:    "relay",
		Status:   verdict.Fail,
		Action:   verdict.Reject,
		Reason:   verdict.Printable(reason),
		Code:     code,
		Enhanced: enhanced,
	}
}
