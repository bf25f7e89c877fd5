package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// zone is served by every test that needs ordinary data.
const zone = `
$ORIGIN example.org.
$TTL 300
@        SOA   ns hostmaster 1 7200 3600 1209600 60
@        NS    ns
@        MX    20 mx2
@        MX    10 mx
@        TXT   "v=spf1 " "mx -all"
@        TXT   "second record"
ns       A     192.0.2.53
mx       A     192.0.2.25
mx       AAAA  2001:db8::25
mx2      A     192.0.2.26
v4       A     192.0.2.4
v6       AAAA  2001:db8::6
alias    CNAME mx
c1       CNAME c2
c2       CNAME c3
c3       CNAME mx
dangling CNAME gone
loop1    CNAME loop2
loop2    CNAME loop1
x.ent    A     192.0.2.9
nullmx   MX    0 .
*.wild   TXT   "wildcard"
escaped  TXT   "say \"hi\" \\ " "\195\164\013"
mxonly   MX    10 mx
broken   A     192.0.2.1
refused  A     192.0.2.2
slow     A     192.0.2.3
badmx    MX    10 mx
badmx    MX    20 bad\032mx
badmx    MX    30 192.0.2.30.
25.2.0.192.in-addr.arpa. PTR mx.example.org.
66.2.0.192.in-addr.arpa. PTR good.example.org.
66.2.0.192.in-addr.arpa. PTR bad\032name.example.org.
`

// serve starts a resolvertest server for zone, with the faults every
// test relies on, and closes it when the test ends.
func serve(t testing.TB, zone string) (*resolvertest.Resolver, *resolvertest.Server) {
	t.Helper()
	z, err := resolvertest.New(zone)
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := dns.ReverseAddr("2001:db8::25")
	if err := z.Add(rev + " PTR mx.example.org."); err != nil {
		t.Fatal(err)
	}
	z.SetFault("broken.example.org", resolvertest.ServFail)
	z.SetFault("refused.example.org", resolvertest.Refused)
	z.SetFault("slow.example.org", resolvertest.Timeout)
	s, err := resolvertest.NewServer(z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return z, s
}

// client returns a resolver asking the servers at addrs.
func client(t testing.TB, cfg resolver.Config, addrs ...string) *resolver.Resolver {
	t.Helper()
	cfg.Servers = addrs
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	r, err := resolver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// goResolver is net's pure Go resolver asking addr only.
func goResolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// lookuper is the method set *net.Resolver and *resolver.Resolver share.
type lookuper interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
}

var (
	_ lookuper = (*resolver.Resolver)(nil)
	_ lookuper = (*resolvertest.Resolver)(nil)
	_ lookuper = net.DefaultResolver
)

// methods call each lookup method and give its results as sorted strings.
var methods = map[string]func(context.Context, lookuper, string) ([]string, error){
	"Addr": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return r.LookupAddr(ctx, s)
	},
	"NetIP": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return strs(r.LookupNetIP(ctx, "ip", s))
	},
	"NetIP4": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return strs(r.LookupNetIP(ctx, "ip4", s))
	},
	"NetIP6": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return strs(r.LookupNetIP(ctx, "ip6", s))
	},
	"IPAddr": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return strs(r.LookupIPAddr(ctx, s))
	},
	"Host": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return r.LookupHost(ctx, s)
	},
	"TXT": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		return r.LookupTXT(ctx, s)
	},
	"MX": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		mx, err := r.LookupMX(ctx, s)
		return strs(mx, err)
	},
	"CNAME": func(ctx context.Context, r lookuper, s string) ([]string, error) {
		c, err := r.LookupCNAME(ctx, s)
		if c == "" {
			return nil, err
		}
		return []string{c}, err
	},
}

func strs[T any](vs []T, err error) ([]string, error) {
	var out []string
	for _, v := range vs {
		switch v := any(v).(type) {
		case netip.Addr:
			// net gives IPv4 as IPv4-mapped IPv6 in some paths.
			out = append(out, v.Unmap().String())
		case net.IPAddr:
			out = append(out, v.String())
		case *net.MX:
			out = append(out, fmt.Sprintf("%d %s", v.Pref, v.Host))
		}
	}
	return out, err
}

// class names an error's class the way callers of net test it.
func class(err error) string {
	if err == nil {
		return "ok"
	}
	var de *net.DNSError
	if !errors.As(err, &de) {
		return "not a *net.DNSError: " + err.Error()
	}
	var c []string
	if de.IsNotFound {
		c = append(c, "notfound")
	}
	if de.IsTemporary {
		c = append(c, "temporary")
	}
	if de.IsTimeout {
		c = append(c, "timeout")
	}
	if len(c) == 0 {
		return "permanent"
	}
	return strings.Join(c, "+")
}

// Each method over the wire gives the same answers and error classes as
// net's pure Go resolver asking the same server, except where noted.
func TestLikeNet(t *testing.T) {
	_, srv := serve(t, zone)
	ours := client(t, resolver.Config{Timeout: 500 * time.Millisecond, Attempts: 1}, srv.Addr)
	theirs := goResolver(srv.Addr)
	const (
		ok       = "ok"
		notfound = "notfound"
		temp     = "temporary"
		timeout  = "temporary+timeout"
	)
	tests := []struct {
		method, arg string
		want        []string
		class       string
		// Where net differs, on purpose:
		netWant  []string
		netClass string
	}{
		{"TXT", "example.org", []string{"second record", "v=spf1 mx -all"}, ok, nil, ""},
		{"TXT", "EXAMPLE.org.", []string{"second record", "v=spf1 mx -all"}, ok, nil, ""},
		{"TXT", "a.wild.example.org", []string{"wildcard"}, ok, nil, ""},
		{"TXT", "escaped.example.org", []string{"say \"hi\" \\ \u00e4\r"}, ok, nil, ""},
		{"TXT", "a.b.wild.example.org", []string{"wildcard"}, ok, nil, ""},
		{"TXT", "v4.example.org", nil, notfound, nil, ""},
		{"TXT", "nosuch.example.org", nil, notfound, nil, ""},
		{"TXT", "ent.example.org", nil, notfound, nil, ""},
		{"TXT", "broken.example.org", nil, temp, nil, ""},
		// net calls REFUSED permanent; a DNS failure must never be evidence.
		{"TXT", "refused.example.org", nil, temp, nil, "permanent"},
		{"TXT", "slow.example.org", nil, timeout, nil, ""},
		{"TXT", "bad name.example.org", nil, notfound, nil, ""},
		{"TXT", "", nil, notfound, nil, ""},
		{"MX", "example.org", []string{"10 mx.example.org.", "20 mx2.example.org."}, ok, nil, ""},
		{"MX", "nullmx.example.org", []string{"0 ."}, ok, nil, ""},
		{"MX", "v4.example.org", nil, notfound, nil, ""},
		// Hosts that are no names are left out, with an error.
		{"MX", "badmx.example.org", []string{"10 mx.example.org.", "30 192.0.2.30."}, "permanent", nil, ""},
		{"MX", "nosuch.example.org", nil, notfound, nil, ""},
		{"MX", "broken.example.org", nil, temp, nil, ""},
		{"Host", "mx.example.org", []string{"192.0.2.25", "2001:db8::25"}, ok, nil, ""},
		{"Host", "v4.example.org", []string{"192.0.2.4"}, ok, nil, ""},
		{"Host", "v6.example.org", []string{"2001:db8::6"}, ok, nil, ""},
		{"Host", "alias.example.org", []string{"192.0.2.25", "2001:db8::25"}, ok, nil, ""},
		{"Host", "c1.example.org", []string{"192.0.2.25", "2001:db8::25"}, ok, nil, ""},
		{"Host", "dangling.example.org", nil, notfound, nil, ""},
		{"Host", "loop1.example.org", nil, temp, nil, ""},
		{"Host", "mxonly.example.org", nil, notfound, nil, ""},
		{"Host", "ent.example.org", nil, notfound, nil, ""},
		{"Host", "nosuch.example.org", nil, notfound, nil, ""},
		{"Host", "broken.example.org", nil, temp, nil, ""},
		{"Host", "slow.example.org", nil, timeout, nil, ""},
		{"Host", "192.0.2.1", []string{"192.0.2.1"}, ok, nil, ""},
		{"IPAddr", "mx.example.org", []string{"192.0.2.25", "2001:db8::25"}, ok, nil, ""},
		{"IPAddr", "nosuch.example.org", nil, notfound, nil, ""},
		{"NetIP", "mx.example.org", []string{"192.0.2.25", "2001:db8::25"}, ok, nil, ""},
		{"NetIP", "v6.example.org", []string{"2001:db8::6"}, ok, nil, ""},
		{"NetIP4", "mx.example.org", []string{"192.0.2.25"}, ok, nil, ""},
		{"NetIP4", "v6.example.org", nil, notfound, nil, ""},
		{"NetIP6", "mx.example.org", []string{"2001:db8::25"}, ok, nil, ""},
		{"NetIP6", "v4.example.org", nil, notfound, nil, ""},
		{"NetIP6", "broken.example.org", nil, temp, nil, ""},
		{"Addr", "192.0.2.25", []string{"mx.example.org."}, ok, nil, ""},
		{"Addr", "2001:db8::25", []string{"mx.example.org."}, ok, nil, ""},
		{"Addr", "192.0.2.99", nil, notfound, nil, ""},
		{"Addr", "192.0.2.66", []string{"good.example.org."}, "permanent", nil, ""},
		{"Addr", "not-an-ip", nil, "permanent", nil, ""},
		{"CNAME", "alias.example.org", []string{"mx.example.org."}, ok, nil, ""},
		// net answers with the first CNAME's target or the chain's end,
		// whichever of its queries is answered first.
		{"CNAME", "c1.example.org", []string{"mx.example.org."}, ok, []string{"*"}, ""},
		{"CNAME", "mx.example.org", []string{"mx.example.org."}, ok, nil, ""},
		{"CNAME", "v6.example.org", []string{"v6.example.org."}, ok, nil, ""},
		{"CNAME", "mxonly.example.org", nil, notfound, nil, ""},
		{"CNAME", "nosuch.example.org", nil, notfound, nil, ""},
		{"CNAME", "dangling.example.org", []string{"gone.example.org."}, ok, nil, ""},
		// net asks for the CNAME record too and returns the loop's next
		// name; a loop is a DNS failure, never an answer.
		{"CNAME", "loop1.example.org", nil, temp, []string{"loop2.example.org."}, ok},
		{"CNAME", "slow.example.org", nil, timeout, nil, ""},
		{"CNAME", "broken.example.org", nil, temp, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.arg, func(t *testing.T) {
			t.Parallel()
			netWant, netClass := tt.want, tt.class
			if tt.netWant != nil {
				netWant = tt.netWant
			}
			if tt.netClass != "" {
				netClass = tt.netClass
			}
			for _, c := range []struct {
				who   string
				r     lookuper
				want  []string
				class string
			}{{"ours", ours, tt.want, tt.class}, {"net", theirs, netWant, netClass}} {
				ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
				got, err := methods[tt.method](ctx, c.r, tt.arg)
				cancel()
				slices.Sort(got)
				if c.want != nil && c.want[0] == "*" {
					got = c.want
				}
				if !slices.Equal(got, c.want) || class(err) != c.class {
					t.Errorf("%s: got %q, %v (%s); want %q (%s)", c.who, got, err, class(err), c.want, c.class)
				}
			}
		})
	}
}
