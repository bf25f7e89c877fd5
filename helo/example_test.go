package helo_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

func Example() {
	r := resolvertest.MustNew(`
$ORIGIN example.com.
mail   A   192.0.2.25
`)
	c := helo.New(r, &helo.Options{
		LocalNames:  []string{"example.org"}, // we are mx.example.org
		TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	ip := netip.MustParseAddr("192.0.2.25")
	rdns := "mail.example.com" // the client's confirmed rDNS name, from fcrdns
	for _, name := range []string{"mail.example.com", "[192.0.2.25]", "mx.example.org", "ylmf-pc", "ghost.example.net", "c-192-0-2-25.dyn.example.net"} {
		res := c.Evaluate(context.Background(), ip, name, rdns)
		fmt.Printf("%v %v: %s\n", res.Status, res.Score, res.Reason)
	}
	// Output:
	// pass -0.5: HELO mail.example.com: consistent (resolves to 192.0.2.25)
	// pass 0: HELO [192.0.2.25]: ok
	// fail 6: HELO mx.example.org: forged-local (we are example.org)
	// fail 2.5: HELO ylmf-pc: not-fqdn
	// fail 1.5: HELO ghost.example.net: no-dns (no A, AAAA or MX record)
	// fail 4: HELO c-192-0-2-25.dyn.example.net: dynamic (its IP address is embedded in decimal), no-dns (no A, AAAA or MX record)
}
