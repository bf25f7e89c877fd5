package dmarc

import (
	"golang.org/x/net/publicsuffix"

	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// OrgDomain returns the organizational domain of domain (RFC 7489 §3.2):
// its public suffix plus one label, in lower-case A-label form. It returns
// "" when domain is itself a public suffix ("com", "co.uk", "github.io"),
// which has no organizational domain, or is no valid domain name.
//
// The public suffixes are those of the whole Public Suffix List compiled
// into golang.org/x/net/publicsuffix, its PRIVATE section included, on
// purpose:
//
//   - RFC 7489 §3.2 says to use "a public suffix list" and names no
//     section. The official PSL test table (test_psl.txt) expects
//     example.uk.com, not uk.com, as the registrable domain under the
//     private entry uk.com.
//   - A private entry marks a namespace whose subdomains belong to
//     different people: user1.github.io and user2.duckdns.org are separate
//     organizations. With the ICANN section only, every name under
//     duckdns.org would share the organizational domain duckdns.org, so
//     SPF or DKIM for attacker.duckdns.org, which anyone can set up, would
//     align in relaxed mode with a From of victim.duckdns.org. The full
//     list fails closed there.
//   - mox uses the ICANN section only, citing RFC 7489 erratum 6729, so
//     that a private-section provider's own record can serve its
//     customers' subdomains. That gain is small next to the cross-tenant
//     alignment above; DMARCbis drops the list anyway for a DNS tree walk.
//     maddy uses the full list, as here.
func OrgDomain(domain string) string {
	d, err := dnsname.Normalize(domain)
	if err != nil {
		return ""
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return "" // d is a public suffix
	}
	return org
}

// alignedPSL reports whether an authenticated identity (an SPF or DKIM
// domain) aligns with the From domain as RFC 7489 §3.1 defines it: the
// same name in strict mode, the same organizational domain (OrgDomain) in
// relaxed mode. Both names must be normalized. A public suffix has no organizational domain, so it aligns
// only with itself: d=com never aligns with example.com, and a From of
// github.io never aligns with user.github.io.
func alignedPSL(from, id string, strict bool) bool {
	if from == id {
		return true
	}
	if strict {
		return false
	}
	org := OrgDomain(from)
	return org != "" && org == OrgDomain(id)
}
