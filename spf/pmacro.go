package spf

import (
	"context"
	"strings"
)

// The %{p} macro is the validated domain name of the client (RFC 7208
// §7.3): a PTR name of its address whose own addresses include it. The
// SPF library always expands it to "unknown"; the RFC asks for the
// validated name when there is one, preferring <domain> or a subdomain of
// it. Records seldom use it (§7.3 says they should not), so the lookups
// happen only for a record or an explanation that does.

// hasP reports whether a macro-string uses the p macro.
func hasP(s string) bool {
	return strings.Contains(s, "%{p") || strings.Contains(s, "%{P")
}

// lookupValidated finds the validated names of the client's address, once
// per evaluation: the PTR names, of the first ten (§4.6.4), whose address
// lookups include the address (§5.5).
func (a *libResolver) lookupValidated(ctx context.Context) {
	if a.ptrLooked {
		return
	}
	a.ptrLooked = true
	ip := a.env.ip
	names, _ := a.addr(ctx, ip.String())
	names = names[:min(len(names), maxNames)]
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		ips, _ := a.netIP(ctx, family(ip), n)
		for _, x := range ips {
			if x.Unmap() == ip.Unmap() {
				a.validated = append(a.validated, n)
				break
			}
		}
	}
}

// choose returns the validated name %{p} stands for in the record of
// domain: domain itself or a name below it if there is one, else the
// first validated name; "" when there is none (or none was looked up).
func (a *libResolver) choose(domain string) string {
	for _, n := range a.validated {
		if isSubdomain(n, domain) {
			return n
		}
	}
	if len(a.validated) > 0 {
		return a.validated[0]
	}
	return ""
}

// expandP returns the record txt, fetched for domain, with its p macros
// replaced by their expansions, so that the library, which knows no
// validated names, evaluates what the RFC means. txt must have passed
// parseRecord.
func (a *libResolver) expandP(ctx context.Context, txt, domain string) string {
	a.lookupValidated(ctx)
	env := a.env
	env.domain = domain
	env.validated = a.choose(domain)
	var b strings.Builder
	for i := 0; i < len(txt); {
		if txt[i] != '%' || i+1 >= len(txt) {
			b.WriteByte(txt[i])
			i++
			continue
		}
		if txt[i+1] != '{' {
			b.WriteString(txt[i : i+2]) // %%, %_ or %-
			i += 2
			continue
		}
		end := i + strings.IndexByte(txt[i:], '}')
		if txt[i+2]|0x20 != 'p' {
			b.WriteString(txt[i : end+1])
			i = end + 1
			continue
		}
		var v strings.Builder
		if env.expandOne(&v, txt[i+2:end], false) != nil {
			return txt
		}
		// The expansion becomes literal text of the record: keep it a
		// macro-string.
		b.WriteString(strings.NewReplacer("%", "%%", " ", "%_").Replace(v.String()))
		i = end + 1
	}
	return b.String()
}

// isSubdomain reports whether name is domain or below it, comparing as
// sameName does.
func isSubdomain(name, domain string) bool {
	name, domain = strings.TrimSuffix(name, "."), strings.TrimSuffix(domain, ".")
	if len(name) > len(domain) && name[len(name)-len(domain)-1] == '.' {
		name = name[len(name)-len(domain):]
	}
	return sameName(name, domain)
}
