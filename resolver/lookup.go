package resolver

import (
	"cmp"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// records looks up (host, qtype) and returns the records, or the error net
// would give for no records. Errors name host, as net's do.
func (r *Resolver) records(ctx context.Context, host string, qtype uint16) (*answer, error) {
	name, err := canonical(host)
	if err != nil {
		return nil, err
	}
	a, err := r.lookup(ctx, name, qtype)
	if err != nil {
		return nil, renamed(err, host)
	}
	if len(a.rrs) == 0 {
		return a, notFound(host)
	}
	return a, nil
}

// renamed returns a copy of a *net.DNSError naming name; errors may be
// cached and shared, so they are never changed in place.
func renamed(err error, name string) error {
	if de, ok := err.(*net.DNSError); ok {
		c := *de
		c.Name = name
		return &c
	}
	return err
}

// LookupTXT returns the TXT records of name, each record's strings joined,
// as net.Resolver.LookupTXT does.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	a, err := r.records(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(a.rrs))
	for _, rr := range a.rrs {
		out = append(out, txtString(rr.(*dns.TXT).Txt))
	}
	return out, nil
}

// LookupMX returns the MX records of name sorted by preference, with
// absolute host names, as net.Resolver.LookupMX does. A null MX (RFC 7505)
// comes back as one record with Host ".". As with net, records whose host
// is no valid name are left out, and then the others come back together
// with an error.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	a, err := r.records(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(a.rrs))
	for _, rr := range a.rrs {
		mx := rr.(*dns.MX)
		if !validName(mx.Mx) {
			// net also keeps an IP address written as a host name.
			ip, err := netip.ParseAddr(strings.TrimSuffix(mx.Mx, "."))
			if err != nil || ip.Zone() != "" {
				continue
			}
		}
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	if len(out) != len(a.rrs) {
		return out, &net.DNSError{Err: errMalformed, Name: name}
	}
	return out, nil
}

// LookupAddr returns the PTR names of addr (an IPv4 or IPv6 address in
// text form), absolute, as net.Resolver.LookupAddr does: names that are
// not valid host names are left out, and then the others come back
// together with an error.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	a, err := r.records(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, renamed(err, addr)
	}
	out := make([]string, 0, len(a.rrs))
	for _, rr := range a.rrs {
		if ptr := rr.(*dns.PTR).Ptr; validName(ptr) {
			out = append(out, ptr)
		}
	}
	if len(out) != len(a.rrs) {
		return out, &net.DNSError{Err: errMalformed, Name: addr}
	}
	return out, nil
}

// LookupCNAME returns the canonical name of host, absolute, as
// net.Resolver.LookupCNAME does: the end of its CNAME chain (even when
// that name does not exist), or host itself when it has no CNAME but has
// addresses. A name with neither is not found.
func (r *Resolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	name, err := canonical(host)
	if err != nil {
		return "", err
	}
	// As net does, ask for addresses and read the chain from the answers.
	a, err := r.lookup(ctx, name, dns.TypeA)
	if err != nil {
		return "", renamed(err, host)
	}
	if len(a.rrs) == 0 && a.target == name+"." {
		if a.rcode == dns.RcodeNameError {
			return "", notFound(host)
		}
		// No CNAME and no IPv4 address: host is canonical only if it
		// has IPv6 addresses.
		a, err = r.lookup(ctx, name, dns.TypeAAAA)
		if err != nil {
			return "", renamed(err, host)
		}
		if len(a.rrs) == 0 && a.target == name+"." {
			return "", notFound(host)
		}
	}
	if !validName(a.target) {
		return "", &net.DNSError{Err: errMalformed, Name: host}
	}
	return a.target, nil
}

// LookupNetIP returns the addresses of host; network is "ip", "ip4" or
// "ip6". For "ip" the A and AAAA queries go out together, and when neither
// gives an address a failure of either is reported before a not-found, so
// that a SERVFAIL on one family is never taken for a missing name.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var one uint16
	switch network {
	case "ip":
	case "ip4":
		one = dns.TypeA
	case "ip6":
		one = dns.TypeAAAA
	default:
		return nil, &net.DNSError{Err: "unsupported network " + network, Name: host}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if one != 0 {
		a, err := r.records(ctx, host, one)
		if err != nil {
			return nil, err
		}
		if out := appendAddrs(nil, a); len(out) > 0 {
			return out, nil
		}
		return nil, notFound(host)
	}
	type res struct {
		a   *answer
		err error
	}
	ch := make(chan res, 1)
	go func() {
		a, err := r.records(ctx, host, dns.TypeAAAA)
		ch <- res{a, err}
	}()
	a4, err4 := r.records(ctx, host, dns.TypeA)
	six := <-ch
	out := appendAddrs(appendAddrs(nil, a4), six.a)
	if len(out) > 0 {
		return out, nil
	}
	for _, err := range []error{err4, six.err} {
		if de, ok := err.(*net.DNSError); ok && !de.IsNotFound {
			return nil, err
		}
	}
	return nil, notFound(host)
}

func appendAddrs(out []netip.Addr, a *answer) []netip.Addr {
	if a == nil {
		return out
	}
	for _, rr := range a.rrs {
		switch rr := rr.(type) {
		case *dns.A:
			if ip, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				out = append(out, ip)
			}
		case *dns.AAAA:
			if ip, ok := netip.AddrFromSlice(rr.AAAA.To16()); ok {
				out = append(out, ip)
			}
		}
	}
	return out
}

// LookupIPAddr returns the addresses of host as net.IPAddr values.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	return out, nil
}

// LookupHost returns the addresses of host as strings.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

// txtString joins the character-strings of a TXT record into the bytes a
// publisher put there, as net does. miekg/dns keeps them in presentation
// form (RFC 1035 §5.1): a quote or backslash is escaped with a backslash
// and a byte outside printable ASCII is written \DDD; without undoing
// that, a record holding "ä" or a quote would reach SPF, DKIM and DMARC
// parsers altered.
func txtString(parts []string) string {
	s := strings.Join(parts, "")
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); v <= 255 {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
