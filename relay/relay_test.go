package relay

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

var (
	outsider = netip.MustParseAddr("203.0.113.5")
	insider  = netip.MustParseAddr("192.0.2.7")
)

// policy is the setup of anchor-cases.md section E: local.example is ours,
// relay.example is a relay domain, remote.example is neither.
func policy() *Policy {
	return &Policy{
		LocalDomains: []string{"local.example", "Bücher.example", "[192.0.2.10]", ".sub.example", "[IPv6:2001:db8::25]"},
		RelayDomains: []string{"relay.example", "xn--mnchen-3ya.example."},
		TrustedNets:  []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/48")},
	}
}

type want struct {
	action   verdict.Action
	code     int
	enhanced string
}

var (
	allowed    = want{verdict.Accept, 0, ""}
	relayDeny  = want{verdict.Reject, 554, "5.7.1"}
	badRcpt    = want{verdict.Reject, 501, "5.1.3"}
	badSender  = want{verdict.Reject, 501, "5.1.7"}
	spoofed    = want{verdict.Reject, 550, "5.7.1"}
	notOwned   = want{verdict.Reject, 553, "5.7.1"}
	mustAuth   = want{verdict.Reject, 530, "5.7.0"}
	nonASCII   = want{verdict.Reject, 553, "5.6.7"}
	statusWant = map[verdict.Action]verdict.Status{verdict.Accept: verdict.Pass, verdict.Reject: verdict.Fail}
)

func checkWant(t *testing.T, name string, got verdict.Result, w want) {
	t.Helper()
	if got.Check != "relay" || got.Action != w.action || got.Code != w.code || got.Enhanced != w.enhanced || got.Status != statusWant[w.action] {
		t.Errorf("%s: got %v %v %d %s %q; want %v %d %s", name, got.Status, got.Action, got.Code, got.Enhanced, got.Reason, w.action, w.code, w.enhanced)
	}
	if got.Score != 0 {
		t.Errorf("%s: score %v, want 0", name, got.Score)
	}
}

// TestRecipientForms is anchor-cases.md section E: an unauthenticated
// client outside the trusted networks.
func TestRecipientForms(t *testing.T) {
	p := policy()
	for _, c := range []struct {
		name, rcpt string
		want       want
	}{
		{"E1 remote", "user@remote.example", relayDeny},
		{"E1 brackets", "<user@remote.example>", relayDeny},
		{"local", "user@local.example", allowed},
		{"local brackets", "<user@local.example>", allowed},
		{"local case", "User@LOCAL.Example", allowed},
		{"E2 percent hack", "user%remote.example@local.example", relayDeny},
		{"E3 source route to remote", "<@local.example:user@remote.example>", relayDeny},
		{"E4 source route to local", "<@a.example,@b.example:user@local.example>", allowed},
		{"source route malformed", "<@local.example,user@remote.example>", badRcpt},
		{"source route no colon", "@local.example", badRcpt},
		{"source route bad hop", "<@[192.0.2.1]:user@local.example>", badRcpt},
		{"E5 quoted @", `"user@remote.example"@local.example`, relayDeny},
		{"quoted %", `"user%remote.example"@local.example`, relayDeny},
		{"quoted !", `"remote.example!user"@local.example`, relayDeny},
		{"quoted route", `"@local.example:user@remote.example"@local.example`, relayDeny},
		{"quoted escaped @", `"user\@remote.example"@local.example`, relayDeny},
		{"quoted harmless", `"john smith"@local.example`, allowed},
		{"quoted unterminated", `"user@local.example`, badRcpt},
		{"E6 bang path", "remote.example!user@local.example", relayDeny},
		{"E7 double @", "user@remote.example@local.example", badRcpt},
		{"E8 percent to relay domain", "user%remote.example@relay.example", relayDeny},
		{"E9 bang to remote", "dom.ain1!user@dom.ain2", relayDeny},
		{"E9 literal then domain", "user@[1.2.3.4]@dom.ain2", badRcpt},
		{"E10 trailing dot", "user@local.example.", allowed},
		{"two trailing dots", "user@local.example..", badRcpt},
		{"E11 our literal", "user@[192.0.2.10]", allowed},
		{"our IPv6 literal", "user@[IPv6:2001:DB8::25]", allowed},
		{"E12 foreign literal", "user@[198.51.100.20]", relayDeny},
		{"E13 invalid literal", "user@[321.1.2.3]", badRcpt},
		{"literal leading zero", "user@[192.0.2.010]", badRcpt},
		{"IPv6 literal without tag", "user@[2001:db8::25]", badRcpt},
		{"IPv4 with IPv6 tag", "user@[IPv6:192.0.2.10]", badRcpt},
		{"literal with zone", "user@[IPv6:fe80::1%eth0]", badRcpt},
		{"general literal", "user@[x400:foo]", badRcpt},
		{"E14 numeric domain", "user@1.2.3.4", badRcpt},
		{"E15 port", "user@host:25", badRcpt},
		{"E19 postmaster", "postmaster", allowed},
		{"E19 Postmaster", "<PostMaster>", allowed},
		{"postmaster of remote", "postmaster@remote.example", relayDeny},
		{"bare user", "user", badRcpt},
		{"null recipient", "<>", badRcpt},
		{"empty", "", badRcpt},
		{"empty domain", "user@", badRcpt},
		{"empty local", "@local.example", badRcpt},
		{"suffix lookalike", "user@evillocal.example", relayDeny},
		{"subdomain of exact", "user@mx.local.example", relayDeny},
		{"parent entry itself", "user@sub.example", allowed},
		{"parent entry child", "user@a.b.sub.example", allowed},
		{"parent lookalike", "user@notsub.example", relayDeny},
		{"IDN U-label", "user@bücher.example", allowed},
		{"IDN A-label", "user@xn--bcher-kva.example", allowed},
		{"IDN upper U-label", "user@BÜCHER.example", allowed},
		{"IDN relay U-label", "user@münchen.example", allowed},
		{"relay domain", "user@relay.example", allowed},
		{"relay trailing dot", "user@RELAY.example.", allowed},
		{"CRLF injection", "user@local.example\r\nRCPT TO:<x@remote.example>", badRcpt},
		{"NUL", "user\x00@local.example", badRcpt},
		{"invalid UTF-8", "us\xffer@local.example", badRcpt},
		{"UTF-8 local part", "josé@local.example", allowed},
		{"space in local", "john smith@local.example", badRcpt},
		{"unbalanced bracket", "<user@local.example", badRcpt},
		{"too long", strings.Repeat("a", 600) + "@local.example", badRcpt},
		{"dots tolerated", "a..b.@local.example", allowed},
	} {
		// A non-ASCII address is tried with SMTPUTF8, and refused without.
		utf8 := !isASCII(c.rcpt)
		got := Check(p, Envelope{IP: outsider, MailFrom: "someone@remote.example", Rcpt: c.rcpt, SMTPUTF8: utf8})
		checkWant(t, c.name+" "+c.rcpt, got, c.want)
		if utf8 {
			got := Check(p, Envelope{IP: outsider, MailFrom: "someone@remote.example", Rcpt: c.rcpt})
			checkWant(t, c.name+" "+c.rcpt+" without SMTPUTF8", got, nonASCII)
		}
		if got.Action == verdict.Reject && got.Code == 554 && got.Reason != "Relay access denied" {
			t.Errorf("%s: reason %q", c.name, got.Reason)
		}
	}
}

// TestWhoMayRelay covers trusted networks and authentication (E16, E17).
func TestWhoMayRelay(t *testing.T) {
	p := policy()
	for _, c := range []struct {
		name string
		e    Envelope
		want want
	}{
		{"E16 authenticated", Envelope{IP: outsider, AuthUser: "alice", Rcpt: "bob@remote.example"}, allowed},
		{"E17 trusted", Envelope{IP: insider, Rcpt: "bob@remote.example"}, allowed},
		{"trusted IPv6", Envelope{IP: netip.MustParseAddr("2001:db8:1::9"), Rcpt: "bob@remote.example"}, allowed},
		{"IPv4-mapped client", Envelope{IP: netip.MustParseAddr("::ffff:192.0.2.7"), Rcpt: "bob@remote.example"}, allowed},
		{"zoned client", Envelope{IP: netip.MustParseAddr("2001:db8:1::9%eth0"), Rcpt: "bob@remote.example"}, allowed},
		{"outside IPv6", Envelope{IP: netip.MustParseAddr("2001:db8:2::9"), Rcpt: "bob@remote.example"}, relayDeny},
		{"IPv6 with IPv4 bits not mapped", Envelope{IP: netip.MustParseAddr("::c000:207"), Rcpt: "bob@remote.example"}, relayDeny},
		{"no client address", Envelope{Rcpt: "bob@remote.example"}, relayDeny},
		{"trusted routed", Envelope{IP: insider, Rcpt: "bob%remote.example@local.example"}, allowed},
		{"authenticated routed", Envelope{IP: outsider, AuthUser: "alice", Rcpt: `"bob@remote.example"@local.example`}, allowed},
		{"trusted still needs syntax", Envelope{IP: insider, Rcpt: "bob@[321.1.2.3]"}, badRcpt},
	} {
		checkWant(t, c.name, Check(p, c.e), c.want)
	}
}

func TestMappedTrustedNets(t *testing.T) {
	p := &Policy{TrustedNets: []netip.Prefix{netip.MustParsePrefix("::ffff:198.51.100.0/120")}}
	checkWant(t, "mapped prefix", Check(p, Envelope{IP: netip.MustParseAddr("198.51.100.9"), Rcpt: "x@remote.example"}), allowed)
	checkWant(t, "outside mapped prefix", Check(p, Envelope{IP: netip.MustParseAddr("198.51.101.9"), Rcpt: "x@remote.example"}), relayDeny)
}

// TestDefaultDeny: the zero Policy (and a nil one) is no open relay (E21).
func TestDefaultDeny(t *testing.T) {
	for _, p := range []*Policy{nil, {}} {
		checkWant(t, "zero policy", Check(p, Envelope{IP: insider, Rcpt: "x@remote.example"}), relayDeny)
		checkWant(t, "zero policy postmaster", Check(p, Envelope{IP: insider, Rcpt: "postmaster"}), allowed)
	}
}

func TestSenderRules(t *testing.T) {
	owns := func(user, sender string) bool {
		return sender == user+"@local.example" || sender == `"`+user+`"@local.example`
	}
	p := policy()
	p.SenderLogin = owns
	for _, c := range []struct {
		name string
		e    Envelope
		want want
	}{
		{"null sender", Envelope{IP: outsider, MailFrom: "", Rcpt: "a@local.example"}, allowed},
		{"null sender brackets", Envelope{IP: outsider, MailFrom: "<>", Rcpt: "a@local.example"}, allowed},
		{"remote sender", Envelope{IP: outsider, MailFrom: "x@remote.example", Rcpt: "a@local.example"}, allowed},
		{"spoofed local", Envelope{IP: outsider, MailFrom: "ceo@local.example", Rcpt: "a@local.example"}, spoofed},
		{"spoofed local case dot", Envelope{IP: outsider, MailFrom: "<ceo@LOCAL.example.>", Rcpt: "a@local.example"}, spoofed},
		{"spoofed local IDN", Envelope{IP: outsider, MailFrom: "ceo@bücher.example", Rcpt: "a@local.example", SMTPUTF8: true}, spoofed},
		{"IDN sender without SMTPUTF8", Envelope{IP: insider, MailFrom: "ceo@bücher.example", Rcpt: "a@local.example"}, nonASCII},
		{"spoofed via route", Envelope{IP: outsider, MailFrom: "<@x.example:ceo@local.example>", Rcpt: "a@local.example"}, spoofed},
		{"spoofed routed", Envelope{IP: outsider, MailFrom: "ceo%x@local.example", Rcpt: "a@local.example"}, spoofed},
		{"spoofed subdomain entry", Envelope{IP: outsider, MailFrom: "a@x.sub.example", Rcpt: "a@local.example"}, spoofed},
		{"relay domain sender ok", Envelope{IP: outsider, MailFrom: "a@relay.example", Rcpt: "a@local.example"}, allowed},
		{"lookalike sender ok", Envelope{IP: outsider, MailFrom: "a@evillocal.example", Rcpt: "a@local.example"}, allowed},
		{"malformed sender", Envelope{IP: outsider, MailFrom: "ceo@local.example..", Rcpt: "a@local.example"}, badSender},
		{"postmaster sender", Envelope{IP: outsider, MailFrom: "postmaster", Rcpt: "a@local.example"}, badSender},
		{"trusted local sender", Envelope{IP: insider, MailFrom: "ceo@local.example", Rcpt: "a@remote.example"}, allowed},
		{"trusted malformed sender", Envelope{IP: insider, MailFrom: "root", Rcpt: "a@remote.example"}, allowed},
		{"login owns", Envelope{IP: outsider, AuthUser: "ceo", MailFrom: "ceo@LOCAL.example", Rcpt: "a@remote.example"}, allowed},
		{"login owns quoted", Envelope{IP: outsider, AuthUser: "ceo", MailFrom: `"ceo"@local.example`, Rcpt: "a@remote.example"}, allowed},
		{"login mismatch", Envelope{IP: outsider, AuthUser: "intern", MailFrom: "ceo@local.example", Rcpt: "a@remote.example"}, notOwned},
		{"login remote sender", Envelope{IP: outsider, AuthUser: "intern", MailFrom: "intern@gmail.example", Rcpt: "a@remote.example"}, notOwned},
		{"login malformed sender", Envelope{IP: outsider, AuthUser: "ceo", MailFrom: "ceo@", Rcpt: "a@remote.example"}, notOwned},
		{"login null sender", Envelope{IP: outsider, AuthUser: "intern", MailFrom: "", Rcpt: "a@remote.example"}, allowed},
		{"spoof before relay", Envelope{IP: outsider, MailFrom: "ceo@local.example", Rcpt: "a@remote.example"}, spoofed},
	} {
		checkWant(t, c.name, Check(p, c.e), c.want)
	}

	// Without SenderLogin an authenticated user may use any sender.
	p.SenderLogin = nil
	checkWant(t, "no login map", Check(p, Envelope{IP: outsider, AuthUser: "intern", MailFrom: "ceo@local.example", Rcpt: "a@remote.example"}), allowed)
}

func TestSenderLoginArgument(t *testing.T) {
	var gotUser, gotSender string
	p := &Policy{SenderLogin: func(user, sender string) bool { gotUser, gotSender = user, sender; return true }}
	for _, c := range []struct{ from, want string }{
		{"<@r.example:Ceo@LOCAL.Example.>", "Ceo@local.example"},
		{`"a b"@bücher.example`, `"a b"@xn--bcher-kva.example`},
		{"x@[192.0.2.1]", "x@[192.0.2.1]"},
		{"x@[IPv6:2001:DB8::1]", "x@[IPv6:2001:db8::1]"},
	} {
		Check(p, Envelope{IP: outsider, AuthUser: "u", MailFrom: c.from, Rcpt: "postmaster", SMTPUTF8: true})
		if gotUser != "u" || gotSender != c.want {
			t.Errorf("SenderLogin(%q, %q), want %q", gotUser, gotSender, c.want)
		}
	}
}

func TestSubmissionMode(t *testing.T) {
	p := policy()
	p.RequireAuth = true
	p.TLSAuthOnly = true
	for _, c := range []struct {
		name   string
		e      Envelope
		want   want
		reason string
	}{
		{"anonymous", Envelope{IP: outsider, MailFrom: "a@remote.example", Rcpt: "a@local.example"}, mustAuth, "Authentication required"},
		{"anonymous postmaster", Envelope{IP: outsider, Rcpt: "postmaster"}, mustAuth, "Authentication required"},
		{"auth without TLS", Envelope{IP: outsider, AuthUser: "alice", MailFrom: "alice@local.example", Rcpt: "a@remote.example"}, mustAuth, "Must issue a STARTTLS command first"},
		{"auth with TLS", Envelope{IP: outsider, AuthUser: "alice", TLS: true, MailFrom: "alice@local.example", Rcpt: "a@remote.example"}, allowed, ""},
		{"trusted", Envelope{IP: insider, MailFrom: "app@local.example", Rcpt: "a@remote.example"}, allowed, ""},
	} {
		got := Check(p, c.e)
		checkWant(t, c.name, got, c.want)
		if c.reason != "" && got.Reason != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got.Reason, c.reason)
		}
	}
}

// TestTLSAuthOnly: in MX mode, authentication without TLS is ignored.
func TestTLSAuthOnly(t *testing.T) {
	p := policy()
	p.TLSAuthOnly = true
	e := Envelope{IP: outsider, AuthUser: "alice", MailFrom: "alice@remote.example", Rcpt: "a@remote.example"}
	checkWant(t, "auth in clear", Check(p, e), relayDeny)
	e.MailFrom = "alice@local.example"
	checkWant(t, "auth in clear local sender", Check(p, e), spoofed)
	e.TLS = true
	checkWant(t, "auth under TLS", Check(p, e), allowed)
	p.TLSAuthOnly = false
	e.TLS = false
	checkWant(t, "option off", Check(p, e), allowed)
}

func TestReasonsArePrintable(t *testing.T) {
	p := policy()
	p.SenderLogin = func(string, string) bool { return false }
	r := Check(p, Envelope{IP: outsider, AuthUser: "evil\r\n250 OK\x00\xff" + strings.Repeat("x", 300), MailFrom: "a@b.example", Rcpt: "x@remote.example"})
	if r.Code != 553 || strings.ContainsAny(r.Reason, "\r\n\x00") || len(r.Reason) > verdict.MaxReason {
		t.Errorf("reason %q", r.Reason)
	}
}

func TestNew(t *testing.T) {
	p := policy()
	c := New(p)
	if c.Name() != "relay" || c.Stage() != verdict.Rcpt {
		t.Fatalf("Name, Stage = %q, %v", c.Name(), c.Stage())
	}
	// New copies the policy.
	p.LocalDomains = nil
	s := &verdict.Session{IP: outsider, MailFrom: "x@remote.example", Rcpt: "a@local.example"}
	checkWant(t, "session local", c.Check(context.Background(), s), allowed)
	s.Rcpt = "a@remote.example"
	checkWant(t, "session relay", c.Check(context.Background(), s), relayDeny)
	s.AuthUser, s.TLS = "alice", true
	checkWant(t, "session auth", c.Check(context.Background(), s), allowed)

	// Through a verdict.Policy the demand drives the reply.
	vp := &verdict.Policy{Checks: []verdict.Check{c}}
	d := vp.Evaluate(context.Background(), &verdict.Session{IP: outsider, Rcpt: "a@remote.example"}, verdict.Rcpt)
	if d.Action != verdict.Reject || d.Code != 554 || d.Enhanced != "5.7.1" || !strings.Contains(d.Message, "Relay access denied") {
		t.Errorf("decision %v", d)
	}
}

func BenchmarkCheck(b *testing.B) {
	p := policy()
	e := Envelope{IP: outsider, MailFrom: "someone@remote.example", Rcpt: "user%remote.example@local.example"}
	b.Run("pure", func(b *testing.B) {
		for b.Loop() {
			Check(p, e)
		}
	})
	b.Run("compiled", func(b *testing.B) {
		c := New(p)
		s := &verdict.Session{IP: e.IP, MailFrom: e.MailFrom, Rcpt: e.Rcpt}
		ctx := context.Background()
		for b.Loop() {
			c.Check(ctx, s)
		}
	})
}

// TestSMTPUTF8: without SMTPUTF8 an 8-bit address is refused to everyone
// (553 5.6.7), so that no look-alike of our domain that an MTA down the
// line could fold into it counts as local; with SMTPUTF8 the domain is
// mapped by UTS #46 non-transitional processing, as an MTA resolving it
// does.
func TestSMTPUTF8(t *testing.T) {
	p := policy()
	for _, c := range []struct {
		rcpt       string
		withUTF8   want // as an anonymous outsider
		mappedHere bool // UTS #46 maps it onto local.example
	}{
		{"victim@loc\u00adal.example", allowed, true},     // soft hyphen: ignored
		{"victim@ｌocal.example", allowed, true},           // full-width letter
		{"victim@local。example", allowed, true},           // ideographic full stop
		{"victim@local.example\u200b", allowed, true},     // zero-width space: ignored
		{"victim@local.example。", allowed, true},          // mapped trailing dot
		{"victim@loc\u200dal.example", badRcpt, false},    // ZWJ outside a joining context: invalid
		{"victim@lоcal.example", relayDeny, false},        // Cyrillic о: another domain
		{"vіctim@local.example", allowed, false},          // UTF-8 local part
		{"victim@xn--lcal-5qa.example", relayDeny, false}, // A-label of a look-alike
		{"victim\u00ad%remote.example@local.example", relayDeny, false},
	} {
		for _, cl := range []Envelope{{IP: outsider}, {IP: insider}, {IP: outsider, AuthUser: "u", TLS: true}} {
			e := cl
			e.MailFrom, e.Rcpt = "a@remote.example", c.rcpt
			if !isASCII(c.rcpt) {
				checkWant(t, c.rcpt+" without SMTPUTF8", Check(p, e), nonASCII)
			}
			e.MailFrom = "\u00e1@remote.example"
			if !isASCII(c.rcpt) {
				checkWant(t, c.rcpt+" with an 8-bit sender, without SMTPUTF8", Check(p, e), nonASCII)
			}
		}
		got := Check(p, Envelope{IP: outsider, MailFrom: "a@remote.example", Rcpt: c.rcpt, SMTPUTF8: true})
		checkWant(t, c.rcpt+" with SMTPUTF8", got, c.withUTF8)
		if c.mappedHere && got.Reason != "local domain" {
			t.Errorf("%q with SMTPUTF8: %q, want local domain", c.rcpt, got.Reason)
		}
	}
	// The reply says what the client must do.
	r := Check(p, Envelope{IP: outsider, Rcpt: "victim@ｌocal.example"})
	if r.Reason != "Must declare SMTPUTF8 to send unicode address" || r.Err == nil {
		t.Errorf("reason %q, err %v", r.Reason, r.Err)
	}
	// The Checker reads SMTPUTF8 from the session.
	c := New(p)
	s := &verdict.Session{IP: outsider, MailFrom: "a@remote.example", Rcpt: "victim@ｌocal.example"}
	checkWant(t, "Checker without SMTPUTF8", c.Check(context.Background(), s), nonASCII)
	s.SMTPUTF8 = true
	checkWant(t, "Checker with SMTPUTF8", c.Check(context.Background(), s), allowed)
}

// TestClientCert: a TLS client certificate whose fingerprint is listed
// permits relay like a trusted network (Postfix permit_tls_clientcerts).
func TestClientCert(t *testing.T) {
	const (
		fp    = "3f1e2a6b7c8d9e0f112233445566778899aabbccddeeff00112233445566aabb"
		other = "0000000000000000000000000000000000000000000000000000000000000001"
	)
	colons := strings.ToUpper(fp[:2])
	for i := 2; i < len(fp); i += 2 {
		colons += ":" + strings.ToUpper(fp[i:i+2])
	}
	for _, listed := range []string{fp, strings.ToUpper(fp), colons} {
		p := policy()
		p.ClientCerts = []string{"not a fingerprint", "abcd", listed}
		for _, c := range []struct {
			name string
			e    Envelope
			want want
		}{
			{"listed", Envelope{IP: outsider, TLS: true, ClientCert: fp, MailFrom: "ceo@local.example", Rcpt: "a@remote.example"}, allowed},
			{"listed, upper case", Envelope{IP: outsider, TLS: true, ClientCert: strings.ToUpper(fp), Rcpt: "a@remote.example"}, allowed},
			{"not listed", Envelope{IP: outsider, TLS: true, ClientCert: other, Rcpt: "a@remote.example"}, relayDeny},
			{"listed without TLS", Envelope{IP: outsider, ClientCert: fp, Rcpt: "a@remote.example"}, relayDeny},
			{"no certificate", Envelope{IP: outsider, TLS: true, Rcpt: "a@remote.example"}, relayDeny},
			{"listed, local sender is not spoofing", Envelope{IP: outsider, TLS: true, ClientCert: fp, MailFrom: "ceo@local.example", Rcpt: "a@local.example"}, allowed},
		} {
			got := Check(p, c.e)
			checkWant(t, c.name+" ("+listed[:5]+")", got, c.want)
			if c.want == allowed && c.e.Rcpt == "a@remote.example" && got.Reason != "trusted client certificate may relay" {
				t.Errorf("%s: reason %q", c.name, got.Reason)
			}
		}
		// Submission mode: a listed certificate counts as trusted.
		p.RequireAuth = true
		checkWant(t, "submission, listed", Check(p, Envelope{IP: outsider, TLS: true, ClientCert: fp, Rcpt: "a@remote.example"}), allowed)
		checkWant(t, "submission, not listed", Check(p, Envelope{IP: outsider, TLS: true, ClientCert: other, Rcpt: "a@remote.example"}), mustAuth)
	}
	// New copies the list: a later change has no effect.
	p := policy()
	p.ClientCerts = []string{fp}
	c := New(p)
	p.ClientCerts[0] = other
	checkWant(t, "copied", c.Evaluate(Envelope{IP: outsider, TLS: true, ClientCert: fp, Rcpt: "a@remote.example"}), allowed)
}

func TestFingerprint(t *testing.T) {
	cert := &x509.Certificate{Raw: []byte("not really DER")}
	// sha256("not really DER")
	sum := sha256.Sum256(cert.Raw)
	if got, want := Fingerprint(cert), hex.EncodeToString(sum[:]); got != want || len(got) != 64 || got != strings.ToLower(got) {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
}

// TestSessionTrusted checks that a session the Policy marked trusted (from
// verdict.Policy.TrustedNets) may relay as a client in relay's own
// TrustedNets may, and that either alone is enough.
func TestSessionTrusted(t *testing.T) {
	ctx := context.Background()
	c := New(&Policy{LocalDomains: []string{"local.example"}})
	s := &verdict.Session{IP: netip.MustParseAddr("10.1.2.3"), MailFrom: "a@local.example", Rcpt: "b@remote.example"}
	if r := c.Check(ctx, s); r.Action != verdict.Reject {
		t.Fatalf("untrusted session relayed: %+v", r)
	}
	p := &verdict.Policy{Checks: []verdict.Check{c}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if d := p.Evaluate(ctx, s, verdict.Rcpt); d.Action != verdict.Accept || !s.Trusted {
		t.Fatalf("session in verdict.Policy.TrustedNets: %+v (Trusted %v)", d, s.Trusted)
	}
	if r, _ := s.Result(Name); r.Status != verdict.Pass || r.Reason != "trusted client may relay" {
		t.Errorf("trusted session: %+v", r)
	}
	// relay's own TrustedNets still work without the session's mark.
	own := New(&Policy{LocalDomains: []string{"local.example"}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	s2 := &verdict.Session{IP: s.IP, MailFrom: s.MailFrom, Rcpt: s.Rcpt}
	if r := own.Check(ctx, s2); r.Status != verdict.Pass || r.Reason != "trusted network may relay" {
		t.Errorf("relay.Policy.TrustedNets: %+v", r)
	}
	// A trusted client still meets the sender rules a trusted net meets.
	if r := c.Evaluate(Envelope{IP: s.IP, Trusted: true, MailFrom: "a@local.example", Rcpt: "b@remote.example"}); r.Status != verdict.Pass {
		t.Errorf("Envelope.Trusted: %+v", r)
	}
}
