// Package netset matches client addresses against networks (trusted
// networks, our own hops) the way every mtaguard check must: an
// IPv4-mapped IPv6 address (::ffff:192.0.2.1, as a dual-stack listener
// reports an IPv4 client) is the IPv4 address it carries, and so is an
// IPv4-mapped prefix (::ffff:192.0.2.0/120).
package netset

import "net/netip"

// Set is a list of networks in the form Contains compares with: unmapped,
// masked, invalid ones left out.
type Set []netip.Prefix

// New returns nets as a Set.
func New(nets []netip.Prefix) Set {
	out := make(Set, 0, len(nets))
	for _, n := range nets {
		if a := n.Addr(); a.Is4In6() && n.Bits() >= 96 {
			n = netip.PrefixFrom(a.Unmap(), n.Bits()-96)
		}
		if n.IsValid() {
			out = append(out, n.Masked())
		}
	}
	return out
}

// Contains reports whether ip, unmapped and without a zone, is in one of
// the networks.
func (s Set) Contains(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, n := range s {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Public reports whether ip, unmapped, is a global unicast address that is
// not private (RFC 1918, RFC 4193) or shared (RFC 6598): an address a
// check may look up in the public DNS or probe, as opposed to one of our
// own networks.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is4() {
		if b := ip.As4(); b[0] == 100 && b[1]&0xc0 == 64 { // 100.64.0.0/10
			return false
		}
	}
	return ip.IsGlobalUnicast() && !ip.IsPrivate()
}
