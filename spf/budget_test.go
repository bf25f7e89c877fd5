package spf

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// txtRR writes a TXT record of any length as strings of 250 bytes, as a
// zone file must.
func txtRR(owner, text string) string {
	var b strings.Builder
	b.WriteString(owner + " TXT")
	for len(text) > 0 {
		n := min(len(text), 250)
		b.WriteString(` "` + text[:n] + `"`)
		text = text[n:]
	}
	return b.String() + "\n"
}

// includeBomb is the zone of the attack: the sender's record, of about
// size bytes, includes as many names as fit, and the first of them does
// the same with other names, and so on eleven levels down. The evaluation
// follows the first include of each until the ten-term limit; without a
// bound on the lookups made ahead, all the includes of the ten records it
// reached were fetched too.
func includeBomb(size int) string {
	var z strings.Builder
	z.WriteString("$ORIGIN attacker.example.\n")
	for level := range 11 {
		var r strings.Builder
		r.WriteString("v=spf1")
		for i := 0; r.Len() < size-40; i++ {
			fmt.Fprintf(&r, " include:l%d-%d.attacker.example", level+1, i)
		}
		r.WriteString(" -all")
		owner := "@"
		if level > 0 {
			owner = fmt.Sprintf("l%d-0", level)
		}
		z.WriteString(txtRR(owner, r.String()))
	}
	return z.String()
}

// countingResolver counts the lookups made through it.
type countingResolver struct {
	Resolver
	n atomic.Int32
}

func (c *countingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	c.n.Add(1)
	return c.Resolver.LookupTXT(ctx, name)
}

func (c *countingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	c.n.Add(1)
	return c.Resolver.LookupMX(ctx, name)
}

func (c *countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	c.n.Add(1)
	return c.Resolver.LookupNetIP(ctx, network, host)
}

func (c *countingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	c.n.Add(1)
	return c.Resolver.LookupAddr(ctx, addr)
}

// wire returns a resolver asking a loopback DNS server that answers from
// zone, with no cache, and the zone's query counters.
func wire(t *testing.T, zone string) (*countingResolver, *resolvertest.Resolver) {
	t.Helper()
	z := resolvertest.MustNew(zone)
	srv, err := resolvertest.NewServer(z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, CacheSize: -1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &countingResolver{Resolver: r}, z
}

// TestIncludeBombOverTheWire: records of 3 and 12 KB (the latter over TCP)
// full of includes made one check ask 1,101 and 4,401 questions, because
// the includes fetched ahead were not counted against the ten terms of RFC
// 7208 §4.6.4. Now the check asks at most the record, the library's ten
// terms and ten lookups ahead, and it ends in permerror, as the limit
// says.
func TestIncludeBombOverTheWire(t *testing.T) {
	for _, size := range []int{3000, 12000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r, z := wire(t, includeBomb(size))
			res := Check(context.Background(), r, netip.MustParseAddr("192.0.2.10"), "mail.example.org", "a@attacker.example")
			if res.Status != verdict.PermError {
				t.Errorf("%v (%s), want permerror: past the ten-term limit", res.Status, res.Reason)
			}
			const bound = 1 + 10 + 10
			if n := int(r.n.Load()); n > bound {
				t.Errorf("%d lookups, want at most %d", n, bound)
			}
			// Each lookup is one question over UDP (truncated) and
			// once more over TCP.
			if n := z.TotalQueries(); n > 2*bound {
				t.Errorf("the server answered %d queries, want at most %d", n, 2*bound)
			}
			t.Logf("%d lookups, %d queries at the server", r.n.Load(), z.TotalQueries())
		})
	}
}

// TestAddressBombOverTheWire: mx terms each naming ten hosts, ptr and
// %{p} with twelve PTR names, and an explanation, for an IPv6 client: what
// a record can make a check ask at most stays within 133, and an mx
// term asks for one address family only (§4.6.4: at most ten address
// questions a term).
func TestAddressBombOverTheWire(t *testing.T) {
	var z strings.Builder
	z.WriteString("$ORIGIN attacker.example.\n")
	var rec strings.Builder
	rec.WriteString("v=spf1 ptr")
	for i := range 8 {
		fmt.Fprintf(&rec, " mx:m%d.attacker.example", i)
		for j := range 10 {
			fmt.Fprintf(&z, "m%d MX 10 h%d-%d.attacker.example.\n", i, i, j)
			fmt.Fprintf(&z, "h%d-%d AAAA 2001:db8:ffff::%d\n", i, j, j+1)
			fmt.Fprintf(&z, "h%d-%d A 198.51.100.%d\n", i, j, j+1)
		}
	}
	rec.WriteString(" exists:%{p}.attacker.example -all exp=why.attacker.example")
	z.WriteString(txtRR("@", rec.String()))
	z.WriteString(txtRR("why", "%{p} is not allowed"))
	z.WriteString("$ORIGIN ip6.arpa.\n")
	client := netip.MustParseAddr("2001:db8:1::25")
	arpa, _ := dns.ReverseAddr(client.String())
	for j := range 12 {
		fmt.Fprintf(&z, "%s PTR p%d.attacker.example.\n", arpa, j)
	}
	r, zr := wire(t, z.String())
	res := Check(context.Background(), r, client, "mail.example.org", "a@attacker.example")
	if res.Status != verdict.Fail {
		t.Errorf("%v (%s), want fail", res.Status, res.Reason)
	}
	if n := int(r.n.Load()); n > 133 {
		t.Errorf("%d lookups, want at most %d", n, 133)
	}
	// the record, ptr (1 + 10 names), eight mx terms (1 + 10 AAAA each),
	// exists (A and AAAA), the %{p} names (1 + 10), the explanation.
	if n, want := int(r.n.Load()), 1+11+8*11+2+11+1; n != want {
		t.Errorf("%d lookups, want %d", n, want)
	}
	t.Logf("%d lookups, %d queries at the server", r.n.Load(), zr.TotalQueries())
}

// TestBudgetGuard: past maxQueries nothing more is asked, and what asks
// gets a failure (temperror), never an answer.
func TestBudgetGuard(t *testing.T) {
	z := resolvertest.MustNew(testZone)
	a := &libResolver{r: z}
	a.queries.Store(maxQueries)
	ctx := context.Background()
	if _, err := a.txt(ctx, "example.org"); err != errBudget {
		t.Errorf("TXT past the budget: %v", err)
	}
	if _, err := a.LookupIPAddr(ctx, "mx.example.org"); !isTemporary(err) {
		t.Errorf("address past the budget: %v, want a temporary error", err)
	}
	if n := z.TotalQueries(); n != 0 {
		t.Errorf("%d questions asked past the budget", n)
	}
}

func isTemporary(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && de.Temporary()
}
