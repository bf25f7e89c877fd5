package dmarc

import (
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// FuzzFrom checks that From never panics and that a domain it returns is
// normalized.
func FuzzFrom(f *testing.F) {
	f.Add("From: a@example.com\r\n\r\nbody")
	f.Add("From: \"Alice\" <alice@Example.COM> (comment)\r\n\r\n")
	f.Add("From: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <x@example.jp>\r\n\r\n")
	f.Add("From: Alice\r\n <alice@example.com>\r\n\r\n")
	f.Add("From: a@example.com, b@example.net\r\nFrom: c@example.org\r\n\r\n")
	f.Add("From: team: a@example.com;\n\n")
	f.Add("From : <x@[192.0.2.1]>\r\n")
	f.Add("From: a@Bücher.example")
	f.Fuzz(func(t *testing.T, header string) {
		d, err := From(strings.NewReader(header))
		if err != nil {
			if d != "" {
				t.Fatalf("From(%q) = %q with error %v", header, d, err)
			}
			return
		}
		if n, err := dnsname.Normalize(d); err != nil || n != d {
			t.Fatalf("From(%q) = %q, not normalized (%q, %v)", header, d, n, err)
		}
	})
}

// FuzzParseRecord checks that parseRecord never panics and that a record it
// accepts is usable.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=DMARC1; p=reject")
	f.Add("v=DMARC1;p=quarantine;sp=none;np=reject;adkim=s;aspf=s;pct=20;rua=mailto:a@b.example!10m;fo=1:d;rf=afrf;ri=3600")
	f.Add(" V = DMARC1 ; P = Reject ")
	f.Add("v=DMARC1; p=bogus; rua=mailto:a@b.example")
	f.Add("v=DMARC1; p=none; bogus")
	f.Add("v=DMARC1; p=none; p=reject")
	f.Fuzz(func(t *testing.T, txt string) {
		if !isDMARC(txt) {
			return // discovery discards such records before parsing
		}
		for _, rfc7489 := range []bool{false, true} {
			rec, err := parseRecord(txt, rfc7489)
			if err != nil {
				if err != errNoPolicy {
					t.Fatalf("parseRecord(%q) error %v", txt, err)
				}
				continue
			}
			if !rec.p.valid() || rec.sp != "" && !rec.sp.valid() || rec.np != "" && !rec.np.valid() || rec.pct < 0 || rec.pct > 100 ||
				rec.psd != 'y' && rec.psd != 'n' && rec.psd != 'u' {
				t.Fatalf("parseRecord(%q) = %+v", txt, rec)
			}
		}
	})
}

// FuzzOrgDomain checks that OrgDomain returns "" or a normalized name that
// is its own organizational domain and a parent of the input.
func FuzzOrgDomain(f *testing.F) {
	for _, s := range []string{"example.com", "a.b.c.mm", "www.city.kobe.jp", "user.github.io", "Bücher.de", ".com", "com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		org := OrgDomain(name)
		if org == "" {
			return
		}
		n, err := dnsname.Normalize(name)
		if err != nil || !dnsname.IsSubdomain(n, org) || OrgDomain(org) != org {
			t.Fatalf("OrgDomain(%q) = %q (normalized %q, %v)", name, org, n, err)
		}
	})
}

// FuzzAuthors checks that Authors never panics, returns only normalized,
// distinct domains, agrees with From where From accepts the message, and
// never finds fewer domains in a header with a second From field added.
func FuzzAuthors(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\n\r\nbody",
		"From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n\r\n",
		"From: (Joe) joe@example.com\r\n",
		"From: <alice@example.org.>\r\n\r\n",
		"From: PayPal <security@paypal.com\r\n\r\n",
		"From: P\xe4yP\xe4l <security@paypal.com>\r\n\r\n",
		"X-A: b\rFrom: security@paypal.com\r\nFrom: me@example.org\r\n\r\n",
		"From: =?utf-8?q?=3Csecurity=40paypal=2Ecom=3E?=\r\n\r\n",
		"From: team: a@example.com, b@example.org;\r\n",
		"From: <@relay.example,@other.example:joe@example.org>\r\n",
		"From: john . doe @ example . org\r\n",
		"From: a@example.org (PayPal <security@paypal.com>\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := Authors(strings.NewReader(header))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range a.Domains {
			if n, err := dnsname.Normalize(d); err != nil || n != d || seen[d] {
				t.Fatalf("Authors(%q) domain %q: not normalized or repeated (%q, %v)", header, d, n, err)
			}
			seen[d] = true
		}
		if len(a.Domains) > maxDomains {
			t.Fatalf("Authors(%q): %d domains", header, len(a.Domains))
		}
		if d, err := From(strings.NewReader(header)); err == nil && (len(a.Domains) != 1 || a.Domains[0] != d || a.Malformed) {
			t.Fatalf("From(%q) = %q but Authors = %+v", header, d, a)
		}
		more, err := Authors(strings.NewReader("From: x@added.example\r\n" + header))
		if err == nil && len(more.Domains) < len(a.Domains) {
			t.Fatalf("adding a From field lost domains: %+v, then %+v", a, more)
		}
	})
}
