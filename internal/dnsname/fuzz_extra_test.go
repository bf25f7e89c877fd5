package dnsname

import (
	"strings"
	"testing"
)

// FuzzNormalize checks Normalize's promises on any input: a name it
// accepts is lower-case LDH (and underscore) labels of 1 to 63 octets, at
// most 253 octets, no trailing dot, no label starting or ending with a
// hyphen, not all-numeric at the end; Normalize is idempotent on it,
// ignores ASCII case and one trailing dot; and IsSubdomain holds for the
// name and each of its parents, and not for a name that merely ends with
// the same text.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"Mail.Example.COM.", "mail_relay.example.com", "bücher.example", "xn--bcher-kva.example",
		"", ".", "a..b", "-mx.example.com", "1.2.3.4", "example。org", "EXAMPLE．ORG", "xn--", "a\x00b",
		strings.Repeat("a", 64) + ".example", strings.Repeat("a.", 127) + "a", "ß.example", "İ.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			if n != "" {
				t.Fatalf("Normalize(%q) = %q with error %v", s, n, err)
			}
			return
		}
		if n == "" || len(n) > 253 || strings.HasSuffix(n, ".") {
			t.Fatalf("Normalize(%q) = %q", s, n)
		}
		labels := strings.Split(n, ".")
		for _, l := range labels {
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("Normalize(%q) = %q: label %q", s, n, l)
			}
			for i := 0; i < len(l); i++ {
				c := l[i]
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
					t.Fatalf("Normalize(%q) = %q: byte %#x", s, n, c)
				}
			}
		}
		if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
			t.Fatalf("Normalize(%q) = %q: numeric last label", s, n)
		}
		if again, err := Normalize(n); err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, again, err)
		}
		if dotted, err := Normalize(n + "."); err != nil || dotted != n {
			t.Fatalf("Normalize(%q.) = %q, %v; want %q", n, dotted, err, n)
		}
		if up, err := Normalize(strings.ToUpper(n)); err != nil || up != n {
			t.Fatalf("Normalize(%q) = %q, %v; want %q", strings.ToUpper(n), up, err, n)
		}
		for i := range labels {
			parent := strings.Join(labels[i:], ".")
			if !IsSubdomain(n, parent) {
				t.Fatalf("IsSubdomain(%q, %q) = false", n, parent)
			}
		}
		if IsSubdomain("x"+n, n) {
			t.Fatalf("IsSubdomain(%q, %q) = true", "x"+n, n)
		}
	})
}
