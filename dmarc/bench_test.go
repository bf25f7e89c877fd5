package dmarc

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkCheck measures an evaluation with the record found at the
// organizational domain (two TXT lookups in memory) and a failing message.
func BenchmarkCheck(b *testing.B) {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"`)
	c := New(r, &Options{Random: func(int) int { return 0 }})
	results := []verdict.Result{
		spf(authres.ResultPass, "bounce@mailer.example.net", "out.example.net"),
		dkim("pass d=example.net", "fail d=news.example.com"),
	}
	for b.Loop() {
		if res := c.Evaluate(context.Background(), "news.example.com", results...); res.Status != verdict.Fail {
			b.Fatal(res.Reason)
		}
	}
}

func BenchmarkFrom(b *testing.B) {
	header := "Received: from a by b; Sat, 21 Nov 2026 12:00:00 +0000\r\n" +
		"From: \"Alice Example\" <alice@news.example.com>\r\n" +
		"To: bob@example.net\r\nSubject: hi\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\n\r\n" + strings.Repeat("body\r\n", 1000)
	for b.Loop() {
		if _, err := From(strings.NewReader(header)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrgDomain(b *testing.B) {
	for b.Loop() {
		OrgDomain("a.b.news.example.co.uk")
	}
}

// BenchmarkDiscoveryRoundTrips measures DMARC discovery at a DNS latency
// L of 10 ms, in units of L ("L/op"), for 2-, 4- and 9-label author
// domains whose record sits at example.com, with a passing DKIM signature
// of a sibling name that relaxed alignment has to walk for too:
//
//   - cold: Evaluate alone, against the in-memory zone (no cache): every
//     name of every walk is asked at once, so one round trip;
//   - prefetched: the Prefetch of the MAIL stage started at the same
//     moment as Evaluate, both through package resolver (cache and
//     sharing of identical queries in flight) over resolvertest's
//     loopback server, as a server that gets DATA at once would: still
//     one round trip, the queries shared;
//   - cached: the Prefetch of the end of the header section (author
//     domain and DKIM signers) finished before Evaluate: no round trip.
func BenchmarkDiscoveryRoundTrips(b *testing.B) {
	const L = 10 * time.Millisecond
	zone := `_dmarc.example.com. TXT "v=DMARC1; p=reject"`
	for _, from := range []string{"example.com", "a.b.example.com", "a.b.c.d.e.f.g.example.com"} {
		labels := strings.Count(from, ".") + 1
		results := []verdict.Result{dkim("pass d=mail.example.com")}
		perL := func(b *testing.B, start time.Time) {
			b.ReportMetric(float64(time.Since(start))/float64(L)/float64(b.N), "L/op")
		}
		for _, psl := range []bool{false, true} {
			name := "/cold"
			if psl {
				name = "/cold-rfc7489" // the baseline: two names at once
			}
			b.Run(strconv.Itoa(labels)+"-labels"+name, func(b *testing.B) {
				r := resolvertest.MustNew(zone)
				r.SetLatency(L)
				c := New(r, &Options{PublicSuffixList: psl})
				start := time.Now()
				for range b.N {
					if res := c.Evaluate(context.Background(), from, results...); res.Status != verdict.Pass {
						b.Fatal(res.Reason)
					}
				}
				perL(b, start)
			})
		}
		for _, mode := range []string{"prefetched", "cached"} {
			b.Run(strconv.Itoa(labels)+"-labels/"+mode, func(b *testing.B) {
				z := resolvertest.MustNew(zone)
				z.SetLatency(L)
				srv := resolvertest.MustNewServer(z)
				defer srv.Close()
				var elapsed time.Duration
				for range b.N {
					b.StopTimer()
					// A new resolver per round: an empty cache.
					r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
					if err != nil {
						b.Fatal(err)
					}
					c := New(r, nil)
					s := &verdict.Session{MailFrom: "bounce@" + from}
					if mode == "cached" { // at the end of the header section
						s.Message = []byte("DKIM-Signature: v=1; a=rsa-sha256; d=mail.example.com; s=k; h=from; bh=; b=\r\nFrom: a@" + from + "\r\n\r\n")
					}
					b.StartTimer()
					start := time.Now()
					if mode == "cached" {
						c.Prefetch(context.Background(), s)
						start = time.Now()
					} else {
						go c.Prefetch(context.Background(), s)
					}
					if res := c.Evaluate(context.Background(), from, results...); res.Status != verdict.Pass {
						b.Fatal(res.Reason)
					}
					elapsed += time.Since(start)
				}
				b.ReportMetric(float64(elapsed)/float64(L)/float64(b.N), "L/op")
			})
		}
	}
}
