package verdict_test

import (
	"bufio"
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

// readerLines rewrites msg with CRLF line ends, splitting lines where mail
// readers do: at CRLF, a bare LF and a bare CR.
func readerLines(msg []byte) []byte {
	s := strings.ReplaceAll(string(msg), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// readersAR returns the Authentication-Results values of msg as net/mail
// and go-message's textproto read them, after readerLines. An empty line
// is added at the end, so that a message without one is read whole.
func readersAR(msg []byte) (values []string) {
	b := append(readerLines(msg), "\r\n\r\n"...)
	if m, err := mail.ReadMessage(bytes.NewReader(b)); err == nil {
		values = append(values, m.Header["Authentication-Results"]...)
	}
	if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b))); err == nil {
		for f := h.FieldsByKey("Authentication-Results"); f.Next(); {
			values = append(values, f.Value())
		}
	}
	return values
}

// claimedByReaders counts the Authentication-Results fields of msg that
// net/mail or go-message's textproto, with go-msgauth's authres.Parse,
// read as id's (case and a trailing dot aside, as DNS names compare).
func claimedByReaders(msg []byte, id string) (n int, values []string) {
	for _, v := range readersAR(msg) {
		got, _, _ := authres.Parse(v)
		if got != "" && strings.EqualFold(strings.TrimRight(got, "."), id) {
			n++
			values = append(values, v)
		}
	}
	return n, values
}

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
		{` "mx.example.net`, true},                          // unterminated: removed all the same
		{" mx.example.net\v1; dkim=pass", true},             // go-msgauth splits at any Unicode space
		{" mx.example.net\u00a01; dkim=pass", true},         // NBSP
		{" mx.example.net\xa01; dkim=pass", true},           // a Latin-1 NBSP
		{"\v\f\u00a0\u200bmx.example.net; dkim=pass", true}, // before it, too
		{" mx.example.net\x00; dkim=pass", true},
		{" mx.example.net\u2003(c); dkim=pass", true},
		{" mx.example.net-x; dkim=pass", false},
		{" mx.example.net\u0301; dkim=pass", false}, // a combining mark makes another name
		{" mx.examplé.net; dkim=pass", false},
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
		{"bare CR", "X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass\r\nSubject: x\r\n" + body, "X-Foo: bar\rSubject: x\r\n" + body},
		{"bare CR ends the field", "Subject: x\r\nAuthentication-Results: mx.example.net; dkim=pass\rTo: y\r\n" + body, "Subject: x\r\nTo: y\r\n" + body},
		{"vertical tab", "Authentication-Results: mx.example.net\v1; dkim=pass\r\nSubject: x\r\n" + body, "Subject: x\r\n" + body},
		{"NBSP", "Authentication-Results: mx.example.net\u00a01; dkim=pass\r\nSubject: x\r\n" + body, "Subject: x\r\n" + body},
		{"leading continuation", " ; dkim=pass header.d=paypal.com\r\nSubject: x\r\n" + body, "Subject: x\r\n" + body},
		{"leading continuation, folded", "\t; dkim=pass\r\n more\r\nSubject: x\r\n" + body, "Subject: x\r\n" + body},
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
	f.Add([]byte("X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass\r\n\r\n"))
	f.Add([]byte("Authentication-Results: mx.example.net\v1; dkim=pass\r\n\r\n"))
	f.Add([]byte("Authentication-Results: mx.example.net\u00a01; dkim=pass\n\n"))
	f.Add([]byte(" ; dkim=pass header.d=paypal.com\r\nFrom: a@paypal.com\r\n\r\n"))
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
		// No mail reader finds a field in our name.
		if n, vs := claimedByReaders(out, "mx.example.net"); n > 0 {
			t.Fatalf("readers find %d fields of ours after removal: %q\nin %q", n, vs, out)
		}
		// With our field on top, readers find exactly ours, as written.
		const ours = " mx.example.net; spf=fail smtp.mailfrom=a@example.org"
		final := append([]byte("Authentication-Results:"+ours+"\r\n"), out...)
		if n, vs := claimedByReaders(final, "mx.example.net"); n > 0 {
			for _, v := range vs {
				if strings.TrimSpace(v) != strings.TrimSpace(ours) {
					t.Fatalf("readers find %q in our name, not what we wrote\nin %q", v, final)
				}
			}
		}
	})
}

// TestRemoveAuthenticationResultsReaders: what mail readers and go-msgauth
// read as a field of ours, once removal has run, is nothing, for the
// forms of issue 12 and their neighbours.
func TestRemoveAuthenticationResultsReaders(t *testing.T) {
	body := "\r\nbody\r\n"
	for _, forged := range []string{
		"Authentication-Results: mx.example.net; dkim=pass header.d=paypal.com\r\n",
		"Authentication-Results: mx.example.net\v1; dkim=pass\r\n",
		"Authentication-Results: mx.example.net\f1; dkim=pass\r\n",
		"Authentication-Results: mx.example.net\u00a01; dkim=pass\r\n",
		"Authentication-Results: mx.example.net\u20281; dkim=pass\r\n",
		"Authentication-Results: \u00a0mx.example.net; dkim=pass\r\n",
		"Authentication-Results: MX.EXAMPLE.NET.; dkim=pass\r\n",
		"X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass\r\n",
		"X-Foo: bar\nAuthentication-Results: mx.example.net; dkim=pass\r\n",
		"X-Foo: bar\r\rAuthentication-Results: mx.example.net; dkim=pass\r\n",
		"Authentication-Results :\r\n\tmx.example.net;\r dkim=pass\r\n",
	} {
		msg := []byte(forged + "Subject: x\r\n" + body)
		if n, _ := claimedByReaders(msg, "mx.example.net"); n == 0 && !strings.Contains(forged, "\r\r") {
			t.Errorf("%q: the readers of this test do not see the forgery", forged)
		}
		out := verdict.RemoveAuthenticationResults(msg, "mx.example.net")
		if n, vs := claimedByReaders(out, "mx.example.net"); n > 0 {
			t.Errorf("%q: readers still find %q", forged, vs)
		}
	}
	// A leading continuation would extend the field we put on top.
	msg := []byte(" ; dkim=pass header.d=paypal.com\r\nFrom: a@paypal.com\r\n" + body)
	out := append([]byte("Authentication-Results: mx.example.net; spf=fail\r\n"), verdict.RemoveAuthenticationResults(msg, "mx.example.net")...)
	for _, v := range readersAR(out) {
		if _, rs, _ := authres.Parse(v); len(rs) != 1 {
			t.Errorf("our field reads as %q", v)
		}
	}
}

// FuzzClaimsAuthservID: a header value that is said to claim our
// authserv-id names it, and the parser never panics on what clients send.
func FuzzClaimsAuthservID(f *testing.F) {
	f.Add(" mx.example.net; spf=pass")
	f.Add(` (c (nested)) "mx.exa\mple.net" 1; none`)
	f.Add(" (unterminated mx.example.net")
	f.Add("\r\n\tMX.EXAMPLE.NET.;dkim=pass")
	f.Add(" mx.example.net\v1; dkim=pass")
	f.Add("\u00a0mx.example.net\u00a01; dkim=pass")
	f.Fuzz(func(t *testing.T, value string) {
		if !verdict.ClaimsAuthservID(value, "mx.example.net") {
			// What go-msgauth reads as ours is ours.
			if id, _, _ := authres.Parse(value); strings.EqualFold(strings.TrimRight(id, "."), "mx.example.net") {
				t.Errorf("%q: go-msgauth reads the id %q, ClaimsAuthservID says not ours", value, id)
			}
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
