package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

func Example() {
	// A DNS server on loopback; in production Servers is your recursive
	// resolver, or empty for /etc/resolv.conf.
	zone := resolvertest.MustNew(`
$ORIGIN example.org.
@   MX   10 mx
@   TXT  "v=spf1 " "mx -all"
mx  A    192.0.2.25
`)
	srv := resolvertest.MustNewServer(zone)
	defer srv.Close()

	r, err := resolver.New(resolver.Config{
		Servers:   []string{srv.Addr},
		Timeout:   time.Second,
		CacheSize: 10000,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	mx, _ := r.LookupMX(ctx, "example.org")
	fmt.Println(mx[0].Pref, mx[0].Host)
	txt, _ := r.LookupTXT(ctx, "example.org")
	fmt.Println(txt)
	txt, _ = r.LookupTXT(ctx, "EXAMPLE.org.") // from the cache
	fmt.Println(txt)

	_, err = r.LookupHost(ctx, "nosuch.example.org")
	var de *net.DNSError
	if errors.As(err, &de) {
		fmt.Println(de.IsNotFound, de.IsTemporary)
	}

	s := r.Stats()
	fmt.Printf("%d lookups, %d cache hit, %d queries\n", s.Lookups, s.CacheHits, s.Queries)
	// Output:
	// 10 mx.example.org.
	// [v=spf1 mx -all]
	// [v=spf1 mx -all]
	// true false
	// 5 lookups, 1 cache hit, 4 queries
}
