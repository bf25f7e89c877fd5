package fcrdns_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

func Example() {
	r := resolvertest.MustNew(`
$ORIGIN example.com.
mail                       A    192.0.2.25
25.2.0.192.in-addr.arpa.   PTR  mail.example.com.
26.2.0.192.in-addr.arpa.   PTR  elsewhere.example.net.
`)
	for _, ip := range []string{"192.0.2.25", "192.0.2.26", "192.0.2.27"} {
		res := fcrdns.Check(context.Background(), r, netip.MustParseAddr(ip))
		fmt.Printf("%s %v %v %q: %s\n", ip, res.Status, res.Score, res.Domain, res.Reason)
	}
	// Output:
	// 192.0.2.25 pass -0.5 "mail.example.com": 192.0.2.25 has forward-confirmed name mail.example.com
	// 192.0.2.26 fail 2 "": no PTR name of 192.0.2.26 resolves back to it (elsewhere.example.net)
	// 192.0.2.27 permerror 3 "": no PTR record for 192.0.2.27
}

func ExampleGeneric() {
	ip := netip.MustParseAddr("76.121.96.159")
	for _, name := range []string{
		"c-76-121-96-159.hsd1.wa.comcast.net",
		"c-76-121-96-159.business.wa.comcast.net",
		"mail.example.com",
	} {
		rule, generic := fcrdns.Generic(ip, name)
		if generic {
			fmt.Printf("%s: generic: %s\n", name, rule)
		} else {
			fmt.Printf("%s: not generic\n", name)
		}
	}
	// Output:
	// c-76-121-96-159.hsd1.wa.comcast.net: generic: its IP address is embedded in decimal
	// c-76-121-96-159.business.wa.comcast.net: not generic
	// mail.example.com: not generic
}
