package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestClaimsAuthservID(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{" mx.example.net; spf=pass", true},
		{" MX.Example.NET.; spf=pass", true},               // case and trailing dot
		{" mx.example.net 1; spf=pass", true},              // version
		{"mx.example.net;none", true},                      // no space
		{" (comment (nested)) mx.example.net; none", true}, // CFWS first
		{"\r\n\tmx.example.net;\r\n\tdkim=pass", true},     // folded
		{` "mx.example.net"; none`, true},                  // quoted-string
		{` "mx.exa\mple.net"; none`, true},                 // quoted pair
		{" mx.example.net(c); none", true},
		{" mx.example.net.evil; spf=pass", false},
		{" evil-mx.example.net; spf=pass", false},
		{" example.net; spf=pass", false},
		{" relay.example.org; spf=pass mx.example.net", false},
		{" (mx.example.net) relay.example.org; none", false},
		{" (unterminated mx.example.net; none", false},
		{` "mx.example.net`, false},
		{"", false},
		{" ; spf=pass", false},
	} {
		if got := claimsAuthservID(tc.value, "mx.example.net"); got != tc.want {
			t.Errorf("claimsAuthservID(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
	if claimsAuthservID(" ; none", "") || claimsAuthservID(" .; none", ".") {
		t.Errorf("an empty authserv-id claims an empty one")
	}
}

func TestStripAuthResults(t *testing.T) {
	const body = "\r\nAuthentication-Results: mx.example.net; body text stays\r\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"none", "Subject: x\r\n" + body, "Subject: x\r\n" + body},
		{"ours removed", "Authentication-Results: mx.example.net; spf=pass\r\nSubject: x\r\n" + body, "Subject: x\r\n" + body},
		{"folded removed", "Subject: x\r\nauthentication-results :\r\n mx.example.net;\r\n\tdkim=pass\r\nTo: y\r\n" + body, "Subject: x\r\nTo: y\r\n" + body},
		{"others kept", "Authentication-Results: relay.example.org; spf=pass\r\n" + body, "Authentication-Results: relay.example.org; spf=pass\r\n" + body},
		{"several", "Authentication-Results: mx.example.net; a\r\nAuthentication-Results: b.example; b\r\nAuthentication-Results: mx.example.net; c\r\n" + body, "Authentication-Results: b.example; b\r\n" + body},
		{"LF only", "Authentication-Results: mx.example.net; spf=pass\nSubject: x\n\nbody\n", "Subject: x\n\nbody\n"},
		{"no body", "Authentication-Results: mx.example.net; spf=pass\r\nSubject: x\r\n", "Subject: x\r\n"},
		{"no final newline", "Subject: x\r\nAuthentication-Results: mx.example.net; spf=pass", "Subject: x\r\n"},
		{"similar name kept", "Authentication-Results-Original: mx.example.net; x\r\n" + body, "Authentication-Results-Original: mx.example.net; x\r\n" + body},
		{"empty", "", ""},
		{"body only", body, body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(stripAuthResults([]byte(tc.in), "mx.example.net")); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestFold(t *testing.T) {
	long := "Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=alice@example.org; dkim=pass header.d=example.org header.s=mail2026; dmarc=pass header.from=example.org"
	got := fold(long)
	for _, line := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78: %q", line)
		}
	}
	if unfolded := strings.ReplaceAll(strings.ReplaceAll(got, ";\r\n\t", "; "), "\r\n", ""); unfolded != long {
		t.Errorf("fold changed the content:\n%q\n%q", unfolded, long)
	}
	if got := fold("X: a"); got != "X: a\r\n" {
		t.Errorf("fold short = %q", got)
	}
}

func TestHeaderSafe(t *testing.T) {
	if got := headerSafe("evil\r\nX-Injected: 1 (a) <b>;c\\"); got != "evilX-Injected:1abc" {
		t.Errorf("headerSafe = %q", got)
	}
}

// FuzzStripAuthResults checks that no field claiming our authserv-id
// survives, that the body is never touched, and that nothing else is added.
func FuzzStripAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.net; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Authentication-Results: (c) \"mx.example.net\";\r\n dkim=pass\r\n\r\n"))
	f.Add([]byte("Subject: x\nAuthentication-Results: mx.example.net.\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := stripAuthResults(msg, "mx.example.net")
		if len(out) > len(msg) {
			t.Fatalf("output longer than input")
		}
		// What is left is the input with whole fields cut out, so the
		// result is a subsequence and its body is the input's body.
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 && !bytes.Contains(msg[:i], []byte("\n\n")) {
			if !bytes.HasSuffix(out, msg[i+2:]) {
				t.Fatalf("body changed")
			}
		}
		// A second pass finds nothing more to remove.
		if again := stripAuthResults(out, "mx.example.net"); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

func BenchmarkStripAuthResults(b *testing.B) {
	msg := []byte("Received: from a by b; Mon, 30 Nov 2026 09:15:00 +0000\r\n" +
		"Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=ceo@example.net\r\n" +
		"Authentication-Results: relay.example.org; spf=pass\r\n" +
		cleanMessage + strings.Repeat("body line\r\n", 200))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		stripAuthResults(msg, "mx.example.net")
	}
}
