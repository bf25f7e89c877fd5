package fcrdns

import (
	"net/netip"

	"github.com/mtaguard/mtaguard/internal/generic"
)

// Generic reports whether name, a PTR name of ip, looks like the name an
// access provider gives to a dynamic or end-user address rather than the
// name of a mail server, and says which rule found it; Check adds
// Scores.Generic when it does. Package helo judges HELO names by the same
// rules. Only the host part is read: the labels left of the registrable
// domain (public suffix plus one label), so "dsl-provider.example.com" is
// no more generic than any other domain, and "dns.google" has no host part
// at all.
//
// The rules, in order:
//
//  1. A host part holding the word "static" or "business" is not generic:
//     providers mark the addresses they sell for servers that way
//     (Haraka's exemption).
//  2. The address is embedded. IPv4: two consecutive octets as decimal
//     numbers joined by one '-', '.' or '_' in either order
//     ("c-76-121-96-159", "m17-178", "92-67-42-100"), all four as one
//     zero-padded 12-digit number ("188034255136"), or as 8 hex digits
//     ("0x3ec6ec81"), either order. IPv6: the whole address with its
//     colons written as '-', '.' or '_' ("2001-db8--1"), as 32 hex digits,
//     or as 32 nibbles in either order.
//  3. A word (a run of letters) is one providers use for dynamic or
//     end-user pools: "dyn", "dynamic", "pool", "dsl", "dhcp", "cable",
//     "ppp", "dialup", "dip", "broadband", "residential", "cust", "cpe",
//     and a few more.
//
// Rule 2 is stricter than Haraka's is_ip_in_str, which takes any two
// octets appearing anywhere as substrings: that flags "mail1and2.example"
// for 1.2.3.4 and, in general, names with small numbers. Requiring the
// numbers to stand alone, next to each other, keeps the true cases
// (every one in Haraka's tests) and drops those.
func Generic(ip netip.Addr, name string) (rule string, ok bool) {
	return generic.Name(ip, name)
}
