package dkim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// rfc8463 is the Ed25519 example of RFC 8463 Appendix A, a seed that
// verifies.
const rfc8463 = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n" +
	" d=football.example.com; i=@football.example.com;\r\n" +
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n" +
	" subject : date : message-id : from : subject : date;\r\n" +
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n" +
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n" +
	"From: Joe SixPack <joe@football.example.com>\r\n" +
	"To: Suzie Q <suzie@shopping.example.net>\r\n" +
	"Subject: Is dinner ready?\r\n" +
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
	"\r\n" +
	"Hi.\r\n" +
	"\r\n" +
	"We lost the game.  Are you hungry yet?\r\n" +
	"\r\n" +
	"Joe.\r\n"

const rfc8463Zone = `brisbane._domainkey.football.example.com. TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
test._domainkey.football.example.com. TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
`

// FuzzCheck runs whole messages through Check: whatever the input, the
// result is well formed and bounded.
func FuzzCheck(f *testing.F) {
	f.Add(rfc8463)
	f.Add(strings.Replace(rfc8463, "lost", "won", 1))
	f.Add(strings.ReplaceAll(rfc8463, "\r\n", "\n"))
	f.Add(strings.Replace(rfc8463, "s=brisbane", "s=test", 1))
	f.Add(strings.Replace(rfc8463, "c=relaxed/relaxed", "c=simple/simple; l=3", 1))
	f.Add("DKIM-Signature: v=1; a=rsa-sha1; d=x; s=y; h=from; bh=; b=\r\n\r\n")
	f.Add("DKIM-Signature:\r\n")
	f.Add(" DKIM-Signature: v=1\r\nDKIM-Signature : v=1; d=a;;; s=b\r\n\r\n")
	r := resolvertest.MustNew(rfc8463Zone)
	f.Fuzz(func(t *testing.T, message string) {
		res := Check(context.Background(), r, strings.NewReader(message))
		if res.Check != Name || res.Status > verdict.PermError || res.Action != verdict.Accept {
			t.Fatalf("result %+v", res)
		}
		if res.Reason != verdict.Printable(res.Reason) {
			t.Fatalf("reason %q is not printable", res.Reason)
		}
		if len(res.Auth) > DefaultMaxSignatures {
			t.Fatalf("%d Auth entries", len(res.Auth))
		}
		if (res.Status == verdict.None) != (len(res.Auth) == 0) && res.Status != verdict.PermError && res.Status != verdict.TempError {
			t.Fatalf("status %v with %d Auth entries", res.Status, len(res.Auth))
		}
		for _, a := range res.Auth {
			d := a.(*authres.DKIMResult)
			if d.Reason != verdict.Printable(d.Reason) || !strings.HasPrefix(d.Reason, "s=") {
				t.Fatalf("Auth reason %q", d.Reason)
			}
		}
	})
}

// FuzzReadHeader checks that readHeader hands go-msgauth the header section
// as it stands in the input, ending in an empty line, leaves the rest
// unread, and finds the signatures go-msgauth verifies: as many as the
// Verifications go-msgauth returns for the same bytes.
func FuzzReadHeader(f *testing.F) {
	f.Add("A: b\r\n\r\nbody")
	f.Add("A: b\n c\n\nbody")
	f.Add("A: b")
	f.Add("")
	f.Add("\r\n")
	f.Add("A: b\r\r\n\r\n")
	f.Add(" DKIM-Signature: v=1\r\nDKIM-Signature : v=1; d=a;;; s=b\r\n\r\n")
	f.Add("DKIM-Signature\r\n : d=a\r\n\r\nbody")
	f.Add("DKIM-Signature: d=a\rDKIM-Signature: d=b\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		h, sigs, err := readHeader(br, 1<<10)
		switch err {
		case errHeaderTooLarge:
			if len(in) <= 1<<10 && strings.Count(in, "\n") < 1000 {
				t.Fatalf("errHeaderTooLarge for %d bytes", len(in))
			}
			return
		case errBareCR:
			if !strings.Contains(strings.ReplaceAll(in, "\r\n", ""), "\r") {
				t.Fatalf("errBareCR for %q", in)
			}
			return
		case nil:
		default:
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		consumed := in[:len(in)-len(rest)]
		fields := strings.TrimSuffix(string(h), "\r\n")
		if !strings.HasPrefix(consumed, fields) && !strings.HasPrefix(fields, consumed) || !strings.HasSuffix(string(h), "\n\r\n") && string(h) != "\r\n" {
			t.Fatalf("readHeader(%q) = %q with %q left", in, h, rest)
		}
		verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(h), &msgdkim.VerifyOptions{
			LookupTXT: func(string) ([]string, error) { return nil, errors.New("no key") },
		})
		if err != nil {
			t.Fatalf("go-msgauth could not read %q: %v", h, err)
		}
		if len(verifs) != len(sigs) {
			t.Fatalf("%d signatures in %q, go-msgauth verifies %d", len(sigs), h, len(verifs))
		}
	})
}

// FuzzParseTags checks that parseTags never panics and never returns a
// value with white space in it or a tag that is not a tag-name.
func FuzzParseTags(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; d=example.org; s=sel; h=From:To; bh=abc; b=def")
	f.Add(" d = exa\r\n mple.org ;\ts=sel;")
	f.Add("d=a; d=b")
	f.Add("=;=;")
	f.Fuzz(func(t *testing.T, in string) {
		tags, _ := parseTags(in)
		for k, v := range tags {
			if !isTagName(k) || strings.ContainsAny(v, " \t\r\n") {
				t.Fatalf("parseTags(%q): %q=%q", in, k, v)
			}
		}
	})
}
