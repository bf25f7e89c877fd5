package relay

import (
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/netset"
	"github.com/mtaguard/mtaguard/verdict"
)

// rules is a Policy with its domains normalised into sets.
type rules struct {
	local, relay domains
	trusted      netset.Set
	certs        map[string]bool // fingerprints, lower-case hex without colons
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
	r := &rules{
		local:       compileDomains(p.LocalDomains),
		relay:       compileDomains(p.RelayDomains),
		trusted:     netset.New(p.TrustedNets),
		certs:       map[string]bool{},
		requireAuth: p.RequireAuth,
		tlsAuthOnly: p.TLSAuthOnly,
		senderLogin: p.SenderLogin,
	}
	for _, fp := range p.ClientCerts {
		if fp, ok := normalizeFingerprint(fp); ok {
			r.certs[fp] = true
		}
	}
	return r
}

// normalizeFingerprint returns a SHA-256 fingerprint written in hex, with
// or without colons, in the form of Fingerprint.
func normalizeFingerprint(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
		return "", false
	}
	return s, true
}

func compileDomains(list []string) domains {
	d := domains{exact: map[string]bool{}, parents: map[string]bool{}, literals: map[netip.Addr]bool{}}
	for _, s := range list {
		if strings.HasPrefix(s, "[") {
			if ip, ok := address.Literal(s); ok {
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
func (d domains) contains(a mailbox) bool {
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
	if !e.SMTPUTF8 && (!isASCII(e.MailFrom) || !isASCII(e.Rcpt)) {
		// Postfix's smtpd reply; RFC 6531 §3.5.
		res := deny(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address")
		res.Err = errNonASCII
		return res
	}

	trustedNet := e.Trusted || e.IP.IsValid() && r.trusted.Contains(e.IP)
	trustedCert := e.TLS && e.ClientCert != "" && r.certs[strings.ToLower(e.ClientCert)]
	trusted := trustedNet || trustedCert
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

	to, err := parseAddress(e.Rcpt, true, e.SMTPUTF8)
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
	case trustedNet && e.Trusted:
		return pass("trusted client may relay")
	case trustedNet:
		return pass("trusted network may relay")
	case trustedCert:
		return pass("trusted client certificate may relay")
	}
	// Postfix's reject_unauth_destination reply.
	return deny(554, "5.7.1", "Relay access denied")
}

// checkSender applies the sender rules; refused is true when they refuse.
func (r *rules) checkSender(e Envelope, authed, trusted bool) (res verdict.Result, refused bool) {
	if e.MailFrom == "" || e.MailFrom == "<>" {
		return verdict.Result{}, false
	}
	from, err := parseAddress(e.MailFrom, false, e.SMTPUTF8)
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func pass(reason string) verdict.Result {
	return verdict.Result{Check: Name, Status: verdict.Pass, Reason: reason}
}

func deny(code int, enhanced, reason string) verdict.Result {
	return verdict.Result{
		Check:    Name,
		Status:   verdict.Fail,
		Action:   verdict.Reject,
		Reason:   verdict.Printable(reason),
		Code:     code,
		Enhanced: enhanced,
	}
}
