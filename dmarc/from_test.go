package dmarc

import (
	"errors"
	"io"
	"strings"
	"testing"
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

	long := "From: a@example.com\r\nX: " + strings.Repeat("x", maxHeader) + "\r\n\r\n"
	if _, err := From(strings.NewReader(long)); err != ErrHeaderTooLong {
		t.Errorf("long header: err %v, want ErrHeaderTooLong", err)
	}
	endless := "From: a@example.com\r\nX: " + strings.Repeat("x", 2*maxHeader)
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

func TestParseRecord(t *testing.T) {
	for _, c := range []struct {
		txt  string
		want *record
		err  error
	}{
		{"v=DMARC1; p=reject", &record{p: PolicyReject, pct: 100}, nil},
		{"v=DMARC1;p=quarantine;sp=none;np=reject;adkim=s;aspf=s;pct=20;rua=mailto:a@b.example;fo=1;rf=afrf;ri=3600",
			&record{p: PolicyQuarantine, sp: PolicyNone, np: PolicyReject, adkimStrict: true, aspfStrict: true, pct: 20}, nil},
		{" v = DMARC1 ;\tP=Reject; SP = Quarantine; ADKIM=S; ", &record{p: PolicyReject, sp: PolicyQuarantine, adkimStrict: true, pct: 100}, nil},
		{"v=DMARC1; p=none; unknown=tag; t=y; psd=n", &record{p: PolicyNone, pct: 100}, nil},
		{"v=DMARC1; p=reject; np=bogus", &record{p: PolicyReject, pct: 100}, nil},
		{"v=DMARC1; rua=mailto:a@b.example", &record{p: PolicyNone, pct: 100}, nil},
		{"v=DMARC1; p=bogus; rua=mailto:a@b.example!10m", &record{p: PolicyNone, pct: 100}, nil},
		{"v=DMARC1; p=reject; sp=bogus; rua=https://r.example/dmarc", &record{p: PolicyNone, pct: 100}, nil},
		{"v=DMARC1; p=reject; sp=bogus; rua=not a uri, mailto:a@b.example", &record{p: PolicyNone, pct: 100}, nil},
		{"v=DMARC1; pct=50", nil, errNoPolicy},
		{"v=DMARC1; p=bogus", nil, errNoPolicy},
		{"v=DMARC1; p=reject; sp=bogus", nil, errNoPolicy},
		{"v=DMARC1; p=bogus; rua=nouri", nil, errNoPolicy},
		{"v=DMARC1; p=bogus; rua=", nil, errNoPolicy},
		{"v=DMARC1; p=none; bogus", nil, errSyntax},
		{"v=DMARC1; p=none; p=reject", nil, errSyntax},
		{"v=DMARC1; p=none; =x", nil, errSyntax},
		{"p=none; v=DMARC1", nil, errVersion},
		{"v=DMARC2; p=none", nil, errVersion},
		{"", nil, errVersion},
	} {
		got, err := parseRecord(c.txt)
		if c.err != nil {
			if err != c.err {
				t.Errorf("parseRecord(%q) = %+v, %v; want %v", c.txt, got, err, c.err)
			}
			continue
		}
		if err != nil || *got != *c.want {
			t.Errorf("parseRecord(%q) = %+v, %v; want %+v", c.txt, got, err, c.want)
		}
	}
	// Errors of go-msgauth's parser make the record unusable.
	for _, txt := range []string{
		"v=DMARC1; p=none; pct=101", "v=DMARC1; p=none; pct=-1", "v=DMARC1; p=none; pct=x",
		"v=DMARC1; p=none; adkim=x", "v=DMARC1; p=none; aspf=", "v=DMARC1; p=none; fo=2",
		"v=DMARC1; p=none; rf=iodef", "v=DMARC1; p=none; ri=0",
	} {
		if got, err := parseRecord(txt); err == nil {
			t.Errorf("parseRecord(%q) = %+v, want an error", txt, got)
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
