package helo_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// Every Resolver the project promises must satisfy the interface.
var (
	_ helo.Resolver = net.DefaultResolver
	_ helo.Resolver = (*resolver.Resolver)(nil)
	_ helo.Resolver = (*resolvertest.Resolver)(nil)
	_ verdict.Check = (*helo.Checker)(nil)
)

const zone = `
$ORIGIN example.com.
mail          A     192.0.2.1
mail          AAAA  2001:db8::1
mail_relay    A     192.0.2.1
xn--bcher-kva A     192.0.2.1
other         A     198.51.100.9
helo          A     198.51.100.9
dual          A     1.2.3.4
dual          AAAA  2001:db8::1
dualmiss      A     192.0.2.99
dualmiss      AAAA  2001:db8::99
mxonly        MX    10 mail.example.com.
nodata        TXT   "nothing else"
slow          A     192.0.2.1
slow          AAAA  2001:db8::1
`

func TestCheck(t *testing.T) {
	const client = "192.0.2.1"
	for _, c := range []struct {
		name   string // test name: the anchor case it pins, if any
		helo   string
		ip     string // default client
		opts   *helo.Options
		rdns   string                        // the client's confirmed rDNS name (Evaluate's clientName)
		faults map[string]resolvertest.Fault // "name" or "name/A"
		status verdict.Status
		score  float64
		reason string // substring
	}{
		{"A1 bare IPv4", "192.168.1.1", "", nil, "", nil, verdict.Fail, 3, "bare-ip"},
		{"A3 bare IPv4 public", "1.2.3.4", "", nil, "", nil, verdict.Fail, 3, "bare-ip"},
		{"bare IPv6 with tag", "IPv6:2001:db8::1", "2001:db8::1", nil, "", nil, verdict.Fail, 3, "bare-ip"},
		{"A2 literal of the client", "[192.0.2.1]", "", nil, "", nil, verdict.Pass, 0, "HELO [192.0.2.1]: ok"},
		{"A39 IPv6 literal of the client", "[IPv6:2001:db8::1]", "2001:db8::1", nil, "", nil, verdict.Pass, 0, ": ok"},
		{"IPv6 literal, tag in lower case", "[ipv6:2001:DB8::1]", "2001:db8::1", nil, "", nil, verdict.Pass, 0, ": ok"},
		{"IPv4-mapped literal of an IPv4 client", "[IPv6:::ffff:192.0.2.1]", "", nil, "", nil, verdict.Pass, 0, ": ok"},
		{"literal of a mapped client", "[192.0.2.1]", "::ffff:192.0.2.1", nil, "", nil, verdict.Pass, 0, ": ok"},
		{"A33 literal of another address", "[198.51.100.7]", "", nil, "", nil, verdict.Fail, 2, "literal-mismatch (the client is 192.0.2.1)"},
		{"A32 literal in the client's /24 still mismatches", "[192.0.2.2]", "", nil, "", nil, verdict.Fail, 2, "literal-mismatch"},
		{"IPv6 literal without tag", "[2001:db8::1]", "2001:db8::1", nil, "", nil, verdict.Fail, 3, "invalid (malformed address literal)"},
		{"literal with unknown tag", "[x400:foo]", "", nil, "", nil, verdict.Fail, 3, "tag other than IPv6"},
		{"literal without closing bracket", "[192.0.2.1", "", nil, "", nil, verdict.Fail, 3, "invalid"},
		{"literal with zone", "[IPv6:fe80::1%eth0]", "", nil, "", nil, verdict.Fail, 3, "invalid"},
		{"empty", "", "", nil, "", nil, verdict.Fail, 3, `HELO "": invalid (empty HELO argument)`},
		{"space", "mail example.com", "", nil, "", nil, verdict.Fail, 3, "invalid (HELO argument has a space"},
		{"CRLF injection", "mail.example.com\r\nRCPT TO:<a@b>", "", nil, "", nil, verdict.Fail, 3, "HELO mail.example.comRCPT TO:<a@b>: invalid"},
		{"A35 leading hyphen", "-mx.example.com", "", nil, "", nil, verdict.Fail, 3, "invalid (domain name label starts or ends with a hyphen)"},
		{"A35 trailing hyphen", "mx-.example.com", "", nil, "", nil, verdict.Fail, 3, "invalid"},
		{"A37 64-octet label", strings.Repeat("a", 64) + ".example.com", "", nil, "", nil, verdict.Fail, 3, "invalid"},
		{"over-long", strings.Repeat("a.", 128), "", nil, "", nil, verdict.Fail, 3, "invalid (HELO argument longer than 255 octets)"},
		{"all-numeric last label", "1.2.3", "", nil, "", nil, verdict.Fail, 3, "invalid (domain name is all numeric)"},
		{"localhost", "localhost", "", nil, "", nil, verdict.Fail, 3, "localhost"},
		{"localhost.localdomain", "LOCALHOST.localdomain", "", nil, "", nil, verdict.Fail, 3, "localhost"},
		{"under .localhost", "box.localhost", "", nil, "", nil, verdict.Fail, 3, "localhost"},
		{"A6 no dot", "ylmf-pc", "", nil, "", nil, verdict.Fail, 2.5, "not-fqdn"},
		{"A11 .local", "printer.local", "", nil, "", nil, verdict.Fail, 1, "private-tld"},
		{"A11 .lan", "box.lan", "", nil, "", nil, verdict.Fail, 1, "private-tld"},
		{"A11 .corp", "srv.corp", "", nil, "", nil, verdict.Fail, 1, "private-tld"},
		{"special-use .test", "mail.test", "", nil, "", nil, verdict.Fail, 1, "private-tld"},
		{"A9 unknown TLD", "great.domain.non-existent-tld", "", nil, "", nil, verdict.Fail, 2, "unknown-tld"},
		{"A24 resolves to the client", "mail.example.com", "", nil, "", nil, verdict.Pass, -0.5, "consistent (resolves to 192.0.2.1)"},
		{"A34 trailing dot", "Mail.Example.com.", "", nil, "", nil, verdict.Pass, -0.5, "consistent"},
		{"A36 underscore", "mail_relay.example.com", "", nil, "", nil, verdict.Pass, -0.5, "consistent"},
		{"IDN U-label", "bücher.example.com", "", nil, "", nil, verdict.Pass, -0.5, "consistent"},
		{"A19 equals the rDNS name", "helo.example.com", "", nil, "helo.example.com.", nil,
			verdict.Pass, -0.5, "consistent (matches rDNS name helo.example.com)"},
		{"A20 same domain as the rDNS name", "helo.example.com", "", nil, "ehlo.example.com", nil,
			verdict.Pass, -0.5, "consistent (matches rDNS name ehlo.example.com)"},
		{"A21 other domain than the rDNS name", "helo.example.com", "", nil, "ehlo.gmail.com", nil,
			verdict.Fail, 0.5, "inconsistent (does not resolve to 192.0.2.1 and is not in the domain of rDNS name ehlo.gmail.com)"},
		{"private suffix section counts", "a.example.github.io", "", nil, "b.github.io", nil,
			verdict.Fail, 1.5, "no-dns"},
		{"A23 resolves elsewhere", "other.example.com", "", nil, "", nil, verdict.Fail, 0.5, "inconsistent (does not resolve to 192.0.2.1)"},
		{"A26 AAAA matches", "dual.example.com", "2001:db8::1", nil, "", nil, verdict.Pass, -0.5, "consistent"},
		{"A27 double miss counts once", "dualmiss.example.com", "2001:db8::1", nil, "", nil, verdict.Fail, 0.5, "inconsistent"},
		{"A28 NXDOMAIN", "ghost.example.com", "", nil, "", nil, verdict.Fail, 1.5, "no-dns (no A, AAAA or MX record)"},
		{"NODATA", "nodata.example.com", "", nil, "", nil, verdict.Fail, 1.5, "no-dns"},
		{"no-dns beside a matching rDNS name", "ghost.example.com", "", nil, "mail.example.com", nil,
			verdict.Fail, 1, "consistent (matches rDNS name mail.example.com), no-dns"},
		{"MX only", "mxonly.example.com", "", nil, "", nil, verdict.Fail, 0.5, "inconsistent"},
		{"A25 A times out, nothing else matches", "slow.example.com", "", nil, "",
			map[string]resolvertest.Fault{"slow.example.com/A": resolvertest.Timeout},
			verdict.TempError, 0, "HELO slow.example.com: ok; DNS not judged"},
		{"A25 A fails, AAAA matches the client", "slow.example.com", "2001:db8::1", nil, "",
			map[string]resolvertest.Fault{"slow.example.com/A": resolvertest.ServFail},
			verdict.Pass, -0.5, "consistent"},
		{"A25 A fails, AAAA misses: not judged inconsistent", "slow.example.com", "2001:db8::7", nil, "",
			map[string]resolvertest.Fault{"slow.example.com/A": resolvertest.ServFail},
			verdict.TempError, 0, "DNS not judged: server misbehaving"},
		{"SERVFAIL", "mail.example.com", "", nil, "",
			map[string]resolvertest.Fault{"mail.example.com": resolvertest.ServFail},
			verdict.TempError, 0, "DNS not judged"},
		{"SERVFAIL, rDNS still consistent", "mail.example.com", "", nil, "mx.example.com",
			map[string]resolvertest.Fault{"mail.example.com": resolvertest.ServFail},
			verdict.Pass, -0.5, "consistent"},
		{"MX SERVFAIL after no address", "ghost.example.com", "", nil, "",
			map[string]resolvertest.Fault{"ghost.example.com/MX": resolvertest.ServFail},
			verdict.TempError, 0, "DNS not judged"},
		{"forged local name", "mx.example.org", "", &helo.Options{LocalNames: []string{"Example.ORG."}}, "", nil,
			verdict.Fail, 6, "forged-local (we are example.org)"},
		{"forged local name itself", "EXAMPLE.org.", "", &helo.Options{LocalNames: []string{"example.org"}}, "", nil,
			verdict.Fail, 6, "forged-local"},
		{"not below a local name", "evilexample.org", "", &helo.Options{LocalNames: []string{"example.org"}}, "", nil,
			verdict.Fail, 1.5, "no-dns"},
		{"trusted client may use local names", "mx.example.org", "192.0.2.1",
			&helo.Options{LocalNames: []string{"example.org"}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, "", nil,
			verdict.None, 0, "trusted networks; HELO not checked"},
		{"scores can be changed", "ylmf-pc", "", &helo.Options{Scores: &helo.Scores{NotFQDN: 9}}, "", nil,
			verdict.Fail, 9, "not-fqdn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := resolvertest.MustNew(zone)
			r.SetTimeoutAfter(50 * time.Millisecond)
			for n, f := range c.faults {
				if name, typ, ok := strings.Cut(n, "/"); ok {
					r.SetFaultType(name, dns.StringToType[typ], f)
				} else {
					r.SetFault(n, f)
				}
			}
			ip := c.ip
			if ip == "" {
				ip = client
			}
			var got verdict.Result
			if c.rdns == "" {
				got = helo.Check(context.Background(), r, netip.MustParseAddr(ip), c.helo, c.opts)
			} else {
				got = helo.New(r, c.opts).Evaluate(context.Background(), netip.MustParseAddr(ip), c.helo, c.rdns)
			}
			if got.Check != helo.Name || got.Status != c.status || got.Score != c.score || got.Action != verdict.Accept ||
				!strings.Contains(got.Reason, c.reason) {
				t.Errorf("Check(%s, %q) = %v %v %v %q;\nwant %v %v reason containing %q",
					ip, c.helo, got.Status, got.Score, got.Action, got.Reason, c.status, c.score, c.reason)
			}
			if (got.Status == verdict.TempError) != (got.Err != nil) {
				t.Errorf("Err = %v with status %v", got.Err, got.Status)
			}
			if verdict.Printable(got.Reason) != got.Reason {
				t.Errorf("Reason %q is not printable", got.Reason)
			}
			if got.Auth != nil {
				t.Errorf("Auth = %v, want none", got.Auth)
			}
		})
	}
}

// TestCheckNoQueries pins the sub-checks that decide without the DNS.
func TestCheckNoQueries(t *testing.T) {
	for _, h := range []string{"", "192.0.2.9", "[192.0.2.1]", "localhost", "ylmf-pc", "printer.local",
		"great.domain.non-existent-tld", "mx.example.org", "a b"} {
		r := resolvertest.MustNew(zone)
		helo.Check(context.Background(), r, netip.MustParseAddr("192.0.2.1"), h, &helo.Options{LocalNames: []string{"example.org"}})
		if n := r.TotalQueries(); n != 0 {
			t.Errorf("HELO %q: %d DNS queries, want none", h, n)
		}
	}
	r := resolvertest.MustNew(zone)
	helo.Check(context.Background(), r, netip.MustParseAddr("192.0.2.1"), "mail.example.com", nil)
	if n := r.Queries("mail.example.com.", dns.TypeMX); n != 0 {
		t.Errorf("%d MX queries for a name with addresses, want 0", n)
	}
}

func TestCheckDomain(t *testing.T) {
	r := resolvertest.MustNew(zone)
	ip := netip.MustParseAddr("192.0.2.1")
	if got := helo.Check(context.Background(), r, ip, "Mail.Example.COM.", nil); got.Domain != "mail.example.com" {
		t.Errorf("Domain = %q, want mail.example.com", got.Domain)
	}
	if got := helo.Check(context.Background(), r, ip, "other.example.com", nil); got.Domain != "" {
		t.Errorf("Domain = %q on %v, want none", got.Domain, got.Status)
	}
}

func TestCheckLongNameKeepsFindings(t *testing.T) {
	name := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".local"
	got := helo.Check(context.Background(), resolvertest.MustNew(""), netip.MustParseAddr("192.0.2.1"), name, nil)
	if !strings.HasSuffix(got.Reason, "...: private-tld") {
		t.Errorf("Reason = %q", got.Reason)
	}
}

func TestCheckCanceled(t *testing.T) {
	r := resolvertest.MustNew(zone)
	r.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	got := helo.Check(ctx, r, netip.MustParseAddr("192.0.2.1"), "mail.example.com", nil)
	if got.Status != verdict.TempError || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v, want a prompt temperror", got.Status, time.Since(start))
	}
}

func TestCheckNetResolver(t *testing.T) {
	r := resolvertest.MustNew(zone)
	srv, err := resolvertest.NewServer(r)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr)
	}}
	ip := netip.MustParseAddr("192.0.2.1")
	for name, want := range map[string]string{
		"mail.example.com":   "consistent",
		"ghost.example.com":  "no-dns",
		"mxonly.example.com": "inconsistent",
	} {
		if got := helo.Check(context.Background(), nr, ip, name, nil); !strings.Contains(got.Reason, want) {
			t.Errorf("%s: %v %q, want %s", name, got.Status, got.Reason, want)
		}
	}
}

func TestChecker(t *testing.T) {
	r := resolvertest.MustNew(zone)
	c := helo.New(r, nil)
	if c.Name() != helo.Name || c.Stage() != verdict.Helo {
		t.Errorf("Name, Stage = %q, %v", c.Name(), c.Stage())
	}
	ip := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		name   string
		fcrdns *verdict.Result
		helo   string
		status verdict.Status
		reason string
	}{
		{"rDNS name from a passing fcrdns result", &verdict.Result{Check: fcrdns.Name, Status: verdict.Pass, Domain: "ehlo.example.com"},
			"helo.example.com", verdict.Pass, "matches rDNS name ehlo.example.com"},
		{"a failing fcrdns result vouches for nothing", &verdict.Result{Check: fcrdns.Name, Status: verdict.Fail, Domain: "helo.example.com"},
			"helo.example.com", verdict.Fail, "inconsistent (does not resolve to 192.0.2.1)"},
		{"no fcrdns result", nil,
			"helo.example.com", verdict.Fail, "inconsistent (does not resolve to 192.0.2.1)"},
		{"no HELO", nil, "", verdict.None, "no HELO name"},
	} {
		s := &verdict.Session{IP: ip, HELO: tc.helo}
		if tc.fcrdns != nil {
			s.Results = append(s.Results, *tc.fcrdns)
		}
		got := c.Check(context.Background(), s)
		if got.Status != tc.status || !strings.Contains(got.Reason, tc.reason) {
			t.Errorf("%s: %v %q, want %v %q", tc.name, got.Status, got.Reason, tc.status, tc.reason)
		}
	}
}

func TestPrefetch(t *testing.T) {
	r := resolvertest.MustNew("mail.example.org. A 192.0.2.10\n")
	c := helo.New(r, nil)
	var _ verdict.Prefetcher = c
	c.Prefetch(context.Background(), &verdict.Session{HELO: "Mail.Example.org"})
	if r.Queries("mail.example.org", dns.TypeA) != 1 || r.Queries("mail.example.org", dns.TypeAAAA) != 1 {
		t.Errorf("queries: %d", r.TotalQueries())
	}
	r.ResetQueries()
	for _, name := range []string{"", "[192.0.2.1]", "localhost", "bad name"} {
		c.Prefetch(context.Background(), &verdict.Session{HELO: name})
	}
	if r.TotalQueries() != 0 {
		t.Errorf("%d queries for names that are not looked up", r.TotalQueries())
	}
}

// TestTrustedMappedPrefix: trusted networks written IPv4-mapped match the
// IPv4 client they mean, as in relay and greylist.
func TestTrustedMappedPrefix(t *testing.T) {
	r := resolvertest.MustNew("")
	o := &helo.Options{TrustedNets: []netip.Prefix{netip.MustParsePrefix("::ffff:203.0.113.0/120")}}
	for _, ip := range []string{"203.0.113.5", "::ffff:203.0.113.5"} {
		res := helo.Check(context.Background(), r, netip.MustParseAddr(ip), "localhost", o)
		if res.Score > 0 || res.Status == verdict.Fail {
			t.Errorf("%s: trusted client scored %v %v (%s)", ip, res.Status, res.Score, res.Reason)
		}
	}
}

// TestDynamic pins the dynamic sub-check. The HELO names marked "real"
// were given by real clients: they stand in the from clause of Received
// fields written by Gmail ("from HELO (rDNS [ip])") in public mailing-list
// archives (git and linux-kernel at vger.kernel.org, 2006 to 2021);
// A12 to A15 are Haraka's helo.checks and rspamd's hfilter cases.
func TestDynamic(t *testing.T) {
	r := resolvertest.MustNew(`
c-76-121-96-159.hsd1.wa.comcast.net.              A    76.121.96.159
zephyr.hsd1.wa.comcast.net.                       A    67.161.116.247
2001-b011-380f-3c42-1138-6cd0-3dc6-cfa2.dynamic-ip6.hinet.net. AAAA 2001:b011:380f:3c42:1138:6cd0:3dc6:cfa2
`)
	for _, c := range []struct {
		name       string
		ip, helo   string
		rdns       string
		score      float64
		reason     string // the whole Reason, when it fires
		notDynamic bool
	}{
		{"A12 Haraka: comcast name of the client, resolving to it", "76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net", "",
			2.5, "HELO c-76-121-96-159.hsd1.wa.comcast.net: dynamic (its IP address is embedded in decimal)", false},
		{"A12 and the same name from fcrdns: still no trust", "76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net", "c-76-121-96-159.hsd1.wa.comcast.net",
			2.5, "HELO c-76-121-96-159.hsd1.wa.comcast.net: dynamic (its IP address is embedded in decimal)", false},
		{"A14 rspamd: dsl name, not in the DNS", "188.34.255.136", "dsl-188-34-255-136.asretelecom.net", "",
			4, "HELO dsl-188-34-255-136.asretelecom.net: dynamic (its IP address is embedded in decimal), no-dns (no A, AAAA or MX record)", false},
		{"A15 rspamd: ppp name", "1.2.3.4", "ppp-1-2-3-4.example.net", "",
			4, "HELO ppp-1-2-3-4.example.net: dynamic (its IP address is embedded in decimal), no-dns (no A, AAAA or MX record)", false},
		{"A15 rspamd: dashed address under dynamic", "1.2.3.4", "1-2-3-4.dynamic.example.net", "",
			4, "HELO 1-2-3-4.dynamic.example.net: dynamic (its IP address is embedded in decimal), no-dns (no A, AAAA or MX record)", false},
		{"real: torun.mm.pl via Gmail 2006", "81.190.28.152", "host-81-190-28-152.torun.mm.pl", "",
			4, "HELO host-81-190-28-152.torun.mm.pl: dynamic (its IP address is embedded in decimal), no-dns (no A, AAAA or MX record)", false},
		{"real: torun.mm.pl via Gmail 2007", "89.229.25.173", "host-89-229-25-173.torun.mm.pl", "",
			4, "HELO host-89-229-25-173.torun.mm.pl: dynamic (its IP address is embedded in decimal), no-dns (no A, AAAA or MX record)", false},
		{"real: hinet IPv6 groups via Gmail 2019", "2001:b011:380f:3c42:1138:6cd0:3dc6:cfa2", "2001-b011-380f-3c42-1138-6cd0-3dc6-cfa2.dynamic-ip6.hinet.net", "",
			2.5, "HELO 2001-b011-380f-3c42-1138-6cd0-3dc6-cfa2.dynamic-ip6.hinet.net: dynamic (its IPv6 address is embedded with its colons replaced)", false},
		{"IPv6 hex, as t-ipconnect.de names", "2003:cb:c709:6200:16ba:af70:999d:6a1a", "p200300cbc709620016baaf70999d6a1a.dip0.t-ipconnect.de", "",
			4, "HELO p200300cbc709620016baaf70999d6a1a.dip0.t-ipconnect.de: dynamic (its IPv6 address is embedded in hexadecimal), no-dns (no A, AAAA or MX record)", false},
		{"real: hinet name of another address of the client's /64", "2001:b400:e384:7809:50d7:4f66:57aa:588c", "2001-b400-e384-7809-32b4-db27-121a-a0aa.emome-ip6.hinet.net", "",
			1.5, "", true},
		{"real: comcast customer's own host name", "67.161.116.247", "zephyr.hsd1.wa.comcast.net", "c-67-161-116-247.hsd1.wa.comcast.net",
			-0.5, "", true},
		{"A13 Haraka: no address in the name", "208.75.177.99", "matt.simerson.tld", "", 2, "", true},
		{"business exemption", "76.121.96.159", "c-76-121-96-159.business.wa.comcast.net", "", 1.5, "", true},
		{"another client's dynamic name", "198.51.100.7", "c-76-121-96-159.hsd1.wa.comcast.net", "", 0.5, "", true},
		{"private client, as Haraka skips it", "10.1.2.3", "host-10-1-2-3.example.net", "", 1.5, "", true},
		{"literal", "76.121.96.159", "[76.121.96.159]", "", 0, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := helo.New(r, nil).Evaluate(context.Background(), netip.MustParseAddr(c.ip), c.helo, c.rdns)
			if got.Score != c.score {
				t.Errorf("score %v, want %v (%s)", got.Score, c.score, got.Reason)
			}
			if c.notDynamic {
				if strings.Contains(got.Reason, "dynamic (") {
					t.Errorf("reason %q: dynamic fired", got.Reason)
				}
				return
			}
			if got.Reason != c.reason || got.Status != verdict.Fail || got.Action != verdict.Accept {
				t.Errorf("got %v %v %q,\nwant fail, accept, %q", got.Status, got.Action, got.Reason, c.reason)
			}
		})
	}
	sc := helo.DefaultScores
	sc.Dynamic = 9
	got := helo.Check(context.Background(), r, netip.MustParseAddr("76.121.96.159"), "c-76-121-96-159.hsd1.wa.comcast.net", &helo.Options{Scores: &sc})
	if got.Score != 9 {
		t.Errorf("Scores.Dynamic 9: scored %v", got.Score)
	}
}

// TestScoresCopied checks that a Checker keeps what it was made with.
func TestScoresCopied(t *testing.T) {
	r := resolvertest.MustNew("")
	ip := netip.MustParseAddr("192.0.2.1")
	sc := helo.DefaultScores
	o := &helo.Options{Scores: &sc, LocalNames: []string{"example.org"}}
	custom, plain := helo.New(r, o), helo.New(r, nil)
	saved := helo.DefaultScores
	defer func() { helo.DefaultScores = saved }()
	sc.NotFQDN, helo.DefaultScores.NotFQDN = 8, 9
	o.LocalNames[0] = "example.net"
	o.TrustedNets = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	for _, c := range []*helo.Checker{custom, plain} {
		if got := c.Evaluate(context.Background(), ip, "ylmf-pc", ""); got.Score != saved.NotFQDN {
			t.Errorf("not-fqdn scored %v, want the %v of New's time", got.Score, saved.NotFQDN)
		}
	}
	if got := custom.Evaluate(context.Background(), ip, "mx.example.org", ""); !strings.Contains(got.Reason, "forged-local (we are example.org)") {
		t.Errorf("after the caller changed LocalNames: %q", got.Reason)
	}
}

// TestSessionTrusted checks that a session marked trusted (as
// verdict.Policy.TrustedNets marks it) may use our own names in its HELO,
// as a client in Options.TrustedNets may, and that either is enough.
func TestSessionTrusted(t *testing.T) {
	ctx := context.Background()
	r := resolvertest.MustNew("")
	ip := netip.MustParseAddr("10.1.2.3")
	c := helo.New(r, &helo.Options{LocalNames: []string{"example.org"}})
	s := &verdict.Session{IP: ip, HELO: "mx.example.org"}
	if res := c.Check(ctx, s); !strings.Contains(res.Reason, "forged-local") {
		t.Fatalf("untrusted client with our name: %+v", res)
	}
	p := &verdict.Policy{Checks: []verdict.Check{c}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	s = &verdict.Session{IP: ip, HELO: "mx.example.org"}
	p.Evaluate(ctx, s, verdict.Helo)
	if res, _ := s.Result(helo.Name); !s.Trusted || res.Status != verdict.None || res.Score != 0 {
		t.Errorf("trusted session: %+v (Trusted %v)", res, s.Trusted)
	}
	own := helo.New(r, &helo.Options{LocalNames: []string{"example.org"}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if res := own.Check(ctx, &verdict.Session{IP: ip, HELO: "mx.example.org"}); res.Status != verdict.None || res.Score != 0 {
		t.Errorf("Options.TrustedNets: %+v", res)
	}
}
