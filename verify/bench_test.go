package verify

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/verdict"
)

// delayProxy forwards connections to addr, delaying what the server sends
// by rtt: each wait of the client for the server then costs one round trip,
// as over a network of that round-trip time.
func delayProxy(tb testing.TB, addr string, rtt time.Duration) string {
	l := listen(tb, "127.0.0.1")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				type chunk struct {
					b  []byte
					at time.Time
				}
				ch := make(chan chunk, 64)
				go func() {
					for k := range ch {
						time.Sleep(time.Until(k.at))
						c.Write(k.b)
					}
					c.Close()
				}()
				buf := make([]byte, 16<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						ch <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(rtt)}
					}
					if err != nil {
						close(ch)
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// BenchmarkProbe measures a probe's latency over a link of 10 ms round
// trip, against go-smtp's client making the same dialogue (banner, EHLO,
// MAIL, RCPT, RCPT, QUIT) one command at a time: the baseline. rtt/op is
// the latency in round trips.
func BenchmarkProbe(b *testing.B) {
	const rtt = 10 * time.Millisecond
	for _, withTLS := range []bool{false, true} {
		g := (&goServer{users: map[string]bool{"alice@example.test": true}}).start(b, "127.0.0.2", withTLS)
		proxy := delayProxy(b, g.addr, rtt)
		name := "plain"
		if withTLS {
			name = "starttls"
		}
		b.Run(name+"/go-smtp-client", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := goSMTPProbe(proxy, withTLS); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(rtt), "rtt/op")
		})
		b.Run(name+"/verify", func(b *testing.B) {
			c := &Callout{HELO: "verifier.test", NoTLS: !withTLS}
			var exchanges int
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				o := c.dialogue(ctx, "mx.test", netip.MustParseAddrPort(proxy), "alice@example.test", "random@example.test", withTLS)
				cancel()
				if o.status != verdict.Pass || o.tls != withTLS {
					b.Fatalf("%+v", o)
				}
				exchanges = o.exchanges
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(rtt), "rtt/op")
			b.ReportMetric(float64(exchanges), "waits/op")
		})
	}
}

// goSMTPProbe is the probe as go-smtp's client makes it.
func goSMTPProbe(addr string, withTLS bool) error {
	var c *smtp.Client
	var err error
	if withTLS {
		c, err = smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = smtp.Dial(addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("verifier.test"); err != nil && !withTLS {
		return err
	}
	if err := c.Mail("", nil); err != nil {
		return err
	}
	if err := c.Rcpt("alice@example.test", nil); err != nil {
		return err
	}
	c.Rcpt("random@example.test", nil)
	return c.Quit()
}
