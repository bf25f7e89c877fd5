package verdict

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// FuzzPrintable checks Printable's promises: at most MaxReason bytes of
// printable ASCII, idempotent, and the identity on text that is already
// that.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "ok", "a\r\nb", "\x00\x7f\xff", "é☃", strings.Repeat("x", MaxReason), strings.Repeat("x", MaxReason+1), strings.Repeat("\n", 300) + "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if len(p) > MaxReason {
			t.Fatalf("Printable(%q): %d bytes", s, len(p))
		}
		for i := 0; i < len(p); i++ {
			if p[i] < 0x20 || p[i] > 0x7e {
				t.Fatalf("Printable(%q) = %q: byte %#x", s, p, p[i])
			}
		}
		if Printable(p) != p {
			t.Fatalf("Printable(%q) = %q, not a fixed point", s, p)
		}
		clean := len(s) <= MaxReason
		for i := 0; i < len(s) && clean; i++ {
			clean = s[i] >= 0x20 && s[i] <= 0x7e
		}
		if clean && p != s {
			t.Fatalf("Printable(%q) = %q, changed clean text", s, p)
		}
	})
}

// FuzzAuthenticationResults puts arbitrary text in every property of every
// kind of Auth entry, and in the authserv-id: the field value is one line
// of printable ASCII that go-msgauth parses back into exactly the entries
// given, in order, with their result words, under the cleaned
// authserv-id. go-msgauth's parser splits at every ';', even in a quoted
// string, as naive readers do, so this also shows that no client text
// keeps a ';'.
func FuzzAuthenticationResults(f *testing.F) {
	f.Add("mx.example.net", "mail.example.org", "alice@example.org", "example.org", "@example.org", "s=sel", "pass", "iprev")
	f.Add("mx\r\n.example", "evil\r\nX: y", "a;b=c; spf=pass", "\"q\\", "(c) d", ") x (", "bogus", "m e;t")
	f.Add("", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, id, helo, from, domain, ident, reason, value, method string) {
		v := authres.ResultValue(value)
		rs := []Result{
			{Check: "fcrdns", Auth: []authres.Result{&authres.IPRevResult{Value: v, Reason: reason, IP: helo}}},
			{Check: "spf", Auth: []authres.Result{&authres.SPFResult{Value: v, Reason: reason, From: from, Helo: helo}}},
			{Check: "dkim", Auth: []authres.Result{
				&authres.DKIMResult{Value: v, Reason: reason, Domain: domain, Identifier: ident},
				&authres.DKIMResult{Value: authres.ResultPass, Domain: ident, Identifier: domain},
			}},
			{Check: "dmarc", Auth: []authres.Result{&authres.DMARCResult{Value: v, Reason: reason, From: domain}}},
			{Check: "x", Auth: []authres.Result{
				&authres.AuthResult{Value: v, Reason: reason, Auth: from},
				&authres.GenericResult{Method: method, Value: v, Params: map[string]string{"smtp.x": helo, method: from}},
			}},
		}
		ar := Decision{Results: rs}.AuthenticationResults(id)
		for i := 0; i < len(ar); i++ {
			if ar[i] < 0x20 || ar[i] > 0x7e {
				t.Fatalf("byte %#x in %q", ar[i], ar)
			}
		}
		var want []authres.Result
		for _, r := range rs {
			for _, a := range r.Auth {
				if c := cleanAuth(a); c != nil {
					want = append(want, c)
				}
			}
		}
		gotID, got, err := authres.Parse(ar)
		if err != nil {
			t.Fatalf("%v:\n%s", err, ar)
		}
		wantID := token(id)
		if wantID == "" {
			wantID = "localhost"
		}
		if gotID != wantID {
			t.Fatalf("authserv-id %q, want %q:\n%s", gotID, wantID, ar)
		}
		if len(got) != len(want) {
			t.Fatalf("%d results parsed back, %d written:\n%s", len(got), len(want), ar)
		}
		for i := range got {
			gm, gv := methodValue(got[i])
			wm, wv := methodValue(want[i])
			if !strings.EqualFold(gm, wm) || gv != wv {
				t.Fatalf("result %d parsed back as %s=%s, written %s=%s:\n%s", i, gm, gv, wm, wv, ar)
			}
		}
	})
}

func methodValue(r authres.Result) (string, authres.ResultValue) {
	switch r := r.(type) {
	case *authres.SPFResult:
		return "spf", r.Value
	case *authres.DKIMResult:
		return "dkim", r.Value
	case *authres.DMARCResult:
		return "dmarc", r.Value
	case *authres.IPRevResult:
		return "iprev", r.Value
	case *authres.AuthResult:
		return "auth", r.Value
	case *authres.GenericResult:
		return r.Method, r.Value
	}
	return "?", ""
}
