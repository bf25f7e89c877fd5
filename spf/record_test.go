package spf

import (
	"errors"
	"slices"
	"testing"
)

func TestParseRecord(t *testing.T) {
	valid := []string{
		"v=spf1",
		"V=SPF1 -ALL",
		"v=spf1 ",
		"v=spf1  a   -all  ",
		"v=spf1 +all", "v=spf1 -all", "v=spf1 ~all", "v=spf1 ?all",
		"v=spf1 a a/24 a//64 a/24//64 a:example.com a:example.com/24//64 a:%{d} a:%{ir}.%{v}.example.com",
		"v=spf1 mx mx/0 mx:mail.example.com. mx:example.com//128",
		"v=spf1 ptr ptr:example.com",
		"v=spf1 ip4:192.0.2.0/24 ip4:192.0.2.1 ip4:0.0.0.0/0 ip4:192.0.2.1/32",
		"v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:192.0.2.1 ip6:2001:db8::1/128",
		"v=spf1 include:_spf.example.com exists:%{i}.%{l1r-}.user.%{d2}",
		"v=spf1 redirect=_spf.example.com",
		"v=spf1 exp=explain._spf.%{d} -all",
		"v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all", // unknown modifier
		"v=spf1 foo=%{c}%{r}%{t}",                               // any letter in unknown modifiers
		"v=spf1 a:foo:bar/baz.example.com",                      // "/" may be part of a domain-spec
		"v=spf1 a:foo.xn--zckzah a:foo.example.1a a:foo.12-34",  // top labels
		"v=spf1 exists:%%%_%-.example.com exists:%{d}",
		"v=spf1 a:example.com.",
	}
	for _, rec := range valid {
		if _, err := parseRecord(rec); err != nil {
			t.Errorf("%q: %v", rec, err)
		}
	}
	invalid := []string{
		"v=spf10",
		"v=spf1 -all moo",             // unknown mechanism, after a match
		"v=spf1 \x80a:example.net",    // 7-bit ASCII only
		"v=spf1 a:ex\xc3\xa4mple.com", // likewise
		"v=spf1 a:example.com\r-all",  // SP is the only separator
		"v=spf1 a\t-all",
		"v=spf1 all/8", "v=spf1 all:x", "v=spf1 -all.",
		"v=spf1 include", "v=spf1 include:", "v=spf1 exists", "v=spf1 exists:",
		"v=spf1 a:", "v=spf1 mx:", "v=spf1 a:/24",
		"v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/024", "v=spf1 a/-1", "v=spf1 a/", "v=spf1 a//",
		"v=spf1 ptr/0",
		"v=spf1 ip4", "v=spf1 ip4:", "v=spf1 ip4:192.0.2.1/33", "v=spf1 ip4:192.0.2.01",
		"v=spf1 ip4:192.0.2.1/032", "v=spf1 ip4:2001:db8::1", "v=spf1 ip4:192.0.2",
		"v=spf1 ip6:192.0.2.1", "v=spf1 ip6:2001:db8::/129", "v=spf1 ip6:fe80::1%eth0", "v=spf1 ip6",
		"v=spf1 a:foo-bar", "v=spf1 a:museum", "v=spf1 a:museum.", // no top label after a dot
		"v=spf1 a:111.222.33.44", "v=spf1 a:abc.123", // numeric top label
		"v=spf1 a:example.-com", "v=spf1 a:example.com-",
		"v=spf1 a:example.com:8080",
		"v=spf1 a:%{d}.",
		"v=spf1 include:ip5.example.com/24",
		"v=spf1 redirect=",
		"v=spf1 exp=",
		"v=spf1 redirect=a.example.com redirect=b.example.com",
		"v=spf1 exp=a.example.com EXP=b.example.com",
		"v=spf1 exp=%{r}.example.com", // c, r and t only in explanations
		"v=spf1 a:%{c}.example.com", "v=spf1 exists:%{t}.example.com",
		"v=spf1 a:%{x}.example.com", "v=spf1 a:%{d0}.example.com", "v=spf1 a:%{d}%.example.com",
		"v=spf1 a:%{d.example.com", "v=spf1 a:%(ir).example.com", "v=spf1 a:%{dx}.example.com",
		"v=spf1 redirect:example.com", // a modifier with ':' is an unknown mechanism
		"v=spf1 1up=foo",              // modifier names start with a letter
		"v=spf1 foo=%",                // unknown modifiers must still be macro-strings
		"v=spf1 =foo",
	}
	for _, rec := range invalid {
		if _, err := parseRecord(rec); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err %v, want a syntax error", rec, err)
		}
	}
}

func TestParseRecordParts(t *testing.T) {
	rec, err := parseRecord("v=spf1 include:a.example.com a INCLUDE:%{d2} Exp=why.%{d} redirect=r.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.includes, []string{"a.example.com", "%{d2}"}) || rec.exp != "why.%{d}" || rec.redirect != "r.example.com" {
		t.Errorf("%+v", rec)
	}
}

func TestIsSPF(t *testing.T) {
	for s, want := range map[string]bool{
		"v=spf1": true, "v=spf1 -all": true, "V=SpF1 a": true,
		"v=spf10": false, "v=spf1-all": false, "spf1": false, "": false, " v=spf1": false,
	} {
		if isSPF(s) != want {
			t.Errorf("isSPF(%q) = %v", s, !want)
		}
	}
}
