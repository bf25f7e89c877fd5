package verdict

import "strings"

// senderDomain is the domain of an envelope address; replaced by
// internal/address.Domain once that package exists.
func senderDomain(addr string) (string, bool) {
	a := strings.TrimSpace(addr)
	a = strings.TrimPrefix(a, "<")
	a = strings.TrimSuffix(a, ">")
	if i := strings.IndexByte(a, ':'); i >= 0 && strings.HasPrefix(a, "@") {
		a = a[i+1:] // source route
	}
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return "", false
	}
	d := strings.TrimSuffix(strings.ToLower(a[i+1:]), ".")
	if d == "" || strings.HasPrefix(d, "[") {
		return "", false
	}
	return d, true
}
