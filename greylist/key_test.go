package greylist

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSenderNormalisation(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "<>"},
		{"<>", "<>"},
		{"<User@Example.COM.>", "user@example.com"},
		{"<@relay.example,@b.example:User@Example.COM>", "user@example.com"}, // source route
		{`"a@b"@Example.COM`, `"a@b"@example.com`},
		{"list+bounce-123@lists.example", "list@lists.example"},
		{"bounce-123@x.example", "bounce-#@x.example"},
		{"bounce-123-456@x.example", "bounce-#-#@x.example"},
		{"user123@x.example", "user123@x.example"},
		{"123@x.example", "#@x.example"},
		{"a_1@x.example", "a_1@x.example"},
		{"prvs=0123abcdef=user@b.example", "user@b.example"},
		{"PRVS=0123ABCDEF=User@B.example", "user@b.example"},
		{"prvs=user=0123abcdef@b.example", "user@b.example"},
		{"prvs=tag=user@b.example", "user@b.example"},
		{"prvs=@b.example", "prvs=@b.example"},
		{"msprvs1=18123abcdef=bounces-4@b.example", "bounces-#@b.example"},
		{"btv1==0123abcdef==user@b.example", "user@b.example"},
		{"SRS0=HHH=TT=orig.example=alice@fwd.example", "srs0=#=#=orig.example=alice@fwd.example"},
		{"SRS0+hh=tt=orig.example=alice@fwd.example", "srs0=#=#=orig.example=alice@fwd.example"},
		{"SRS0=HHH=TT=orig.example=alice+tag@fwd.example", "srs0=#=#=orig.example=alice@fwd.example"},
		{"SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example", "srs1=#=fwd1.example==#=#=orig.example=alice@fwd2.example"},
		{"SRS0=broken@fwd.example", "srs0=broken@fwd.example"},
		{"SRS1=x@fwd.example", "srs1=x@fwd.example"},
		{"no-domain", "no-domain"},
		{"a@b@c.example", "a@b@c.example"},
		{"José@Exämple.example", "josé@exämple.example"},
	} {
		if got := string(appendSender(nil, c.in)); got != c.want {
			t.Errorf("appendSender(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRecipientNormalisation(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<User+Tag@Example.ORG.>", "user+tag@example.org"},
		{"postmaster", "postmaster"},
		{"", ""},
	} {
		if got := string(appendRecipient(nil, c.in)); got != c.want {
			t.Errorf("appendRecipient(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMakeKey(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	a := makeKey(ip, "a@b.example", "c@d.example", 24, 64)
	if a.Net != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("net %v", a.Net)
	}
	for _, c := range []struct {
		ip         string
		from, rcpt string
		same       bool
	}{
		{"192.0.2.200", "A@B.example", "C@D.example", true},
		{"192.0.3.1", "a@b.example", "c@d.example", false},
		{"192.0.2.1", "a@b.example", "c@e.example", false},
		{"192.0.2.1", "a@b.examplec", "@d.example", false}, // the separator counts
		{"::ffff:192.0.2.1", "a@b.example", "c@d.example", false},
	} {
		k := makeKey(netip.MustParseAddr(c.ip), c.from, c.rcpt, 24, 64)
		if (k == a) != c.same {
			t.Errorf("%v: same = %v", c, k == a)
		}
	}
	// Long addresses are hashed whole.
	long := strings.Repeat("x", 2000)
	if makeKey(ip, long+"1@b.example", "c@d.example", 24, 64) == makeKey(ip, long+"2@b.example", "c@d.example", 24, 64) {
		t.Error("long senders collide")
	}
}

// FuzzSender: normalisation never panics, ignores ASCII case, keeps no
// upper-case ASCII, and grows the address by a few bytes at most.
func FuzzSender(f *testing.F) {
	for _, s := range []string{
		"list+bounce-123@lists.example", "prvs=0123abcdef=user@b.example", "prvs=user=0123abcdef@b.example",
		"SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example", "btv1==x==y@z", "<>", "a@b@c",
		"SRS0+=@", "srs1===@",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendSender(nil, s)
		if up := appendSender(nil, asciiUpper(s)); string(up) != string(got) {
			t.Fatalf("%q: %q, upper-cased %q", s, got, up)
		}
		for _, c := range got {
			if 'A' <= c && c <= 'Z' {
				t.Fatalf("%q: %q keeps upper case", s, got)
			}
		}
		if len(got) > len(s)+8 {
			t.Fatalf("%q grew to %q", s, got)
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
