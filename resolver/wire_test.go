package resolver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// recorder is a DNS server on loopback (UDP) that keeps the queries it
// gets and answers each with an A record.
type recorder struct {
	addr    string
	mu      sync.Mutex
	queries []*dns.Msg
}

func record(t *testing.T) *recorder { return recordWith(t, 1) }

// recordWith is record with n A records in each answer, and no
// truncation: the server ignores the size the query offers.
func recordWith(t *testing.T, n int) *recorder {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{addr: pc.LocalAddr().String()}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			rec.mu.Lock()
			rec.queries = append(rec.queries, q.Copy())
			rec.mu.Unlock()
			m := new(dns.Msg)
			m.SetReply(q)
			m.RecursionAvailable = true
			for i := range n {
				rr, _ := dns.NewRR(fmt.Sprintf("%s 60 A 192.0.%d.%d", q.Question[0].Name, i/256, i%256))
				m.Answer = append(m.Answer, rr)
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return rec
}

// Queries carry EDNS0 (RFC 6891) with a 1232-byte payload and no DO bit,
// ask for recursion, and have random IDs (RFC 5452 §9.2).
func TestQueryFormat(t *testing.T) {
	rec := record(t)
	r := client(t, resolver.Config{}, rec.addr)
	const n = 64
	for i := range n {
		if _, err := r.LookupHost(context.Background(), fmt.Sprintf("h%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.queries) != 2*n {
		t.Fatalf("%d queries, want %d", len(rec.queries), 2*n)
	}
	ids := map[uint16]bool{}
	ascending := 0
	for i, q := range rec.queries {
		opt := q.IsEdns0()
		if opt == nil || opt.UDPSize() != 1232 || opt.Do() {
			t.Errorf("query %d: OPT %v, want EDNS0 with size 1232, no DO", i, opt)
		}
		if !q.RecursionDesired {
			t.Errorf("query %d: RD not set", i)
		}
		ids[q.Id] = true
		if i > 0 && q.Id == rec.queries[i-1].Id+1 {
			ascending++
		}
	}
	// 128 random 16-bit IDs collide rarely: allow a few.
	if len(ids) < 2*n-4 || ascending > 4 {
		t.Errorf("%d distinct IDs of %d, %d in sequence: not random", len(ids), 2*n, ascending)
	}
}

// An answer too big for UDP comes over TCP: on truncation the query is
// sent again over TCP (RFC 7766 §5).
func TestTCPFallback(t *testing.T) {
	var big strings.Builder
	big.WriteString("$ORIGIN example.org.\n")
	for i := range 50 {
		fmt.Fprintf(&big, "big TXT \"record %02d padded to make the whole answer larger than 1232 bytes\"\n", i)
	}
	for i := range 100 {
		fmt.Fprintf(&big, "7.2.0.192.in-addr.arpa. PTR host-%03d.example.org.\n", i)
	}
	big.WriteString("small TXT \"small\"\n")
	z, srv := serve(t, big.String())
	z.SetFault("small.example.org", resolvertest.Truncate)
	ctx := context.Background()

	r := client(t, resolver.Config{}, srv.Addr)
	txt, err := r.LookupTXT(ctx, "big.example.org")
	if err != nil || len(txt) != 50 {
		t.Fatalf("LookupTXT(big) = %d records, %v; want 50", len(txt), err)
	}
	if s := r.Stats(); s.Sent != 2 || s.Queries != 1 {
		t.Errorf("big: sent %d messages for %d queries, want 2 (UDP, TCP) for 1", s.Sent, s.Queries)
	}
	if n := z.Queries("big.example.org", dns.TypeTXT); n != 2 {
		t.Errorf("server saw %d queries for big, want 2", n)
	}

	names, err := r.LookupAddr(ctx, "192.0.2.7")
	if err != nil || len(names) != 100 {
		t.Fatalf("LookupAddr = %d names, %v; want 100", len(names), err)
	}

	txt, err = r.LookupTXT(ctx, "small.example.org")
	if err != nil || len(txt) != 1 || txt[0] != "small" {
		t.Fatalf("LookupTXT(small) with Truncate = %q, %v", txt, err)
	}
}

// Answers that are not for our query are ignored, and the real answer
// that follows is taken (RFC 5452 §9.1): a wrong ID, a wrong question,
// bytes that do not parse.
func TestIgnoresForeignAnswers(t *testing.T) {
	for _, f := range []resolvertest.Fault{resolvertest.WrongID, resolvertest.WrongQuestion, resolvertest.Garbage} {
		t.Run(f.String(), func(t *testing.T) {
			z, srv := serve(t, zone)
			z.SetFault("mx.example.org", f)
			r := client(t, resolver.Config{Attempts: 1}, srv.Addr)
			ips, err := r.LookupNetIP(context.Background(), "ip4", "mx.example.org")
			if err != nil || len(ips) != 1 || ips[0].String() != "192.0.2.25" {
				t.Fatalf("got %v, %v; want 192.0.2.25", ips, err)
			}
			if s := r.Stats(); s.Sent != 1 {
				t.Errorf("sent %d messages, want 1", s.Sent)
			}
		})
	}
}

// A server that is dead, refuses, fails or does not answer is followed by
// the next one.
func TestRetryAcrossServers(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()

	for _, f := range []resolvertest.Fault{resolvertest.NoFault, resolvertest.Refused, resolvertest.ServFail, resolvertest.Timeout} {
		t.Run(f.String(), func(t *testing.T) {
			bad, badSrv := serve(t, zone)
			first := badSrv.Addr
			if f == resolvertest.NoFault {
				first = deadAddr
			} else {
				bad.SetFault("mx.example.org", f)
			}
			_, good := serve(t, zone)
			r := client(t, resolver.Config{Timeout: 500 * time.Millisecond}, first, good.Addr)
			ips, err := r.LookupNetIP(context.Background(), "ip4", "mx.example.org")
			if err != nil || len(ips) != 1 {
				t.Fatalf("got %v, %v; want the second server's answer", ips, err)
			}
			if s := r.Stats(); s.Sent != 2 || s.Failures != 0 {
				t.Errorf("sent %d, failures %d; want 2, 0", s.Sent, s.Failures)
			}
		})
	}

	// With every server failing, each gets Attempts tries.
	z, srv := serve(t, zone)
	r := client(t, resolver.Config{Attempts: 3}, srv.Addr, deadAddr)
	_, err = r.LookupTXT(context.Background(), "broken.example.org")
	if class(err) != "temporary" {
		t.Errorf("all failing: %v (%s), want temporary", err, class(err))
	}
	if n := z.Queries("broken.example.org", dns.TypeTXT); n != 3 {
		t.Errorf("the live server got %d queries, want 3", n)
	}
	if s := r.Stats(); s.Sent != 6 || s.Failures != 1 || s.Queries != 1 {
		t.Errorf("stats %+v, want 6 sent, 1 query, 1 failure", s)
	}
}

// An answer over UDP bigger than the query offered is still understood.
func TestOversizedUDP(t *testing.T) {
	rec := recordWith(t, 100) // 100 × 27 bytes, uncompressed
	r := client(t, resolver.Config{Attempts: 1}, rec.addr)
	ips, err := r.LookupNetIP(context.Background(), "ip4", "example.org")
	if err != nil || len(ips) != 100 {
		t.Fatalf("got %d addresses, %v; want 100", len(ips), err)
	}
}

// A server that never answers gives a timeout after Timeout per attempt.
func TestTimeout(t *testing.T) {
	_, srv := serve(t, zone)
	r := client(t, resolver.Config{Timeout: 50 * time.Millisecond, Attempts: 2}, srv.Addr)
	start := time.Now()
	_, err := r.LookupTXT(context.Background(), "slow.example.org")
	d := time.Since(start)
	if class(err) != "temporary+timeout" {
		t.Errorf("got %v (%s), want a timeout", err, class(err))
	}
	if d < 100*time.Millisecond || d > 10*time.Second {
		t.Errorf("took %v, want about 2 × 50ms", d)
	}
}
