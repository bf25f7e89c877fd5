package screen_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"github.com/mtaguard/mtaguard/screen"
	"github.com/mtaguard/mtaguard/verdict"
)

func Example() {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	l := screen.Listen(raw, &screen.Options{
		Hostname:  "mx.example.org",
		GreetWait: 6 * time.Second,
		// Clients on a DNS allow list skip the tests, e.g. with package
		// dnsbl: a listing on an allow list with a negative score.
		Allow: func(ctx context.Context, ip netip.Addr) bool { return false },
	})
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// The server's session starts with the screen's findings,
			// which the policy scores at the Connect stage.
			s := &verdict.Session{}
			if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
				s.IP = ap.Addr()
			}
			s.Results = append(s.Results, c.(*screen.Conn).Results()...)
			c.Close()
		}
	}()
}

func ExampleResult() {
	r := screen.Result(screen.Pregreet | screen.BareLF)
	fmt.Println(r.Status, r.Score, r.Action, r.Reason)
	// Output: fail 6 accept screening found pregreet,bare-lf
}
