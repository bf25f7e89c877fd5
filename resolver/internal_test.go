package resolver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// exchangeFunc answers queries with a function.
type exchangeFunc func(ctx context.Context, q *dns.Msg) (*dns.Msg, error)

func (f exchangeFunc) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) { return f(ctx, q) }

// oneStep answers from records as an authoritative server that follows no
// CNAME would: the records of the name asked (or its CNAME), nothing more.
func oneStep(t *testing.T, records ...string) exchangeFunc {
	t.Helper()
	var rrs []dns.RR
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	return func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Rcode = dns.RcodeNameError
		for _, rr := range rrs {
			h := rr.Header()
			if strings.EqualFold(h.Name, q.Question[0].Name) {
				m.Rcode = dns.RcodeSuccess
				if h.Rrtype == q.Question[0].Qtype || h.Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		return m, nil
	}
}

func newTest(t *testing.T, x Exchanger) *Resolver {
	t.Helper()
	r, err := New(Config{Exchanger: x})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// CNAMEs an answer does not resolve are followed with more queries, at
// most maxCNAME, never in a loop; the answer is cached for the smallest
// TTL of the chain.
func TestFollowCNAME(t *testing.T) {
	chain := []string{"a.example. 100 CNAME b.example.", "b.example. 10 CNAME c.example.", "c.example. 300 A 192.0.2.1"}
	long := []string{}
	for i := range maxCNAME + 2 {
		long = append(long, fmt.Sprintf("l%d.example. 60 CNAME l%d.example.", i, i+1))
	}
	long = append(long, fmt.Sprintf("l%d.example. 60 A 192.0.2.2", maxCNAME+2))
	tests := []struct {
		name    string
		records []string
		host    string
		want    string // addresses, or the error class
		queries uint64
		ttl     time.Duration
	}{
		{"chain", chain, "a.example", "[192.0.2.1]", 3, 10 * time.Second},
		{"loop", []string{"x.example. CNAME y.example.", "y.example. CNAME x.example."}, "x.example", "temporary", 2, 0},
		{"self", []string{"x.example. CNAME x.example."}, "x.example", "temporary", 1, 0},
		{"too long", long, "l0.example", "temporary", maxCNAME + 1, 0},
		{"longest", long[2:], "l2.example", "[192.0.2.2]", maxCNAME + 1, time.Minute},
		{"dangling", []string{"d.example. 30 CNAME gone.example."}, "d.example", "notfound", 2, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent uint64
			step := oneStep(t, tt.records...)
			r := newTest(t, exchangeFunc(func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
				sent++
				return step(ctx, q)
			}))
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			r.now = func() time.Time { return now }
			ips, err := r.LookupNetIP(context.Background(), "ip4", tt.host)
			got := fmt.Sprint(ips)
			if err != nil {
				got = errClass(err)
			}
			if got != tt.want || sent != tt.queries {
				t.Fatalf("got %s after %d queries (%v); want %s after %d", got, sent, err, tt.want, tt.queries)
			}
			if tt.ttl == 0 {
				return
			}
			now = now.Add(tt.ttl - time.Second)
			r.LookupNetIP(context.Background(), "ip4", tt.host)
			if sent != tt.queries {
				t.Errorf("not cached before %v", tt.ttl)
			}
			now = now.Add(time.Second)
			r.LookupNetIP(context.Background(), "ip4", tt.host)
			if sent == tt.queries {
				t.Errorf("still cached at %v", tt.ttl)
			}
		})
	}
}

func errClass(err error) string {
	de, ok := err.(*net.DNSError)
	switch {
	case !ok:
		return fmt.Sprintf("%T", err)
	case de.IsNotFound:
		return "notfound"
	case de.IsTimeout:
		return "timeout"
	case de.IsTemporary:
		return "temporary"
	}
	return "permanent"
}

// Records of the asked type whose Go type is not the one the lookup
// methods expect (an Exchanger may build anything) are left out rather
// than crashing the lookup.
func TestOddRecords(t *testing.T) {
	r := newTest(t, exchangeFunc(func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetReply(q)
		h := dns.RR_Header{Name: q.Question[0].Name, Rrtype: q.Question[0].Qtype, Class: dns.ClassINET, Ttl: 60}
		m.Answer = []dns.RR{&h, &dns.RFC3597{Hdr: h, Rdata: "00"}, &dns.TXT{Hdr: h}, &dns.MX{Hdr: h}, &dns.A{Hdr: h}}
		return m, nil
	}))
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "txt.example"); err != nil {
		t.Errorf("LookupTXT: %v", err)
	}
	if mx, err := r.LookupMX(ctx, "mx.example"); len(mx) != 0 || err == nil {
		t.Errorf("LookupMX = %v, %v; want nothing and an error", mx, err)
	}
	if ips, err := r.LookupNetIP(ctx, "ip", "a.example"); len(ips) != 0 || errClass(err) != "notfound" {
		t.Errorf("LookupNetIP = %v, %v; want not found", ips, err)
	}
	if names, err := r.LookupAddr(ctx, "192.0.2.1"); len(names) != 0 || err == nil {
		t.Errorf("LookupAddr = %v, %v; want nothing and an error", names, err)
	}
	if _, err := r.LookupCNAME(ctx, "c.example"); err == nil {
		t.Errorf("LookupCNAME: no error")
	}
}

func TestCanonical(t *testing.T) {
	long := strings.Repeat("a.", 126) + "b" // 253 bytes
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"example.org", "example.org", true},
		{"example.org.", "example.org", true},
		{"Example.ORG.", "example.org", true},
		{"_dmarc.example.org", "_dmarc.example.org", true},
		{"sel._domainkey.example.org", "sel._domainkey.example.org", true},
		{"4.3.2.1.zen.example", "4.3.2.1.zen.example", true},
		{"x-y.example", "x-y.example", true},
		{".", "", true},
		{long, long, true},
		{long + ".", long, true},
		{long + "c", "", false},
		{strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", "", false},
		{"", "", false},
		{"..", "", false},
		{"a..example", "", false},
		{".example", "", false},
		{"-x.example", "", false},
		{"x-.example", "", false},
		{"1.2.3.4", "", false},
		{"bad name.example", "", false},
		{"a\\.b.example", "", false},
		{"a\\032b.example", "", false},
		{"caf\u00e9.example", "", false},
		{"a\x00.example", "", false},
		{"a\r\n.example", "", false},
	}
	for _, tt := range tests {
		got, err := canonical(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("canonical(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// Names net would not ask about are not found, and not asked about.
func TestInvalidNamesNotAsked(t *testing.T) {
	sent := 0
	r := newTest(t, exchangeFunc(func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
		sent++
		m := new(dns.Msg)
		m.SetReply(q)
		return m, nil
	}))
	for _, name := range []string{"bad name.example", "a\\.b.example", "x\r\nRCPT TO:<a@b>", "", "1.2.3.4"} {
		_, err := r.LookupTXT(context.Background(), name)
		if errClass(err) != "notfound" {
			t.Errorf("LookupTXT(%q): %v, want not found", name, err)
		}
	}
	if sent != 0 {
		t.Errorf("%d queries sent for invalid names", sent)
	}
}

// A million distinct names leave the cache at its size.
func TestCacheBoundMillion(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	c := newCache(1000)
	now := time.Now()
	a := &answer{}
	for i := range n {
		c.put(cacheKey{"n" + strconv.Itoa(i) + ".example", dns.TypeTXT}, a, nil, now.Add(time.Hour), now)
	}
	if n := c.len(); n > 1000 || n < 900 {
		t.Errorf("%d entries, want at most 1000 (and most of them used)", n)
	}
}

// A full shard evicts an expired entry before a live one, by the cache's
// clock, not the wall clock.
func TestEvictExpired(t *testing.T) {
	c := newCache(2 * maxShards) // two entries a shard
	now := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 20 {
		// Find two more keys of one shard.
		first := cacheKey{fmt.Sprintf("r%d.example", round), dns.TypeA}
		s := c.shard(first)
		var keys []cacheKey
		for i := 0; len(keys) < 2; i++ {
			if k := (cacheKey{fmt.Sprintf("r%d-%d.example", round, i), dns.TypeA}); c.shard(k) == s {
				keys = append(keys, k)
			}
		}
		live, dead, next := first, keys[0], keys[1]
		s.m = map[cacheKey]cacheEntry{}
		c.put(live, &answer{}, nil, now.Add(time.Hour), now)
		c.put(dead, &answer{}, nil, now.Add(-time.Second), now)
		c.put(next, &answer{}, nil, now.Add(time.Hour), now)
		if _, _, ok := c.get(live, now); !ok {
			t.Fatalf("round %d: a live entry was evicted before an expired one", round)
		}
	}
}

func TestSmallCache(t *testing.T) {
	for _, size := range []int{1, 2, 7, 31, 32, 33, 1000} {
		c := newCache(size)
		sum := 0
		for i := range c.shards {
			sum += c.shards[i].max
			if c.shards[i].max < 1 {
				t.Errorf("size %d: a shard of %d", size, c.shards[i].max)
			}
		}
		if sum != size {
			t.Errorf("size %d: shards hold %d", size, sum)
		}
	}
}

func TestTXTString(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"v=spf1 ", "-all"}, "v=spf1 -all"},
		{[]string{`say \"hi\"`}, `say "hi"`},
		{[]string{`back\\slash`}, `back\slash`},
		{[]string{`\195\164`}, "ä"},
		{[]string{`cr\013lf\010`}, "cr\rlf\n"},
		{[]string{`\999`}, "999"},
		{[]string{`trailing\`}, `trailing\`},
	} {
		if got := txtString(c.in); got != c.want {
			t.Errorf("txtString(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
