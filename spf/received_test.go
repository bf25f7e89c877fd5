package spf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

func TestReceivedSPF(t *testing.T) {
	r := newZone(t)
	ctx := context.Background()
	tests := []struct {
		res             verdict.Result
		ip              netip.Addr
		helo, from, rcv string
		want            string
	}{
		{
			Check(ctx, r, inside, "mx.example.org", "joe@example.org"), inside, "mx.example.org", "joe@example.org", "mybox.example.net",
			`pass (mybox.example.net: domain of example.org designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1; receiver=mybox.example.net; identity=mailfrom; envelope-from="joe@example.org"; helo=mx.example.org`,
		},
		{
			Check(ctx, r, outside, "helo.example.org", ""), outside, "helo.example.org", "", "",
			`fail (unknown: domain of helo.example.org does not designate 203.0.113.9 as permitted sender) client-ip=203.0.113.9; receiver=unknown; identity=mailfrom; helo=helo.example.org`,
		},
		{
			CheckHelo(ctx, r, netip.MustParseAddr("2001:db8::1"), "helo.example.org"), netip.MustParseAddr("2001:db8::1"), "helo.example.org", "", "mx",
			`fail (mx: domain of helo.example.org does not designate 2001:db8::1 as permitted sender) client-ip="2001:db8::1"; receiver=mx; identity=helo; helo=helo.example.org`,
		},
		{
			Check(ctx, r, inside, "mx.example.org", "a@broken.example.org"), inside, "mx.example.org", "a@broken.example.org", "mx",
			`permerror (mx: permanent error in the SPF record of broken.example.org) client-ip=192.0.2.1; receiver=mx; identity=mailfrom; envelope-from="a@broken.example.org"; helo=mx.example.org; problem="spf: record syntax error: bogus: unknown mechanism"`,
		},
	}
	for _, tt := range tests {
		if got := ReceivedSPF(tt.res, tt.ip, tt.helo, tt.from, tt.rcv); got != tt.want {
			t.Errorf("got\n%s\nwant\n%s", got, tt.want)
		}
	}
}

// Client input cannot end the field, the quoted string or the pair, nor
// put a key before ours.
func TestReceivedSPFHostile(t *testing.T) {
	res := verdict.Result{Check: Name, Status: verdict.PermError, Domain: "x(y).example",
		Err:  errors.New("bad\r\nX-Injected: yes"),
		Auth: []authres.Result{&authres.SPFResult{From: "x"}}}
	helo := "evil\r\nX-Injected: yes; identity=helo; client-ip=1.2.3.4 \"quoted\\\""
	from := "a\"b\\c;d=e\x00f@example.org"
	got := ReceivedSPF(res, inside, helo, from, "mx (ours)")
	if strings.ContainsAny(got, "\r\n\x00\\") {
		t.Errorf("control bytes or backslashes: %q", got)
	}
	if strings.Count(got, `"`)%2 != 0 {
		t.Errorf("unbalanced quotes: %q", got)
	}
	for _, key := range []string{"identity=", "client-ip="} {
		if i := strings.Index(got, key); i < 0 || i > strings.Index(got, "helo=") {
			t.Errorf("%s is not ours first: %q", key, got)
		}
	}
	// Outside quoted strings, the only semicolons are ours.
	in, pairs := false, 0
	for _, c := range got {
		switch {
		case c == '"':
			in = !in
		case c == ';' && !in:
			pairs++
		case c == ';':
			t.Errorf("semicolon in a quoted string: %q", got)
		}
	}
	if pairs != 5 {
		t.Errorf("%d separators, want 5: %q", pairs, got)
	}
	if i := strings.IndexByte(got, ')'); strings.Count(got[:i+1], "(") != 1 {
		t.Errorf("comment nests: %q", got)
	}
	if len(got) > 998-len("Received-SPF: ") {
		t.Errorf("%d bytes", len(got))
	}
	long := strings.Repeat("x", 5000)
	if got := ReceivedSPF(res, inside, long, long+"@"+long, long); len(got) > 998-len("Received-SPF: ") {
		t.Errorf("long input: %d bytes", len(got))
	}
}
