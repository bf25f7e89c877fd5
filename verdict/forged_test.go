package verdict_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
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
		if got := verdict.ClaimsAuthservID(tc.value, "mx.example.net"); got != tc.want {
			t.Errorf("verdict.ClaimsAuthservID(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
	if verdict.ClaimsAuthservID(" ; none", "") || verdict.ClaimsAuthservID(" .; none", ".") {
		t.Errorf("an empty authserv-id claims an empty one")
	}
}

func TestRemoveAuthenticationResults(t *testing.T) {
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
			if got := string(verdict.RemoveAuthenticationResults([]byte(tc.in), "mx.example.net")); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// FuzzRemoveAuthenticationResults checks that no field claiming our authserv-id
// survives, that the body is never touched, and that nothing else is added.
func FuzzRemoveAuthenticationResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.net; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Authentication-Results: (c) \"mx.example.net\";\r\n dkim=pass\r\n\r\n"))
	f.Add([]byte("Subject: x\nAuthentication-Results: mx.example.net.\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := verdict.RemoveAuthenticationResults(msg, "mx.example.net")
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
		if again := verdict.RemoveAuthenticationResults(out, "mx.example.net"); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

// FuzzClaimsAuthservID: a header value that is said to claim our
// authserv-id names it, and the parser never panics on what clients send.
func FuzzClaimsAuthservID(f *testing.F) {
	f.Add(" mx.example.net; spf=pass")
	f.Add(` (c (nested)) "mx.exa\mple.net" 1; none`)
	f.Add(" (unterminated mx.example.net")
	f.Add("\r\n\tMX.EXAMPLE.NET.;dkim=pass")
	f.Fuzz(func(t *testing.T, value string) {
		if !verdict.ClaimsAuthservID(value, "mx.example.net") {
			return
		}
		v := strings.ToLower(strings.NewReplacer("\\", "", `"`, "", "\r", "", "\n", "").Replace(value))
		if !strings.Contains(v, "mx.example.net") {
			t.Errorf("%q claims mx.example.net without naming it", value)
		}
	})
}

func BenchmarkRemoveAuthenticationResults(b *testing.B) {
	msg := []byte("Received: from a by b; Mon, 30 Nov 2026 09:15:00 +0000\r\n" +
		"Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=ceo@example.net\r\n" +
		"Authentication-Results: relay.example.org; spf=pass\r\n" +
		"From: a@example.org\r\nSubject: hi\r\n\r\n" + strings.Repeat("body line\r\n", 200))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		verdict.RemoveAuthenticationResults(msg, "mx.example.net")
	}
}
