package spf_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
)

func Example() {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@    TXT "v=spf1 mx -all exp=why.example.org"
@    MX  10 mx
mx   A   192.0.2.25
why  TXT "%{i} does not send mail for %{d}"
`)
	ctx := context.Background()
	for _, ip := range []string{"192.0.2.25", "203.0.113.9"} {
		res := spf.Check(ctx, r, netip.MustParseAddr(ip), "mx.example.org", "joe@example.org")
		fmt.Printf("%s: %s\n", res.Status, res.Reason)
	}
	// Output:
	// pass: example.org designates 192.0.2.25 as permitted sender
	// fail: example.org explains: 203.0.113.9 does not send mail for example.org
}

func ExampleReceivedSPF() {
	r := resolvertest.MustNew(`example.org. TXT "v=spf1 ip4:192.0.2.0/24 -all"`)
	ip := netip.MustParseAddr("192.0.2.1")
	res := spf.Check(context.Background(), r, ip, "mail.example.org", "joe@example.org")
	fmt.Println("Received-SPF: " + spf.ReceivedSPF(res, ip, "mail.example.org", "joe@example.org", "mx.example.net"))
	// Output:
	// Received-SPF: pass (mx.example.net: domain of example.org designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1; receiver=mx.example.net; identity=mailfrom; envelope-from="joe@example.org"; helo=mail.example.org
}
