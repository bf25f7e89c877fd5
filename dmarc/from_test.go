package dmarc

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/internal/header"
)

func TestFrom(t *testing.T) {
	for _, c := range []struct {
		name, header string
		want         string
		err          error
	}{
		{"plain", "From: a@example.com\r\n\r\nbody", "example.com", nil},
		{"display name", "Subject: x\r\nFrom: \"Alice A.\" <alice@Example.COM>\r\n\r\n", "example.com", nil},
		{"comment", "From: alice@example.com (Alice)\r\n\r\n", "example.com", nil},
		{"quoted address in the display name", "From: \"bob@bank.example\" <x@evil.example>\r\n\r\n", "evil.example", nil},
		{"UTF-8 display name", "From: Jörg <j@example.de>\r\n\r\n", "example.de", nil},
		{"encoded word", "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\r\n\r\n", "example.de", nil},
		{"encoded word, unknown charset", "From: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <x@example.jp>\r\n\r\n", "example.jp", nil},
		{"folded", "From: Alice\r\n <alice@example.com>\r\nTo: b@example.net\r\n\r\n", "example.com", nil},
		{"folded with tab", "From:\r\n\talice@example.com\r\n\r\n", "example.com", nil},
		{"lower-case name", "from: a@example.com\r\n\r\n", "example.com", nil},
		{"space before the colon", "From : a@example.com\r\n\r\n", "example.com", nil},
		{"LF line ends", "Subject: x\nFrom: a@example.com\n\nbody\n", "example.com", nil},
		{"no body, no empty line", "From: a@example.com", "example.com", nil},
		{"IDN domain", "From: a@Bücher.example\r\n\r\n", "xn--bcher-kva.example", nil},
		{"trailing dot", "From: <a@example.com.>\r\n\r\n", "", ErrFromSyntax},
		{"group with one address", "From: team: a@example.com;\r\n\r\n", "example.com", nil},
		{"Resent-From and X-From are other fields", "Resent-From: a@other.example\r\nX-From: b@other.example\r\nFrom: c@example.com\r\n\r\n", "example.com", nil},
		{"continuation before any field", " junk\r\nFrom: a@example.com\r\n\r\n", "example.com", nil},

		{"no From", "Subject: x\r\n\r\n", "", ErrNoFrom},
		{"From only in the body", "Subject: x\r\n\r\nFrom: a@example.com\r\n", "", ErrNoFrom},
		{"empty message", "", "", ErrNoFrom},
		{"two From fields", "From: a@example.com\r\nTo: b@example.net\r\nFROM: a@example.com\r\n\r\n", "", ErrMultipleFrom},
		{"two addresses", "From: a@example.com, b@example.net\r\n\r\n", "", ErrMultipleAddrs},
		{"empty group", "From: undisclosed-recipients:;\r\n\r\n", "", ErrNoFrom},
		{"empty field", "From:\r\n\r\n", "", ErrFromSyntax},
		{"unquoted address as display name", "From: x@good.example <x@evil.example>\r\n\r\n", "", ErrFromSyntax},
		{"no domain", "From: joe\r\n\r\n", "", ErrFromSyntax},
		{"address literal", "From: <x@[192.0.2.1]>\r\n\r\n", "", ErrFromDomain},
		{"numeric domain", "From: x@123\r\n\r\n", "", ErrFromDomain},
		{"bad label", "From: x@a_b-.example\r\n\r\n", "", ErrFromDomain},
	} {
		got, err := From(strings.NewReader(c.header))
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: From = %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}

	long := "From: a@example.com\r\nX: " + strings.Repeat("x", header.MaxSize) + "\r\n\r\n"
	if _, err := From(strings.NewReader(long)); err != ErrHeaderTooLong {
		t.Errorf("long header: err %v, want ErrHeaderTooLong", err)
	}
	endless := "From: a@example.com\r\nX: " + strings.Repeat("x", 2*header.MaxSize)
	if _, err := From(strings.NewReader(endless)); err != ErrHeaderTooLong {
		t.Errorf("endless line: err %v, want ErrHeaderTooLong", err)
	}

	// The body is not read: a stream that fails after the header section
	// still gives the domain.
	r := io.MultiReader(strings.NewReader("From: a@example.com\r\n\r\n"), failing{})
	if got, err := From(r); got != "example.com" || err != nil {
		t.Errorf("From stopped body = %q, %v", got, err)
	}
	if _, err := From(io.MultiReader(strings.NewReader("From: a@ex"), failing{})); err != errFailing {
		t.Errorf("read error: %v, want %v", err, errFailing)
	}
}

var errFailing = errors.New("connection reset")

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errFailing }

// TestParseRecord: records are read leniently (RFC 9989 §4.8, RFC 7489
// §6.3): a syntax error in a tag falls back to its default. Before, an
// invalid adkim=, pct= or a stray part dropped the whole record
// (PermError), so its p=reject was not enforced; those rows changed on
// purpose.
func TestParseRecord(t *testing.T) {
	const both, only9989, only7489 = 0, 1, 2
	for _, c := range []struct {
		txt  string
		mode int
		want *record
		err  error
	}{
		{"v=DMARC1; p=reject", both, &record{p: Reject, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1;p=quarantine;sp=none;np=reject;adkim=s;aspf=s;pct=20;rua=mailto:a@b.example;fo=1;rf=afrf;ri=3600", both,
			&record{p: Quarantine, sp: None, np: Reject, adkimStrict: true, aspfStrict: true, pct: 20, psd: 'u', fo: "1"}, nil},
		{" v = DMARC1 ;\tP=Reject; SP = Quarantine; ADKIM=S; ", both, &record{p: Reject, sp: Quarantine, adkimStrict: true, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=none; unknown=tag; t=y; psd=n", both, &record{p: None, pct: 100, testing: true, psd: 'n'}, nil},
		{"v=DMARC1; psd=y; t=n; p=reject", both, &record{p: Reject, pct: 100, psd: 'y'}, nil},
		// Issue: optional tags with syntax errors take their defaults.
		{"v=DMARC1; p=reject; adkim=bob; aspf=bob; ri=bob; pct=500", both, &record{p: Reject, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; pct=x; fo=2; t=maybe; psd=perhaps; rf=iodef", both, &record{p: Reject, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; fo=0:1", both, &record{p: Reject, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=none; bogus", both, &record{p: None, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=none; =x;;", both, &record{p: None, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; p=none", both, &record{p: Reject, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; adkim=bob; adkim=s", both, &record{p: Reject, adkimStrict: true, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; np=bogus", only7489, &record{p: Reject, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; np=bogus", only9989, nil, errNoPolicy},
		{"v=DMARC1; rua=mailto:a@b.example", only9989, &record{p: None, pMissing: true, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; rua=mailto:a@b.example", only7489, &record{p: None, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; pct=50", only9989, &record{p: None, pMissing: true, pct: 50, psd: 'u'}, nil},
		{"v=DMARC1; pct=50", only7489, nil, errNoPolicy},
		{"v=DMARC1; p=bogus; rua=mailto:a@b.example!10m", both, &record{p: None, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; sp=bogus; rua=https://r.example/dmarc", both, &record{p: None, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=reject; sp=bogus; rua=not a uri, mailto:a@b.example", both, &record{p: None, pct: 100, psd: 'u'}, nil},
		{"v=DMARC1; p=bogus", both, nil, errNoPolicy},
		{"v=DMARC1; p=reject; sp=bogus", both, nil, errNoPolicy},
		{"v=DMARC1; p=bogus; rua=nouri", both, nil, errNoPolicy},
		{"v=DMARC1; p=bogus; rua=", both, nil, errNoPolicy},
	} {
		for _, rfc7489 := range []bool{false, true} {
			if c.mode == only9989 && rfc7489 || c.mode == only7489 && !rfc7489 {
				continue
			}
			got, err := parseRecord(c.txt, rfc7489)
			if c.err != nil {
				if err != c.err {
					t.Errorf("parseRecord(%q, %v) = %+v, %v; want %v", c.txt, rfc7489, got, err, c.err)
				}
				continue
			}
			if err != nil || *got != *c.want {
				t.Errorf("parseRecord(%q, %v) = %+v, %v; want %+v", c.txt, rfc7489, got, err, c.want)
			}
		}
	}
}

func TestIsDMARC(t *testing.T) {
	for txt, want := range map[string]bool{
		"v=DMARC1; p=none": true, "v=DMARC1": true, " V = DMARC1 ;p=none": true,
		"v=dmarc1; p=none": false, "v=DMARC10; p=none": false, "v=DMARC1 p=none": false,
		"p=none; v=DMARC1": false, "v=spf1 -all": false, "": false,
	} {
		if got := isDMARC(txt); got != want {
			t.Errorf("isDMARC(%q) = %v, want %v", txt, got, want)
		}
	}
}
