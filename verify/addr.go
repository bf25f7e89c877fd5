package verify

import "strings"

// splitAddress splits an envelope address at its last '@'.
// TODO(verify): replace with internal/address.Split once it is on main.
func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}
