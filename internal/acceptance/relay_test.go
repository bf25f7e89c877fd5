package acceptance

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/verdict"
)

// batteryPolicy is the relay policy of the open-relay battery: our
// domain, an IDN domain, our address literals, a relay domain, and trusted
// networks given both as IPv4 and as an IPv4-mapped IPv6 prefix.
func batteryPolicy() *relay.Policy {
	return &relay.Policy{
		LocalDomains: []string{"example.net", "bücher.example", "[192.0.2.25]", "[IPv6:2001:db8::25]"},
		RelayDomains: []string{"backup.example"},
		TrustedNets: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("::ffff:172.16.0.0/108"),
		},
	}
}

// Kinds of recipient in the battery.
const (
	local     = iota // ours: anyone may send to it
	relaying         // someone else's: only trusted or authenticated clients
	malformed        // refused to everyone, 501 5.1.3
)

// battery is every classic open-relay trick, and the local forms that
// must keep working.
var battery = []struct {
	rcpt string
	kind int
}{
	// Plain local recipients, in every spelling that means the same.
	{"bob@example.net", local},
	{"<bob@example.net>", local},
	{"bob@EXAMPLE.NET", local},
	{"Bob@Example.Net.", local},
	{"bob@example.net.", local},
	{`"bob"@example.net`, local},
	{`"bob smith"@example.net`, local},
	{"postmaster", local},
	{"<Postmaster>", local},
	{"bob@bücher.example", local},
	{"bob@BÜCHER.example", local},
	{"bob@xn--bcher-kva.example", local},
	{"bob@XN--BCHER-KVA.EXAMPLE.", local},
	{"bob@[192.0.2.25]", local},
	{"bob@[IPv6:2001:db8::25]", local},
	{"bob@[ipv6:2001:DB8:0:0:0:0:0:25]", local},
	{"bob@backup.example", local}, // a relay domain: anyone may send there
	// A source route is ignored (RFC 5321 §4.1.2, Appendix C): the
	// address is what follows it.
	{"@relay.example.com:bob@example.net", local},
	{"<@a.example,@b.example:bob@example.net>", local},

	// Someone else's domain.
	{"victim@evil.example", relaying},
	{"<victim@evil.example>", relaying},
	{"victim@EVIL.EXAMPLE.", relaying},
	// Percent hack, bang path, and both inside quotes.
	{"victim%evil.example@example.net", relaying},
	{"victim%evil.example%example.net@example.net", relaying},
	{"evil.example!victim@example.net", relaying},
	{"example.net!evil.example!victim@example.net", relaying},
	{`"victim@evil.example"@example.net`, relaying},
	{`"victim%evil.example"@example.net`, relaying},
	{`"evil.example!victim"@example.net`, relaying},
	{`"victim\@evil.example"@example.net`, relaying},
	{`"@evil.example:victim"@example.net`, relaying},
	{"victim%evil.example@[192.0.2.25]", relaying},
	{"victim%evil.example@bücher.example", relaying},
	{"victim%evil.example@backup.example", relaying},
	// Source routes pointing away from us.
	{"@example.net:victim@evil.example", relaying},
	{"<@example.net,@example.net:victim@evil.example>", relaying},
	// Suffix and prefix matches.
	{"victim@evilexample.net", relaying},
	{"victim@example.net.evil.example", relaying},
	{"victim@sub.example.net", relaying},
	{"victim@example.netevil.example", relaying},
	{"victim@notbackup.example", relaying},
	{"victim@mail.backup.example", relaying},
	{"victim@bücher.example.evil.example", relaying},
	{"victim@xn--bcher-kva.example.evil.example", relaying},
	// IDN confusion: look-alike letters are other domains; full-width
	// dots are dots (IDNA mapping), so they name another domain too.
	{"victim@exаmple.net", relaying},              // Cyrillic а
	{"victim@exämple.net", relaying},              // a with diaeresis
	{"victim@xn--exmple-cua.net", relaying},       // the same, as A-label
	{"victim@bucher.example", relaying},           // the ASCII look-alike
	{"victim@example.net。evil.example", relaying}, // U+3002
	{"victim@example.net．evil.example", relaying}, // U+FF0E
	// Address literals that are not ours.
	{"victim@[203.0.113.9]", relaying},
	{"victim@[127.0.0.1]", relaying},
	{"victim@[10.0.0.1]", relaying},
	{"victim@[IPv6:2001:db8::26]", relaying},
	{"victim@[IPv6:::1]", relaying},
	{"postmaster@evil.example", relaying},

	// Forms no MTA should route: refused to everyone.
	{"victim@evil.example@example.net", malformed},
	{"victim@example.net@evil.example", malformed},
	{"victim@@example.net", malformed},
	{"victim@example.net:25", malformed},
	{"victim@1.2.3.4", malformed},
	{"victim@[1.2.3.4", malformed},
	{"victim@[2001:db8::25]", malformed},
	{"victim@[IPv6:fe80::1%eth0]", malformed},
	{"victim@[IPv6:192.0.2.25]", malformed},
	{"victim@[192.0.2.025]", malformed},
	{"victim@[tcp:evil.example]", malformed},
	{"evil.example!victim", malformed},
	{"victim%evil.example", malformed},
	{"victim", malformed},
	{"<victim@evil.example", malformed},
	{"victim@evil.example>", malformed},
	{"victim@example.net\r\nRCPT TO:<victim@evil.example>", malformed},
	{"victim@example.net\x00@evil.example", malformed},
	{"victim\n@example.net", malformed},
	{"", malformed},
	{"<>", malformed},
	{"victim@example..net", malformed},
	{"victim@.example.net", malformed},
	{"@evil.example:", malformed},
	{`"unterminated@example.net`, malformed},
	{"victim@example.net\xff", malformed},
	{"victim@" + strings.Repeat("a", 600) + ".example.net", malformed},
}

// client is one kind of SMTP client of the battery.
type client struct {
	name     string
	ip       netip.Addr
	authUser string
	tls      bool
	mayRelay bool
}

var clients = []client{
	{"outside", outsideIP, "", true, false},
	{"outside-mapped", netip.MustParseAddr("::ffff:203.0.113.66"), "", true, false},
	{"outside-v6", netip.MustParseAddr("2001:db8:bad::1"), "", true, false},
	{"trusted", trustedIP, "", false, true},
	{"trusted-mapped", netip.MustParseAddr("::ffff:10.1.2.3"), "", false, true},
	{"trusted-by-mapped-prefix", netip.MustParseAddr("172.16.5.5"), "", false, true},
	{"trusted-by-mapped-prefix-mapped", netip.MustParseAddr("::ffff:172.16.5.5"), "", false, true},
	{"near-trusted", netip.MustParseAddr("11.0.0.1"), "", true, false},
	{"authenticated", outsideIP, "alice", true, true},
	{"no-address", netip.Addr{}, "", false, false},
}

// TestOpenRelayBattery puts every recipient of the battery to every kind
// of client, through relay.Check and through a Policy at the Rcpt stage
// (relay alone, and every check of the project): local recipients are
// accepted from anyone, other destinations only from trusted or
// authenticated clients (554 5.7.1 for the others), and malformed ones
// from no one.
func TestOpenRelayBattery(t *testing.T) {
	t.Parallel()
	rp := batteryPolicy()
	relayOnly := &verdict.Policy{Checks: []verdict.Check{relay.New(rp)}, Quarantine: 6, Reject: 15}
	c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	full := fullPolicy(newWorld(t), greylist.NewMemory(), c, deadline)
	for i, ch := range full.Checks {
		if ch.Name() == relay.Name {
			full.Checks[i] = relay.New(rp)
		}
	}
	for _, cl := range clients {
		for _, b := range battery {
			allowed := b.kind == local || b.kind == relaying && cl.mayRelay
			// An 8-bit recipient is put with SMTPUTF8 (RFC 6531); without
			// it, TestNonASCIIWithoutSMTPUTF8 says what happens.
			utf8 := !isASCII(b.rcpt)
			e := relay.Envelope{IP: cl.ip, AuthUser: cl.authUser, TLS: cl.tls, MailFrom: "sender@example.com", Rcpt: b.rcpt, SMTPUTF8: utf8}
			res := relay.Check(rp, e)
			if got := res.Action != verdict.Reject; got != allowed {
				t.Errorf("%s → %q: relay.Check %v %d %s %q, want allowed=%v", cl.name, b.rcpt, res.Status, res.Code, res.Enhanced, res.Reason, allowed)
			}
			if !allowed {
				wantCode, wantEnh := 554, "5.7.1"
				if b.kind == malformed {
					wantCode, wantEnh = 501, "5.1.3"
				}
				if res.Code != wantCode || res.Enhanced != wantEnh {
					t.Errorf("%s → %q: refused with %d %s, want %d %s", cl.name, b.rcpt, res.Code, res.Enhanced, wantCode, wantEnh)
				}
			}
			if res.Reason != verdict.Printable(res.Reason) {
				t.Errorf("%s → %q: reason %q is not printable", cl.name, b.rcpt, res.Reason)
			}

			// The same through Policies, as a server evaluates a RCPT.
			s := &verdict.Session{IP: cl.ip, AuthUser: cl.authUser, TLS: cl.tls, HELO: "client.example.com", MailFrom: "sender@example.com", SMTPUTF8: utf8}
			for _, p := range []*verdict.Policy{relayOnly, full} {
				d := p.Evaluate(context.Background(), s.ForRcpt(b.rcpt), verdict.Rcpt)
				switch {
				case allowed && d.Code >= 500:
					t.Errorf("%s → %q: policy refused: %s", cl.name, b.rcpt, d)
				case !allowed && b.kind == relaying && (d.Code != 554 || d.Enhanced != "5.7.1"):
					t.Errorf("%s → %q: policy %s, want 554 5.7.1", cl.name, b.rcpt, d)
				case !allowed && d.Code < 500:
					t.Errorf("%s → %q: policy %s, want a refusal", cl.name, b.rcpt, d)
				}
				if strings.ContainsAny(d.String(), "\r\n\x00") {
					t.Errorf("%s → %q: reply %q has a line break or NUL", cl.name, b.rcpt, d)
				}
			}
		}
	}
}

// TestRelayTLSAuthOnly: with TLSAuthOnly, credentials sent in the clear do
// not open the relay.
func TestRelayTLSAuthOnly(t *testing.T) {
	t.Parallel()
	rp := batteryPolicy()
	rp.TLSAuthOnly = true
	for _, b := range battery {
		if b.kind != relaying {
			continue
		}
		res := relay.Check(rp, relay.Envelope{IP: outsideIP, AuthUser: "alice", MailFrom: "alice@example.net", Rcpt: b.rcpt, SMTPUTF8: !isASCII(b.rcpt)})
		if res.Action != verdict.Reject {
			t.Errorf("AUTH without TLS → %q: %v %q, want refused", b.rcpt, res.Status, res.Reason)
		}
	}
}

// TestSenderSpoofing: an outside, unauthenticated client may not use our
// domains as its envelope sender, in any spelling; trusted and
// authenticated clients may.
func TestSenderSpoofing(t *testing.T) {
	t.Parallel()
	rp := batteryPolicy()
	senders := []string{
		"bob@example.net", "<bob@example.net>", "bob@EXAMPLE.NET.", `"bob"@example.net`,
		"@evil.example:bob@example.net", "bob@bücher.example", "bob@xn--bcher-kva.example",
		"bob@[192.0.2.25]", "bob@[IPv6:2001:db8::25]",
	}
	for _, cl := range clients {
		for _, from := range senders {
			res := relay.Check(rp, relay.Envelope{IP: cl.ip, AuthUser: cl.authUser, TLS: cl.tls, MailFrom: from, Rcpt: "bob@example.net", SMTPUTF8: !isASCII(from)})
			refused := res.Action == verdict.Reject
			if refused == cl.mayRelay {
				t.Errorf("%s with MAIL FROM %q: %v %d %s %q", cl.name, from, res.Status, res.Code, res.Enhanced, res.Reason)
			}
			if refused && res.Code != 550 && res.Code != 501 {
				t.Errorf("%s with MAIL FROM %q: refused with %d %s", cl.name, from, res.Code, res.Enhanced)
			}
		}
	}
}

// TestNonASCIIWithoutSMTPUTF8: without the SMTPUTF8 parameter an address
// with a byte above 127 is no address at all (RFC 6531): it is refused to
// every client with 553 5.6.7, as Postfix's smtpd does, through
// relay.Check and through a Policy. Among them are the look-alikes of our
// own domain that an MTA folding by IDNA would route to us: a soft
// hyphen, a full-width letter, an ideographic full stop, a trailing
// zero-width space.
func TestNonASCIIWithoutSMTPUTF8(t *testing.T) {
	t.Parallel()
	rp := batteryPolicy()
	pol := &verdict.Policy{Checks: []verdict.Check{relay.New(rp)}, Quarantine: 6, Reject: 15}
	rcpts := []string{
		"victim@exam\u00adple.net", "victim@ｅxample.net", "victim@example。net", "victim@example.net\u200b",
		"bob@bücher.example", "jösé@example.net", "victim@exаmple.net", "victim@example.net\xff",
	}
	for _, b := range battery {
		if !isASCII(b.rcpt) {
			rcpts = append(rcpts, b.rcpt)
		}
	}
	for _, cl := range clients {
		for _, rcpt := range rcpts {
			for _, e := range []relay.Envelope{
				{IP: cl.ip, AuthUser: cl.authUser, TLS: cl.tls, MailFrom: "sender@example.com", Rcpt: rcpt},
				{IP: cl.ip, AuthUser: cl.authUser, TLS: cl.tls, MailFrom: rcpt, Rcpt: "bob@example.net"},
			} {
				res := relay.Check(rp, e)
				if res.Action != verdict.Reject || res.Code != 553 || res.Enhanced != "5.6.7" {
					t.Errorf("%s, MAIL FROM %q RCPT TO %q: %v %d %s %q, want 553 5.6.7", cl.name, e.MailFrom, e.Rcpt, res.Action, res.Code, res.Enhanced, res.Reason)
				}
				s := &verdict.Session{IP: cl.ip, AuthUser: cl.authUser, TLS: cl.tls, HELO: "client.example.com", MailFrom: e.MailFrom}
				if d := pol.Evaluate(context.Background(), s.ForRcpt(e.Rcpt), verdict.Rcpt); d.Code != 553 || d.Enhanced != "5.6.7" {
					t.Errorf("%s, MAIL FROM %q RCPT TO %q: policy %s, want 553 5.6.7", cl.name, e.MailFrom, e.Rcpt, d)
				}
			}
		}
	}
	// With SMTPUTF8 the same addresses are mapped as an MTA resolving them
	// does (IDNA2008, UTS #46 non-transitional): the look-alikes that map
	// onto example.net are ours, the others are not.
	for rcpt, local := range map[string]bool{
		"victim@exam\u00adple.net": true, "victim@ｅxample.net": true, "victim@example。net": true,
		"victim@example.net\u200b": true, "victim@exаmple.net": false,
	} {
		res := relay.Check(rp, relay.Envelope{IP: outsideIP, MailFrom: "sender@example.com", Rcpt: rcpt, SMTPUTF8: true})
		if got := res.Action == verdict.Accept; got != local {
			t.Errorf("SMTPUTF8 RCPT TO %q: %v %d %q, want local=%v", rcpt, res.Action, res.Code, res.Reason, local)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
