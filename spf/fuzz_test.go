package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

var recordSeeds = []string{
	"v=spf1 -all",
	"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx ptr -all",
	"v=spf1 include:_spf.example.com redirect=%{d2} exp=why.%{d}",
	"v=spf1 a:foo:bar/baz.example.com//64 mx:%{ir}.%{v}.%{d}/24",
	"v=spf1 exists:%{i}.%{l1r-}.user.%{d2} ?all moo=%{c}",
	"v=spf1 -all exp=%{r}.example.com",
	"v=spf1 a:%{p}.example.com exists:%{P2r+}.x.example",
	"V=SPF1 +ALL REDIRECT=x.example.com",
	"v=spf1 a/024 ip4:1.2.3.04 a:museum.",
	"v=spf1 %{d",
}

// FuzzParseRecord checks that parseRecord never panics, and that what it
// accepts the rest of the package can use: every domain-spec it keeps
// expands.
func FuzzParseRecord(f *testing.F) {
	for _, s := range recordSeeds {
		f.Add(s)
	}
	env := macroEnv{sender: "a@example.org", domain: "example.org", ip: netip.MustParseAddr("192.0.2.1"), helo: "h.example"}
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := parseRecord(txt)
		if err != nil {
			return
		}
		if len(txt) > 400 {
			return // long enough to pass maxExpansion
		}
		specs := append([]string{rec.redirect, rec.exp}, rec.includes...)
		for _, s := range specs {
			if s == "" {
				continue
			}
			if _, err := env.expand(s, false); err != nil {
				t.Errorf("%q: accepted domain-spec %q does not expand: %v", txt, s, err)
			}
		}
	})
}

// FuzzExpand checks the macro expander against the macro-string scanner
// (both read RFC 7208 §7.1) and bounds its output.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"%{d}", "%{ir}.%{v}._spf.%{d2}", "%{l1r-}", "%{S}%_%%%-", "%{c} %{r} %{t}", "%{d0}", "%", "%{x}", "a b", "%{L+=/}", "%{p}"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	env := macroEnv{sender: "j.o-e+x=y@sub.example.org", domain: "example.org", ip: netip.MustParseAddr("2001:db8::1"), helo: "h.example", receiver: "mx.example.net"}
	f.Fuzz(func(t *testing.T, s string, inExp bool) {
		out, err := env.expand(s, inExp)
		if errors.Is(err, errTooLong) {
			return
		}
		letters := domainLetters
		if inExp {
			letters = allLetters
		}
		_, scanErr := scanMacroString(s, letters, inExp)
		if (err == nil) != (scanErr == nil) && len(out) < maxExpansion {
			t.Errorf("%q (exp %v): expand says %v, scan says %v", s, inExp, err, scanErr)
		}
		if err != nil {
			return
		}
		if len(out) > maxExpansion {
			t.Errorf("%q: %d bytes", s, len(out))
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] > 0x7e {
				t.Errorf("%q: byte 0x%02x in %q", s, out[i], out)
			}
		}
	})
}

// FuzzReceivedSPF checks that client input cannot break the header field.
func FuzzReceivedSPF(f *testing.F) {
	f.Add("mx.example.org", "joe@example.org", "mybox.example.net", "")
	f.Add("evil\r\n; identity=helo", "a\"b\\c;d@x", "r(x)", "err\n")
	f.Add("", "", "", "x")
	f.Fuzz(func(t *testing.T, helo, from, receiver, problem string) {
		res := verdict.Result{Check: Name, Status: verdict.Fail, Domain: helo, Auth: []authres.Result{&authres.SPFResult{From: from}}}
		if problem != "" {
			res.Status, res.Err = verdict.PermError, errString(problem)
		}
		got := ReceivedSPF(res, netip.MustParseAddr("192.0.2.1"), helo, from, receiver)
		if len(got) > 998-len("Received-SPF: ") {
			t.Errorf("%d bytes", len(got))
		}
		in := false
		for i := 0; i < len(got); i++ {
			c := got[i]
			switch {
			case c < 0x20 || c > 0x7e || c == '\\':
				t.Fatalf("byte 0x%02x: %q", c, got)
			case c == '"':
				in = !in
			case c == ';' && in:
				t.Fatalf("semicolon in a quoted string: %q", got)
			}
		}
		if in {
			t.Fatalf("unterminated quoted string: %q", got)
		}
		end := strings.IndexByte(got, ')')
		if end < 0 || strings.Count(got[:end], "(") != 1 || strings.Count(got[:end], ")") != 0 {
			t.Fatalf("bad comment: %q", got)
		}
		if !strings.HasPrefix(got[end:], ") client-ip=192.0.2.1; receiver=") {
			t.Fatalf("keys out of order: %q", got)
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// FuzzCheck runs whole evaluations of fuzzed records and explanations
// through a resolver that answers every name: nothing panics, and the
// reason stays one bounded printable line.
func FuzzCheck(f *testing.F) {
	for _, s := range recordSeeds {
		f.Add(s, "%{i} is not allowed for %{d} (%{s})")
	}
	f.Add("v=spf1 include:%{d} -all exp=why.%{d}", "%{p} %{c} %{r} %{t} %{h}")
	f.Add("v=spf1 redirect=r.%{d}", "")
	f.Fuzz(func(t *testing.T, record, exp string) {
		r := fuzzResolver{record: record, exp: exp}
		for _, ip := range []string{"192.0.2.1", "2001:db8::1"} {
			res := Check(context.Background(), r, netip.MustParseAddr(ip), "mx.example.org", "joe@example.org")
			if len(res.Reason) > verdict.MaxReason || strings.ContainsAny(res.Reason, "\r\n\x00") {
				t.Errorf("reason %q", res.Reason)
			}
			if _, err := parseRecord(record); err != nil && isSPF(record) && res.Status != verdict.PermError {
				t.Errorf("%q is invalid (%v), status %v", record, err, res.Status)
			}
		}
	})
}

// fuzzResolver answers TXT queries under "why." with exp and all others
// with record, and every address query with 192.0.2.1.
type fuzzResolver struct{ record, exp string }

func (f fuzzResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if strings.HasPrefix(name, "why.") {
		return []string{f.exp}, nil
	}
	return []string{f.record}, nil
}

func (fuzzResolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return []*net.MX{{Host: "mx.example.org.", Pref: 10}}, nil
}

func (fuzzResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, 1})}, nil
}

func (fuzzResolver) LookupAddr(context.Context, string) ([]string, error) {
	return []string{"mx.example.org."}, nil
}
