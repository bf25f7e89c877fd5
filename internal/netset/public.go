package netset

import "net/netip"

// Public reports whether ip, unmapped, is a global unicast address that is
// not private (RFC 1918, RFC 4193) or shared (RFC 6598, 100.64.0.0/10):
// an address whose DNS facts (PTR names, list entries) the public DNS
// holds and whose queries do not leak an internal address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is4() {
		if b := ip.As4(); b[0] == 100 && b[1]&0xc0 == 64 {
			return false
		}
	}
	return ip.IsGlobalUnicast() && !ip.IsPrivate()
}
