package acceptance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
	"github.com/mtaguard/mtaguard/verify"
)

// The world of most tests: a well-run sender (example.org, its mail server
// mail.example.org at 192.0.2.10) sending to us (example.net). Everything
// passes when the DNS works, so that any refusal under a DNS fault is the
// fault's doing.
var (
	clientIP  = netip.MustParseAddr("192.0.2.10")
	outsideIP = netip.MustParseAddr("203.0.113.66")
	trustedIP = netip.MustParseAddr("10.1.2.3")
	trusted   = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
)

const (
	heloName = "mail.example.org"
	mailFrom = "alice@example.org"
	rcptTo   = "bob@example.net"
	selector = "sel"
)

// signingKey is a fixed Ed25519 key (RFC 8463): signing and verifying it is
// cheap, which the load and -race tests need.
var signingKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func dkimRecord() string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(signingKey.Public().(ed25519.PublicKey))
}

// worldZone is the DNS of the world above. The sender's SPF record takes
// an include and an a: mechanism so that SPF makes several lookups.
func worldZone() string {
	return `$TTL 3600
example.org.                  SOA  ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
example.org.                  MX   10 mail.example.org.
example.org.                  TXT  "v=spf1 include:_spf.example.org -all"
_spf.example.org.             TXT  "v=spf1 a:mail.example.org ip6:2001:db8:25::/48 -all"
mail.example.org.             A    192.0.2.10
mail.example.org.             AAAA 2001:db8:25::10
10.2.0.192.in-addr.arpa.      PTR  mail.example.org.
_dmarc.example.org.           TXT  "v=DMARC1; p=reject; rua=mailto:d@example.org"
sel._domainkey.example.org.   TXT  "` + dkimRecord() + `"
example.net.                  SOA  ns.example.net. hostmaster.example.net. 1 7200 3600 1209600 300
example.net.                  MX   10 mx.example.net.
mx.example.net.               A    198.51.100.25
bl.example.                   SOA  ns.bl.example. hostmaster.bl.example. 1 7200 3600 1209600 60
2.0.0.127.bl.example.         A    127.0.0.2
66.113.0.203.bl.example.      A    127.0.0.2
dbl.example.                  SOA  ns.dbl.example. hostmaster.dbl.example. 1 7200 3600 1209600 60
`
}

func newWorld(t testing.TB) *resolvertest.Resolver {
	t.Helper()
	r, err := resolvertest.New(worldZone())
	if err != nil {
		t.Fatal(err)
	}
	r.SetTimeoutAfter(50 * time.Millisecond)
	return r
}

// sign returns msg with DKIM signatures of d= domain added on top, one per
// identifier given (the empty identifier once if none).
func sign(t testing.TB, msg []byte, domain string, ids ...string) []byte {
	t.Helper()
	if len(ids) == 0 {
		ids = []string{""}
	}
	for _, id := range ids {
		var out bytes.Buffer
		err := msgdkim.Sign(&out, bytes.NewReader(msg), &msgdkim.SignOptions{
			Domain:                 domain,
			Selector:               selector,
			Identifier:             id,
			Signer:                 signingKey,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID"},
		})
		if err != nil {
			t.Fatal(err)
		}
		msg = out.Bytes()
	}
	return msg
}

// message returns a plain message from From: from with the body given.
func message(from, body string) []byte {
	return []byte("From: " + from + "\r\n" +
		"To: <bob@example.net>\r\n" +
		"Subject: hello\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <1@example.org>\r\n" +
		"\r\n" + body)
}

// signedMessage is the world's normal message, signed by example.org.
func signedMessage(t testing.TB) []byte {
	return sign(t, message("Alice <alice@example.org>", "Hello Bob.\r\n"), "example.org")
}

// allResolver is every lookup method a check uses: the union of the
// checks' Resolver interfaces.
type allResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// recorder passes lookups on and remembers the names asked, so that a test
// can find every name a check needs and break each of them.
type recorder struct {
	allResolver
	mu    sync.Mutex
	names map[string]bool
}

func newRecorder(r allResolver) *recorder { return &recorder{allResolver: r, names: map[string]bool{}} }

func (r *recorder) note(name string) {
	r.mu.Lock()
	r.names[strings.TrimSuffix(strings.ToLower(name), ".")] = true
	r.mu.Unlock()
}

// Names returns the names looked up so far, sorted.
func (r *recorder) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (r *recorder) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if ip, err := netip.ParseAddr(addr); err == nil {
		r.note(reverseName(ip))
	}
	return r.allResolver.LookupAddr(ctx, addr)
}

func (r *recorder) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.note(host)
	return r.allResolver.LookupNetIP(ctx, network, host)
}

func (r *recorder) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	r.note(host)
	return r.allResolver.LookupIPAddr(ctx, host)
}

func (r *recorder) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.note(name)
	return r.allResolver.LookupTXT(ctx, name)
}

func (r *recorder) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	r.note(name)
	return r.allResolver.LookupMX(ctx, name)
}

// reverseName is the in-addr.arpa or ip6.arpa name of ip.
func reverseName(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(a[i])) + ".")
		}
		return b.String() + "in-addr.arpa"
	}
	a := ip.As16()
	for i := 15; i >= 0; i-- {
		fmt.Fprintf(&b, "%x.%x.", a[i]&0xf, a[i]>>4)
	}
	return b.String() + "ip6.arpa"
}

// Lists of the world: an IP list and a domain list, both empty but for
// their test points.
var (
	ipLists     = []dnsbl.List{{Zone: "bl.example", Score: 5}}
	domainLists = []dnsbl.List{{Zone: "dbl.example", Score: 3}}
)

// relayPolicy is our relay policy: example.net is ours, 10/8 may relay.
func relayPolicy() *relay.Policy {
	return &relay.Policy{
		LocalDomains: []string{"example.net"},
		TrustedNets:  trusted,
	}
}

// clock is a settable clock for greylisting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fullPolicy is a Policy running every check of the project with r, the
// example scores (quarantine 6, reject 15) and the stage deadline given.
// Greylisting uses store with the clock c.
func fullPolicy(r allResolver, store greylist.Store, c *clock, deadline time.Duration) *verdict.Policy {
	return &verdict.Policy{
		Checks: []verdict.Check{
			fcrdns.New(r, nil),
			dnsbl.New(r, ipLists, &dnsbl.Options{Timeout: deadline}),
			helo.New(r, &helo.Options{LocalNames: []string{"example.net"}, TrustedNets: trusted}),
			dnsbl.New(r, domainLists, &dnsbl.Options{Identity: dnsbl.Helo, Timeout: deadline}),
			dnsbl.New(r, domainLists, &dnsbl.Options{Identity: dnsbl.RDNS, Timeout: deadline}),
			spf.New(r, nil),
			verify.NewSenderDomain(r, nil),
			dnsbl.New(r, domainLists, &dnsbl.Options{Identity: dnsbl.MailFrom, Timeout: deadline}),
			relay.New(relayPolicy()),
			greylist.New(store, &greylist.Options{Now: c.Now, TrustedNets: trusted}),
			dkim.New(r, nil),
			dmarc.New(r, nil),
		},
		Quarantine: 6,
		Reject:     15,
		Timeout:    deadline,
	}
}

// worldSession is the session of the world's sender.
func worldSession(msg []byte) *verdict.Session {
	return &verdict.Session{IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: rcptTo, TLS: true, Message: msg}
}

// stageDecisions evaluates s stage by stage as an SMTP server does (the
// Rcpt stage on a copy, as for each recipient) and returns the decisions.
func stageDecisions(ctx context.Context, p *verdict.Policy, s *verdict.Session) []verdict.Decision {
	var ds []verdict.Decision
	for _, st := range []verdict.Stage{verdict.Connect, verdict.Helo, verdict.Mail} {
		ds = append(ds, p.Evaluate(ctx, s, st))
	}
	ds = append(ds, p.Evaluate(ctx, s.ForRcpt(s.Rcpt), verdict.Rcpt))
	ds = append(ds, p.Evaluate(ctx, s, verdict.Data))
	return ds
}

// seedGreylist makes the world's triplet known to store, so that a clean
// session is accepted at the Rcpt stage.
func seedGreylist(t testing.TB, store greylist.Store, c *clock, ip netip.Addr) {
	t.Helper()
	o := &greylist.Options{Now: c.Now}
	tr := greylist.Triplet{IP: ip, From: mailFrom, Rcpt: rcptTo}
	greylist.Check(context.Background(), store, tr, c.Now(), o)
	c.Add(10 * time.Minute)
	if res := greylist.Check(context.Background(), store, tr, c.Now(), o); res.Status != verdict.Pass {
		t.Fatalf("seeding greylist: %v %s", res.Status, res.Reason)
	}
}

// envInt reads an integer knob from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// spfAuth is the Auth entry of an SPF result for the MAIL FROM sender.
func spfAuth(value, from string) []authres.Result {
	return []authres.Result{&authres.SPFResult{Value: authres.ResultValue(value), From: from}}
}

// describe renders results for a failure message.
func describe(rs []verdict.Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n  %-13s %-9v %5.1f %-8v %s", r.Check, r.Status, r.Score, r.Action, r.Reason)
		if r.Err != nil {
			fmt.Fprintf(&b, " (err: %v)", r.Err)
		}
	}
	return b.String()
}
