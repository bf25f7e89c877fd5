package resolver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzAnswer feeds arbitrary DNS messages, as a server might send them,
// through the answer handling (CNAME following, caching, the conversions
// of every lookup method). Nothing may panic or loop, and no name that net
// would not return may come back.
func FuzzAnswer(f *testing.F) {
	for _, rrs := range [][]string{
		{"example.org. 60 A 192.0.2.1", "example.org. 60 AAAA 2001:db8::1"},
		{"example.org. 60 CNAME a.example.org.", "a.example.org. 60 CNAME b.example.org.", "b.example.org. 60 A 192.0.2.2"},
		{"example.org. 60 CNAME example.org."},
		{"example.org. 60 TXT \"v=spf1 \" \"-all\"", "example.org. 60 TXT \"\""},
		{"example.org. 60 MX 0 .", "example.org. 60 MX 10 mx\\032x.example.org.", "example.org. 60 MX 20 192.0.2.1."},
		{"1.2.0.192.in-addr.arpa. 60 PTR mx.example.org.", "1.2.0.192.in-addr.arpa. 60 PTR bad\\.name."},
	} {
		m := new(dns.Msg)
		m.SetQuestion("example.org.", dns.TypeA)
		m.Response = true
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	nx := new(dns.Msg)
	nx.SetQuestion("example.org.", dns.TypeA)
	nx.Rcode = dns.RcodeNameError
	soa, _ := dns.NewRR("example.org. 300 SOA ns hostmaster 1 7200 3600 1209600 60")
	nx.Ns = []dns.RR{soa}
	b, _ := nx.Pack()
	f.Add(b)

	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		r, err := New(Config{CacheSize: 16, Exchanger: exchangeFunc(func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
			return m, nil
		})})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.LookupTXT(ctx, "example.org")
		r.LookupHost(ctx, "example.org")
		r.LookupIPAddr(ctx, "a.example.org")
		r.LookupNetIP(ctx, "ip6", "b.example.org")
		mx, _ := r.LookupMX(ctx, "example.org")
		for _, m := range mx {
			if _, err := netip.ParseAddr(strings.TrimSuffix(m.Host, ".")); !validName(m.Host) && err != nil {
				t.Errorf("MX host %q", m.Host)
			}
		}
		names, _ := r.LookupAddr(ctx, "192.0.2.1")
		for _, n := range names {
			if !validName(n) {
				t.Errorf("PTR name %q", n)
			}
		}
		if c, err := r.LookupCNAME(ctx, "example.org"); err == nil && !validName(c) {
			t.Errorf("CNAME %q", c)
		} else if err != nil {
			if _, ok := err.(*net.DNSError); !ok {
				t.Errorf("error %T", err)
			}
		}
	})
}
