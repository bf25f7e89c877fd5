package relay

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/mtaguard/mtaguard/verdict"
)

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in      string
		rcpt    bool
		local   string
		domain  string
		literal string
		routed  bool
		utf8    bool
		err     error
	}{
		{in: "a@b.example", local: "a", domain: "b.example"},
		{in: "<A.B@B.Example.>", local: "A.B", domain: "b.example"},
		{in: "<@x.example,@y.example:a@b.example>", local: "a", domain: "b.example"},
		{in: `"a@c"@b.example`, local: `"a@c"`, domain: "b.example", routed: true},
		{in: `"a:c"@b.example`, local: `"a:c"`, domain: "b.example", routed: true},
		{in: `"a\"c"@b.example`, local: `"a\"c"`, domain: "b.example"},
		{in: `""@b.example`, local: `""`, domain: "b.example"},
		{in: "a%c@b.example", local: "a%c", domain: "b.example", routed: true},
		{in: "c!a@b.example", local: "c!a", domain: "b.example", routed: true},
		{in: "a@[192.0.2.1]", local: "a", literal: "192.0.2.1"},
		{in: "a@[IPv6:::ffff:192.0.2.1]", local: "a", literal: "192.0.2.1"},
		{in: "a@[ipv6:2001:db8::1]", local: "a", literal: "2001:db8::1"},
		{in: "postmaster", rcpt: true, local: "postmaster"},
		{in: "postmaster", err: errDomain},
		{in: "a@b@c.example", err: errDomain},
		{in: "a@", err: errDomain},
		{in: "a", err: errDomain},
		{in: "@b.example", err: errRoute},
		{in: "<@b.example:>", err: errLocal},
		{in: "<@:a@b.example>", err: errRoute},
		{in: `"a\`, err: errLocal},
		{in: `"a\` + "\x80" + `"@b.example`, utf8: true, err: errChars},
		{in: `"a\` + "\u00e9" + `"@b.example`, utf8: true, err: errLocal},
		{in: `"a\` + "\u00e9" + `"@b.example`, err: errNonASCII},
		{in: "a@b\u00adc.example", err: errNonASCII},
		{in: "a@b\u00adc.example", utf8: true, local: "a", domain: "bc.example"},
		{in: "a@ｂ.example。", utf8: true, local: "a", domain: "b.example"},
		{in: "é@b.example", utf8: true, local: "é", domain: "b.example"},
		{in: "a@b.example>", err: errDomain},
		{in: "<>", err: errEmpty},
		{in: "a@[1.2.3.4", err: errLiteral},
		{in: "a@[]", err: errLiteral},
		{in: "a\r@b.example", err: errChars},
	} {
		a, err := parseAddress(c.in, c.rcpt, c.utf8)
		if err != c.err {
			t.Errorf("parseAddress(%q) error %v, want %v", c.in, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		lit := ""
		if a.literal.IsValid() {
			lit = a.literal.String()
		}
		if a.local != c.local || a.domain != c.domain || lit != c.literal || a.routed != c.routed {
			t.Errorf("parseAddress(%q) = %+v", c.in, a)
		}
	}
}

// unquote returns the content of a local part, quoted or not.
func unquote(local string) string {
	if !strings.HasPrefix(local, `"`) {
		return local
	}
	_, s, _ := quotedString(local)
	return s
}

// FuzzAddress checks the parser's promises on any input: no panic; an
// address it does not flag as routed has no routing character left in its
// (unquoted) local part, and neither that nor its domain holds a control
// byte; and Check, given the input as sender and recipient, only ever
// writes a printable one-line reason, and lets an untrusted, anonymous
// client send only to what is really a local destination.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"user@local.example", "user%remote.example@local.example", "remote.example!user@local.example",
		"<@local.example:user@remote.example>", `"user@remote.example"@local.example`,
		"user@remote.example@local.example", "user@[192.0.2.1]", "user@evillocal.example",
		"postmaster", "user@local.example.", "user@bücher.example", `"a\"b"@local.example`,
		"<@a.example,@b.example:user@local.example>", "user@[IPv6:2001:db8::25]", "user@1.2.3.4",
	} {
		f.Add(s, true)
	}
	p := &Policy{LocalDomains: []string{"local.example", "[192.0.2.10]"}}
	f.Fuzz(func(t *testing.T, s string, rcpt bool) {
		a, err := parseAddress(s, rcpt, false)
		if err == nil {
			if !a.routed && strings.ContainsAny(unquote(a.local), "%!@:") {
				t.Fatalf("%q: local part %q routes but is not flagged", s, a.local)
			}
			if strings.ContainsAny(a.local+a.domain, "\r\n\x00") || !utf8.ValidString(a.local) {
				t.Fatalf("%q: control bytes kept in %+v", s, a)
			}
			if a.domain != "" && a.literal.IsValid() {
				t.Fatalf("%q: both domain and literal", s)
			}
		}

		login := &Policy{LocalDomains: p.LocalDomains, SenderLogin: func(_, sender string) bool { return sender == s }}
		for _, e := range []Envelope{{MailFrom: s, Rcpt: s, AuthUser: s}, {MailFrom: s, Rcpt: s}} {
			r := Check(login, e)
			if r.Reason == "" || r.Reason != verdict.Printable(r.Reason) {
				t.Fatalf("%q: reason %q is not printable", s, r.Reason)
			}
		}
		r := Check(p, Envelope{IP: netip.MustParseAddr("203.0.113.5"), Rcpt: s})
		a, err = parseAddress(s, true, false)
		if r.Action != verdict.Accept {
			return
		}
		// Accepted for an anonymous outsider: the address must be local,
		// not routed, and what follows its last '@' must be ours.
		if err != nil || a.routed {
			t.Fatalf("%q: accepted but parse = %+v, %v", s, a, err)
		}
		if a.postmaster() {
			return
		}
		tail := strings.ToLower(strings.TrimSuffix(s, ">"))
		tail = tail[strings.LastIndexByte(tail, '@')+1:]
		if tail != "local.example" && tail != "local.example." && tail != "[192.0.2.10]" {
			t.Fatalf("%q: accepted for domain %q", s, tail)
		}
	})
}

// FuzzAddressSMTPUTF8: with SMTPUTF8, an address accepted as local for an
// anonymous outsider has a domain that IDNA2008 lookup maps onto ours.
func FuzzAddressSMTPUTF8(f *testing.F) {
	for _, s := range []string{"user@local.example", "user@ｌocal.example", "user@loc\u00adal.example", "user@local。example",
		"user@local.example\u200b", "user%x@local.example", "jösé@local.example", "user@lоcal.example"} {
		f.Add(s)
	}
	p := &Policy{LocalDomains: []string{"local.example"}}
	f.Fuzz(func(t *testing.T, s string) {
		r := Check(p, Envelope{IP: netip.MustParseAddr("203.0.113.5"), Rcpt: s, SMTPUTF8: true})
		if r.Reason == "" || r.Reason != verdict.Printable(r.Reason) {
			t.Fatalf("%q: reason %q is not printable", s, r.Reason)
		}
		if !isASCII(s) {
			if r := Check(p, Envelope{IP: netip.MustParseAddr("203.0.113.5"), Rcpt: s}); r.Code != 553 {
				t.Fatalf("%q without SMTPUTF8: %d %s", s, r.Code, r.Reason)
			}
		}
		if r.Action != verdict.Accept || strings.EqualFold(strings.Trim(s, "<>"), "postmaster") {
			return
		}
		a, err := parseAddress(s, true, true)
		if err != nil || a.routed {
			t.Fatalf("%q: accepted but parse = %+v, %v", s, a, err)
		}
		tail := strings.TrimSuffix(s, ">")
		tail = tail[strings.LastIndexByte(tail, '@')+1:]
		m, err := idna.Lookup.ToASCII(tail)
		if m = strings.TrimSuffix(m, "."); err != nil || m != "local.example" {
			t.Fatalf("%q: accepted for domain %q (maps to %q, %v)", s, tail, m, err)
		}
	})
}
