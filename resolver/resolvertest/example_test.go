package resolvertest_test

import (
	"context"
	"fmt"
	"net"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

func Example() {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
$TTL 300
@      MX   10 mx
@      TXT  "v=spf1 mx -all"
mx     A    192.0.2.25
www    CNAME mx
`)
	r.SetFault("broken.example.org", resolvertest.ServFail)
	ctx := context.Background()

	txt, _ := r.LookupTXT(ctx, "example.org")
	fmt.Println(txt)
	addrs, _ := r.LookupHost(ctx, "www.example.org")
	fmt.Println(addrs)

	_, err := r.LookupHost(ctx, "nosuch.example.org")
	fmt.Println(err.(*net.DNSError).IsNotFound)
	_, err = r.LookupHost(ctx, "broken.example.org")
	fmt.Println(err.(*net.DNSError).IsTemporary)

	fmt.Println(r.Queries("www.example.org", dns.TypeA), r.TotalQueries())
	// Output:
	// [v=spf1 mx -all]
	// [192.0.2.25]
	// true
	// true
	// 1 7
}

// A real server on loopback, for code that takes a server address.
func ExampleNewServer() {
	r := resolvertest.MustNew(`example.org. 300 A 192.0.2.1`)
	srv, err := resolvertest.NewServer(r)
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	net := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr)
	}}
	ips, err := net.LookupNetIP(context.Background(), "ip4", "example.org.")
	fmt.Println(ips, err)
	// Output:
	// [192.0.2.1] <nil>
}
