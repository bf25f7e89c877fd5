package dnsname

import "testing"

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in, want string
		err      error
	}{
		{"Mail.Example.COM.", "mail.example.com", nil},
		{"mail_relay.example.com", "mail_relay.example.com", nil},
		{"bücher.example", "xn--bcher-kva.example", nil},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", nil},
		{"", "", ErrEmpty},
		{".", "", ErrEmpty},
		{"a..b", "", ErrLabel},
		{"example.com..", "", ErrLabel},
		{"-mx.example.com", "", ErrHyphen},
		{"mx-.example.com", "", ErrHyphen},
		{"1.2.3.4", "", ErrNumeric},
		{"a b.example", "", ErrChars},
		{"a\r\nb.example", "", ErrChars},
		{"[192.0.2.1]", "", ErrChars},
		{"x" + string(make([]byte, 0)) + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", "", ErrLabel},
	} {
		got, err := Normalize(c.in)
		if got != c.want || (c.err != nil && err != c.err) || (c.err == nil && err != nil) {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestIsSubdomain(t *testing.T) {
	for _, c := range []struct {
		name, parent string
		want         bool
	}{
		{"example.org", "example.org", true},
		{"mx.example.org", "example.org", true},
		{"evilexample.org", "example.org", false},
		{"example.org", "mx.example.org", false},
	} {
		if got := IsSubdomain(c.name, c.parent); got != c.want {
			t.Errorf("IsSubdomain(%q, %q) = %v", c.name, c.parent, got)
		}
	}
}
