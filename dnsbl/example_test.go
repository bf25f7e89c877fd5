package dnsbl_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// Example weighs one list's return codes differently, as
// postscreen_dnsbl_sites does with "zen.spamhaus.org=127.0.0.[10..11]*1":
// the zone is queried once, and each List whose Codes match adds its
// Score. An allow list has a negative Score.
func Example() {
	r := resolvertest.MustNew(`
$ORIGIN zen.example.
7.113.0.203    A  127.0.0.2
7.113.0.203    A  127.0.0.10
8.113.0.203    A  127.0.0.10
9.113.0.203    A  127.255.255.254
$ORIGIN wl.example.
8.113.0.203    A  127.0.15.3
`)
	p := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	lists := []dnsbl.List{
		{Zone: "zen.example", Score: 5, Codes: p("127.0.0.2/31")},    // SBL, CSS
		{Zone: "zen.example", Score: 1.5, Codes: p("127.0.0.10/31")}, // PBL
		{Zone: "wl.example", Score: -1},
	}
	for _, ip := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.9", "203.0.113.10"} {
		res := dnsbl.Check(context.Background(), r, netip.MustParseAddr(ip), lists)
		fmt.Printf("%v %v: %s\n", res.Status, res.Score, res.Reason)
	}
	// Output:
	// fail 6.5: 203.0.113.7: listed on zen.example (127.0.0.2) +5; listed on zen.example (127.0.0.10) +1.5
	// fail 0.5: 203.0.113.8: listed on zen.example (127.0.0.10) +1.5; allowed by wl.example (127.0.15.3) -1
	// temperror 0: 203.0.113.9: zen.example answered 127.255.255.254: error: query via a public or open resolver
	// none 0: 203.0.113.10 not listed (3 lists)
}

// ExampleTest checks a list's RFC 5782 §5 test points before using it.
func ExampleTest() {
	r := resolvertest.MustNew(`
$ORIGIN bl.example.
2.0.0.127  A  127.0.0.2
$ORIGIN retired.example.
*          A  127.0.0.2
`)
	for _, zone := range []string{"bl.example", "retired.example"} {
		fmt.Println(zone, dnsbl.Test(context.Background(), r, dnsbl.List{Zone: zone}))
	}
	// Output:
	// bl.example <nil>
	// retired.example dnsbl: retired.example lists 1.0.0.127, which no list may list: it lists everything
}
