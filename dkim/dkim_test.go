//go:debug rsa1024min=0

// The directive above lets the tests generate and sign with a 512-bit RSA
// key, to show that verification refuses it (RFC 8301 §3.2).

package dkim

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

const testdata = "../../shared/testdata/dkim"

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("shared DKIM test data not found at %s: %v", testdata, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTestdata verifies every message of ../../shared/testdata/dkim
// against the result CASES.md gives for it.
func TestTestdata(t *testing.T) {
	type sig struct {
		domain, selector string
		value            authres.ResultValue
		detail           string // in the authres reason
	}
	fb := "football.example.com"
	cases := []struct {
		eml, zone string
		status    verdict.Status
		sigs      []sig
	}{
		{"rfc8463-example.eml", "rfc8463-example.zone", verdict.Pass, []sig{
			{fb, "brisbane", authres.ResultPass, ""},
			{fb, "test", authres.ResultPass, ""},
		}},
		{"rfc8463-example-tampered-body.eml", "rfc8463-example.zone", verdict.Fail, []sig{
			{fb, "brisbane", authres.ResultFail, "body hash did not verify"},
			{fb, "test", authres.ResultFail, "body hash did not verify"},
		}},
		{"rfc6376-example.eml", "rfc6376-example.zone", verdict.Pass, []sig{
			{"example.com", "brisbane", authres.ResultPass, ""},
		}},
		{"dkimpy-rfc8463-draft-simple.eml", "dkimpy-rfc8463-draft-simple.zone", verdict.Pass, []sig{
			{fb, "brisbane", authres.ResultPass, ""},
			{fb, "test", authres.ResultPass, ""},
		}},
		{"dkimpy-exim-ed25519.eml", "dkimpy-exim-ed25519.zone", verdict.Pass, []sig{
			{"test.ex", "sed", authres.ResultPass, ""},
		}},
		{"mox-ueber.net-rsa.eml", "mox-ueber.net-rsa.zone", verdict.Pass, []sig{
			{"ueber.net", "koriander", authres.ResultPass, ""},
		}},
	}

	// Every message CASES.md lists must be covered here.
	listed := regexp.MustCompile(`(?m)^\| ([^ |]+\.eml) \| ([^ |]+\.zone) \|`).FindAllStringSubmatch(readTestdata(t, "CASES.md"), -1)
	if len(listed) == 0 {
		t.Fatal("no cases found in CASES.md")
	}
	for _, m := range listed {
		found := false
		for _, c := range cases {
			found = found || c.eml == m[1] && c.zone == m[2]
		}
		if !found {
			t.Errorf("CASES.md lists %s with %s, which this test does not check", m[1], m[2])
		}
	}

	for _, c := range cases {
		t.Run(c.eml, func(t *testing.T) {
			r, err := resolvertest.New(readTestdata(t, c.zone))
			if err != nil {
				t.Fatal(err)
			}
			res := Check(context.Background(), r, strings.NewReader(readTestdata(t, c.eml)))
			if res.Check != Name || res.Status != c.status {
				t.Errorf("Check, Status = %q, %v, want dkim, %v (%s)", res.Check, res.Status, c.status, res.Reason)
			}
			if len(res.Auth) != len(c.sigs) {
				t.Fatalf("%d Auth entries, want %d: %s", len(res.Auth), len(c.sigs), res.Reason)
			}
			for i, want := range c.sigs {
				got := res.Auth[i].(*authres.DKIMResult)
				if got.Domain != want.domain || got.Value != want.value || !strings.HasPrefix(got.Reason, "s="+want.selector) || !strings.Contains(got.Reason, want.detail) {
					t.Errorf("signature %d: %+v, want d=%s s=%s %s %q", i, got, want.domain, want.selector, want.value, want.detail)
				}
			}
		})
	}
}

// keys generates each test key once: RSA generation is slow.
var keys = sync.OnceValue(func() map[string]crypto.Signer {
	m := map[string]crypto.Signer{}
	for name, bits := range map[string]int{"rsa2048": 2048, "rsa1024": 1024, "rsa512": 512} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		m[name] = k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	m["ed25519"] = ed
	return m
})

// keyRecord returns zone text publishing k's public key at
// selector._domainkey.domain, split into character-strings of at most 200
// bytes (RFC 1035 §3.3.14 allows 255).
func keyRecord(t testing.TB, selector, domain string, k crypto.Signer) string {
	t.Helper()
	var txt string
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		txt = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		txt = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	return txtRecord(selector+"._domainkey."+domain+".", txt)
}

func txtRecord(name, txt string) string {
	var b strings.Builder
	b.WriteString(name + " TXT")
	for len(txt) > 0 {
		n := min(len(txt), 200)
		b.WriteString(` "` + txt[:n] + `"`)
		txt = txt[n:]
	}
	return b.String() + "\n"
}

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: lunch\r\n" +
	"Date: Sat, 21 Nov 2026 12:00:00 +0000\r\n" +
	"Message-ID: <lunch@example.org>\r\n" +
	"\r\n" +
	"Noon at the usual place?\r\n" +
	"\r\n" +
	"Alice\r\n"

// sign returns message with a DKIM-Signature field added on top, made with
// o (Domain, Selector and Signer needed).
func sign(t testing.TB, message string, o *msgdkim.SignOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := msgdkim.Sign(&b, strings.NewReader(message), o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// editSignature applies edit to the value of the topmost DKIM-Signature
// field, to make signatures go-msgauth's signer will not make.
func editSignature(t testing.TB, message string, edit func(string) string) string {
	t.Helper()
	const name = "DKIM-Signature:"
	if !strings.HasPrefix(message, name) {
		t.Fatal("message does not start with a signature")
	}
	end := strings.Index(message, "\r\n"+testMessage[:5]) // the signature ends before "From:"
	if end < 0 {
		t.Fatal("signature end not found")
	}
	return name + edit(message[len(name):end]) + message[end:]
}

func TestSigned(t *testing.T) {
	k := keys()
	zone := keyRecord(t, "big", "example.org", k["rsa2048"]) +
		keyRecord(t, "ed", "example.org", k["ed25519"]) +
		keyRecord(t, "old", "example.org", k["rsa1024"]) +
		keyRecord(t, "tiny", "example.org", k["rsa512"]) +
		txtRecord("revoked._domainkey.example.org.", "v=DKIM1; k=rsa; p=") +
		txtRecord("garbled._domainkey.example.org.", "v=DKIM1; k=rsa; p=bm90IGEga2V5") +
		keyRecord(t, "twice", "example.org", k["ed25519"]) +
		keyRecord(t, "twice", "example.org", k["rsa1024"]) +
		txtRecord("web._domainkey.example.org.", "v=DKIM1; k=ed25519; s=web; p="+base64.StdEncoding.EncodeToString(k["ed25519"].Public().(ed25519.PublicKey))) +
		keyRecord(t, "ed", "sub.example.org", k["ed25519"])
	r := resolvertest.MustNew(zone)

	opts := func(sel string, key crypto.Signer) *msgdkim.SignOptions {
		return &msgdkim.SignOptions{Domain: "example.org", Selector: sel, Signer: key,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed, BodyCanonicalization: msgdkim.CanonicalizationRelaxed}
	}
	signed := func(sel string, key crypto.Signer) string { return sign(t, testMessage, opts(sel, key)) }

	cases := []struct {
		name    string
		message string
		status  verdict.Status
		value   authres.ResultValue
		detail  string // in the reason
	}{
		{"rsa-2048", signed("big", k["rsa2048"]), verdict.Pass, authres.ResultPass, "s=big"},
		{"ed25519", signed("ed", k["ed25519"]), verdict.Pass, authres.ResultPass, "s=ed"},
		{"rsa-1024 is still accepted", signed("old", k["rsa1024"]), verdict.Pass, authres.ResultPass, "s=old"},
		{"simple canonicalization", sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]}), verdict.Pass, authres.ResultPass, "s=ed"},
		{"i= below d=", sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"], Identifier: "alice@mail.example.org"}), verdict.Pass, authres.ResultPass, "s=ed"},
		{"LF line endings", strings.ReplaceAll(signed("ed", k["ed25519"]), "\r\n", "\n"), verdict.Pass, authres.ResultPass, "s=ed"},
		{"key with service type email", signed("web", k["ed25519"]), verdict.PermError, authres.ResultPermError, "inappropriate service"},
		{"rsa-512 fails", signed("tiny", k["rsa512"]), verdict.Fail, authres.ResultFail, "RSA key shorter than 1024 bits"},
		{"rsa-sha1 fails", editSignature(t, signed("big", k["rsa2048"]), func(s string) string {
			return strings.Replace(s, "a=rsa-sha256", "a=rsa-sha1", 1)
		}), verdict.Fail, authres.ResultFail, "rsa-sha1 not accepted"},
		{"l= refused", editSignature(t, signed("ed", k["ed25519"]), func(s string) string {
			return strings.Replace(s, " s=ed;", " s=ed; l=10;", 1)
		}), verdict.Fail, authres.ResultFail, "l= body length tag not accepted"},
		{"x= expired", sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"],
			Expiration: time.Now().Add(-time.Hour)}), verdict.Fail, authres.ResultFail, "signature expired"},
		{"x= in the future", sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"],
			Expiration: time.Now().Add(time.Hour)}), verdict.Pass, authres.ResultPass, "s=ed"},
		{"From not signed fails", editSignature(t, sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"],
			HeaderKeys: []string{"From", "To", "Subject"}}), func(s string) string {
			return regexp.MustCompile(`h=[^;]*;`).ReplaceAllString(s, "h=To:Subject;")
		}), verdict.Fail, authres.ResultFail, "From field not signed"},
		{"body changed", strings.Replace(signed("ed", k["ed25519"]), "Noon", "Midnight", 1), verdict.Fail, authres.ResultFail, "body hash did not verify"},
		{"header changed", strings.Replace(signed("ed", k["ed25519"]), "Subject: lunch", "Subject: dinner", 1), verdict.Fail, authres.ResultFail, "signature did not verify"},
		{"signed by another key", signed("ed", func() crypto.Signer { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }()), verdict.Fail, authres.ResultFail, "signature did not verify"},
		{"no key record", signed("absent", k["ed25519"]), verdict.PermError, authres.ResultPermError, "no key for signature"},
		{"revoked key", signed("revoked", k["rsa2048"]), verdict.PermError, authres.ResultPermError, "key revoked"},
		{"garbled key", signed("garbled", k["rsa2048"]), verdict.PermError, authres.ResultPermError, "key syntax error"},
		{"two key records", signed("twice", k["ed25519"]), verdict.PermError, authres.ResultPermError, "multiple TXT records"},
		{"key algorithm differs from a=", signed("ed", k["rsa2048"]), verdict.PermError, authres.ResultPermError, "inappropriate key algorithm"},
		{"i= outside d=", sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"], Identifier: "alice@example.com"}), verdict.PermError, authres.ResultPermError, "domain mismatch"},
		{"missing tag", editSignature(t, signed("ed", k["ed25519"]), func(s string) string {
			return regexp.MustCompile(`bh=[^;]*;`).ReplaceAllString(s, "")
		}), verdict.PermError, authres.ResultPermError, "missing required tag"},
		{"duplicate tag", editSignature(t, signed("ed", k["ed25519"]), func(s string) string {
			return strings.Replace(s, " s=ed;", " s=ed; s=ed;", 1)
		}), verdict.PermError, authres.ResultPermError, "duplicate tag"},
		{"no signature", testMessage, verdict.None, "", "no DKIM signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Check(context.Background(), r, strings.NewReader(c.message))
			if res.Status != c.status || !strings.Contains(res.Reason, c.detail) {
				t.Errorf("Status %v, reason %q; want %v and %q", res.Status, res.Reason, c.status, c.detail)
			}
			if res.Score != scoreOf(DefaultScores, c.status) || res.Action != verdict.Accept {
				t.Errorf("Score %v, Action %v; want %v, accept", res.Score, res.Action, scoreOf(DefaultScores, c.status))
			}
			if c.value == "" {
				if len(res.Auth) != 0 {
					t.Errorf("Auth %v, want none", res.Auth)
				}
				return
			}
			if len(res.Auth) != 1 {
				t.Fatalf("%d Auth entries, want 1", len(res.Auth))
			}
			a := res.Auth[0].(*authres.DKIMResult)
			if a.Value != c.value || a.Domain != "example.org" || !strings.HasPrefix(a.Reason, "s=") {
				t.Errorf("Auth %+v, want %s for example.org with s= in the reason", a, c.value)
			}
			if c.status == verdict.Pass {
				if res.Domain != "example.org" || res.Err != nil {
					t.Errorf("Domain %q, Err %v; want example.org, nil", res.Domain, res.Err)
				}
			} else if res.Err == nil {
				t.Error("Err is nil for a result other than pass")
			}
		})
	}
}

func scoreOf(sc Scores, s verdict.Status) float64 {
	return map[verdict.Status]float64{verdict.Pass: sc.Pass, verdict.Fail: sc.Fail, verdict.Neutral: sc.Neutral,
		verdict.TempError: sc.TempError, verdict.PermError: sc.PermError, verdict.None: sc.None}[s]
}

// TestStatus checks how the results of several signatures make one Status.
func TestStatus(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]) +
		keyRecord(t, "ed", "other.example", k["ed25519"]) +
		keyRecord(t, "dns", "example.org", k["ed25519"]))
	r.SetFault("dns._domainkey.example.org", resolvertest.ServFail)

	pass := &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]}
	temp := &msgdkim.SignOptions{Domain: "example.org", Selector: "dns", Signer: k["ed25519"]}
	perm := &msgdkim.SignOptions{Domain: "example.org", Selector: "none", Signer: k["ed25519"]}
	fail := &msgdkim.SignOptions{Domain: "other.example", Selector: "ed", Signer: k["rsa1024"]} // ed25519 key, rsa signature: permerror
	broken := func(m string) string { return strings.Replace(m, "Subject: lunch", "Subject: lunch!", 1) }

	cases := []struct {
		name    string
		message string
		status  verdict.Status
		values  []authres.ResultValue
	}{
		{"pass beats temperror", sign(t, sign(t, testMessage, temp), pass), verdict.Pass,
			[]authres.ResultValue{authres.ResultPass, authres.ResultTempError}},
		{"pass beats fail", sign(t, broken(sign(t, testMessage, pass)), pass), verdict.Pass,
			[]authres.ResultValue{authres.ResultPass, authres.ResultFail}},
		{"temperror beats fail", broken(sign(t, sign(t, testMessage, pass), temp)), verdict.TempError,
			[]authres.ResultValue{authres.ResultTempError, authres.ResultFail}},
		{"fail beats permerror", broken(sign(t, sign(t, testMessage, pass), perm)), verdict.Fail,
			[]authres.ResultValue{authres.ResultPermError, authres.ResultFail}},
		{"permerror only", sign(t, sign(t, testMessage, perm), fail), verdict.PermError,
			[]authres.ResultValue{authres.ResultPermError, authres.ResultPermError}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Check(context.Background(), r, strings.NewReader(c.message))
			if res.Status != c.status {
				t.Errorf("Status %v, want %v (%s)", res.Status, c.status, res.Reason)
			}
			var got []authres.ResultValue
			for _, a := range res.Auth {
				got = append(got, a.(*authres.DKIMResult).Value)
			}
			if strings.Join(values(got), ",") != strings.Join(values(c.values), ",") {
				t.Errorf("values %v, want %v", got, c.values)
			}
			if c.status == verdict.TempError {
				var de *net.DNSError
				if !errors.As(res.Err, &de) || !de.Temporary() {
					t.Errorf("Err = %#v, want the temporary *net.DNSError", res.Err)
				}
			}
		})
	}
}

func values(vs []authres.ResultValue) []string {
	var s []string
	for _, v := range vs {
		s = append(s, string(v))
	}
	return s
}

// TestTempError: a key lookup that fails temporarily is never evidence.
func TestTempError(t *testing.T) {
	k := keys()
	message := sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]})
	for _, f := range []resolvertest.Fault{resolvertest.ServFail, resolvertest.Refused, resolvertest.Timeout} {
		t.Run(f.String(), func(t *testing.T) {
			r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
			r.SetFault("ed._domainkey.example.org", f)
			r.SetTimeoutAfter(50 * time.Millisecond)
			res := New(r, &Options{Reject: true}).Evaluate(context.Background(), strings.NewReader(message))
			if res.Status != verdict.TempError || res.Action != verdict.Accept || res.Score != 0 {
				t.Errorf("Status %v, Action %v, Score %v; want temperror, accept, 0 (%s)", res.Status, res.Action, res.Score, res.Reason)
			}
			if len(res.Auth) != 1 || res.Auth[0].(*authres.DKIMResult).Value != authres.ResultTempError {
				t.Errorf("Auth %v, want one temperror", res.Auth)
			}
		})
	}

	t.Run("resolver error of another type", func(t *testing.T) {
		res := Check(context.Background(), errResolver{errors.New("no route")}, strings.NewReader(message))
		if res.Status != verdict.TempError {
			t.Errorf("Status %v, want temperror (%s)", res.Status, res.Reason)
		}
	})

	t.Run("wrapped errors are unwrapped", func(t *testing.T) {
		for _, c := range []struct {
			err    error
			status verdict.Status
		}{
			{fmt.Errorf("resolver: %w", &net.DNSError{Err: "no such host", Name: "ed._domainkey.example.org", IsNotFound: true}), verdict.PermError},
			{fmt.Errorf("resolver: %w", &net.DNSError{Err: "server misbehaving", Name: "ed._domainkey.example.org", IsTemporary: true}), verdict.TempError},
		} {
			if res := Check(context.Background(), errResolver{c.err}, strings.NewReader(message)); res.Status != c.status {
				t.Errorf("%v: Status %v, want %v", c.err, res.Status, c.status)
			}
		}
	})

	t.Run("context cancelled during lookup", func(t *testing.T) {
		r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
		r.SetLatency(time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		res := Check(ctx, r, strings.NewReader(message))
		if res.Status != verdict.TempError || time.Since(start) > 5*time.Second {
			t.Errorf("Status %v after %v, want temperror promptly", res.Status, time.Since(start))
		}
	})

	t.Run("context already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res := Check(ctx, resolvertest.MustNew(""), strings.NewReader(message))
		if res.Status != verdict.TempError || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("Status %v, Err %v; want temperror, context.Canceled", res.Status, res.Err)
		}
	})

	t.Run("context cancelled while reading the body", func(t *testing.T) {
		r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
		ctx, cancel := context.WithCancel(context.Background())
		body := &endless{cancel: cancel, after: 1 << 20}
		msg := io.MultiReader(strings.NewReader(message[:strings.Index(message, "\r\n\r\n")+4]), body)
		res := Check(ctx, r, msg)
		if res.Status != verdict.TempError || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("Status %v, Err %v; want temperror, context.Canceled", res.Status, res.Err)
		}
	})

	t.Run("reading the message fails", func(t *testing.T) {
		r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
		for _, msg := range []io.Reader{
			io.MultiReader(strings.NewReader(message[:100]), errReader{}),
			io.MultiReader(strings.NewReader(sign(t, message, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]})), errReader{}),
		} {
			res := Check(context.Background(), r, msg)
			if res.Status != verdict.TempError || !errors.Is(res.Err, errRead) {
				t.Errorf("Status %v, Err %v; want temperror, %v", res.Status, res.Err, errRead)
			}
		}
	})
}

type errResolver struct{ err error }

func (e errResolver) LookupTXT(context.Context, string) ([]string, error) { return nil, e.err }

var errRead = errors.New("connection reset")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errRead }

// endless is a body of text lines that calls cancel after some bytes.
type endless struct {
	n, after int
	cancel   func()
}

func (e *endless) Read(p []byte) (int, error) {
	const line = "All work and no play makes Jack a dull boy.\r\n"
	for i := range p {
		p[i] = line[(e.n+i)%len(line)]
	}
	e.n += len(p)
	if e.cancel != nil && e.n >= e.after {
		e.cancel()
	}
	return len(p), nil
}

func TestTooManySignatures(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
	message := testMessage
	for range 100 {
		message = sign(t, message, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"],
			HeaderKeys: []string{"From", "To", "Subject"}})
	}
	for _, c := range []struct {
		max, verified int
	}{{0, DefaultMaxSignatures}, {3, 3}, {100, 100}} {
		r.ResetQueries()
		res := New(r, &Options{MaxSignatures: c.max}).Evaluate(context.Background(), strings.NewReader(message))
		if res.Status != verdict.Pass || len(res.Auth) != c.verified || r.TotalQueries() != c.verified {
			t.Errorf("max %d: Status %v, %d Auth entries, %d queries; want pass, %d, %d", c.max, res.Status, len(res.Auth), r.TotalQueries(), c.verified, c.verified)
		}
		wantMore := c.verified < 100
		if gotMore := strings.Contains(res.Reason, " not verified (limit "); gotMore != wantMore || len(res.Reason) > verdict.MaxReason {
			t.Errorf("max %d: reason %q (%d bytes), want one mentioning the signatures not verified: %v", c.max, res.Reason, len(res.Reason), wantMore)
		}
	}
}

func TestOptions(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]) + keyRecord(t, "big", "example.org", k["rsa2048"]))
	good := sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]})
	bad := strings.Replace(good, "Noon", "Midnight", 1)
	unusable := sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "nokey", Signer: k["ed25519"]})
	sha1 := editSignature(t, sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "big", Signer: k["rsa2048"]}),
		func(s string) string { return strings.Replace(s, "a=rsa-sha256", "a=rsa-sha1", 1) })
	scores := &Scores{Pass: -2, Fail: 3, Neutral: 0.25, PermError: 4, None: 0.5}

	cases := []struct {
		name    string
		o       *Options
		message string
		status  verdict.Status
		action  verdict.Action
		score   float64
		value   authres.ResultValue
	}{
		{"reject on fail", &Options{Reject: true}, bad, verdict.Fail, verdict.Reject, DefaultScores.Fail, authres.ResultFail},
		{"reject on permerror", &Options{Reject: true}, unusable, verdict.PermError, verdict.Reject, DefaultScores.PermError, authres.ResultPermError},
		{"reject never on pass", &Options{Reject: true}, good, verdict.Pass, verdict.Accept, DefaultScores.Pass, authres.ResultPass},
		{"reject never on none", &Options{Reject: true}, testMessage, verdict.None, verdict.Accept, 0, ""},
		{"fail scores only by default", nil, bad, verdict.Fail, verdict.Accept, DefaultScores.Fail, authres.ResultFail},
		{"rsa-sha1 fails by default", nil, sha1, verdict.Fail, verdict.Accept, DefaultScores.Fail, authres.ResultFail},
		{"rsa-sha1 scored only", &Options{ScoreSHA1: true, Reject: true}, sha1, verdict.Neutral, verdict.Accept, DefaultScores.Neutral, authres.ResultPolicy},
		{"scores replaced: pass", &Options{Scores: scores}, good, verdict.Pass, verdict.Accept, -2, authres.ResultPass},
		{"scores replaced: fail", &Options{Scores: scores}, bad, verdict.Fail, verdict.Accept, 3, authres.ResultFail},
		{"scores replaced: neutral", &Options{Scores: scores, ScoreSHA1: true}, sha1, verdict.Neutral, verdict.Accept, 0.25, authres.ResultPolicy},
		{"scores replaced: permerror", &Options{Scores: scores}, unusable, verdict.PermError, verdict.Accept, 4, authres.ResultPermError},
		{"scores replaced: none", &Options{Scores: scores}, testMessage, verdict.None, verdict.Accept, 0.5, ""},
		{"header too large", &Options{MaxHeaderBytes: 100}, good, verdict.PermError, verdict.Accept, DefaultScores.PermError, ""},
		{"header within limit", &Options{MaxHeaderBytes: len(good)}, good, verdict.Pass, verdict.Accept, DefaultScores.Pass, authres.ResultPass},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := New(r, c.o).Evaluate(context.Background(), strings.NewReader(c.message))
			if res.Status != c.status || res.Action != c.action || res.Score != c.score {
				t.Errorf("Status %v, Action %v, Score %v; want %v, %v, %v (%s)", res.Status, res.Action, res.Score, c.status, c.action, c.score, res.Reason)
			}
			if c.action == verdict.Reject && (res.Code != 550 || res.Enhanced != "5.7.20") {
				t.Errorf("reply %d %s, want 550 5.7.20", res.Code, res.Enhanced)
			}
			if c.action != verdict.Reject && (res.Code != 0 || res.Enhanced != "") {
				t.Errorf("reply %d %s without a demand", res.Code, res.Enhanced)
			}
			if c.value != "" && (len(res.Auth) != 1 || res.Auth[0].(*authres.DKIMResult).Value != c.value) {
				t.Errorf("Auth %v, want one %s", res.Auth, c.value)
			}
		})
	}
}

// TestBlankLines: go-msgauth keeps a run of empty lines in memory, so a body
// of nothing else is cut off rather than buffered.
func TestBlankLines(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
	o := &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]}
	header := testMessage[:strings.Index(testMessage, "\r\n\r\n")+4]
	for _, c := range []struct {
		name   string
		body   string
		status verdict.Status
	}{
		{"many empty lines then text", strings.Repeat("\r\n", 20000) + "text\r\n", verdict.Pass},
		{"empty lines with spaces then text", strings.Repeat(" \t\r\n", 20000) + "text\r\n", verdict.Pass},
		{"too many empty lines", strings.Repeat("\r\n", maxLineBreaks), verdict.PermError},
		{"too many blank lines", strings.Repeat("  \n", maxLineBreaks+1), verdict.PermError},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := Check(context.Background(), r, strings.NewReader(sign(t, header+c.body, o)))
			if res.Status != c.status {
				t.Errorf("Status %v, want %v (%s)", res.Status, c.status, res.Reason)
			}
		})
	}
}

// TestStreaming verifies a large message read from a stream and checks that
// the heap does not grow with it.
func TestStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("large message")
	}
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
	const size = 24 << 20
	header := testMessage[:strings.Index(testMessage, "\r\n\r\n")+4]
	// Only the signature field is kept: a 64 MiB live buffer would raise
	// the garbage collector's target and hide what verification retains.
	signer, err := msgdkim.NewSigner(&msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(signer, io.MultiReader(strings.NewReader(header), io.LimitReader(&endless{}, size))); err != nil {
		t.Fatal(err)
	}
	if err := signer.Close(); err != nil {
		t.Fatal(err)
	}
	sig := signer.Signature()

	// A low GC target makes the heap follow what is live, not garbage.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	for _, sigs := range []int{1, 3} {
		h := []byte(strings.Repeat(sig, sigs) + header)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		done := make(chan struct{})
		peak := make(chan uint64)
		go func() {
			var max uint64
			var m runtime.MemStats
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&m)
				max = maxU(max, m.HeapInuse)
				select {
				case <-done:
					peak <- max
					return
				case <-tick.C:
				}
			}
		}()
		res := Check(context.Background(), r, io.MultiReader(bytes.NewReader(h), io.LimitReader(&endless{}, size)))
		close(done)
		grown := int64(<-peak) - int64(before.HeapInuse)
		if res.Status != verdict.Pass || len(res.Auth) != sigs {
			t.Fatalf("%d signatures: Status %v, %d Auth; want pass (%s)", sigs, res.Status, len(res.Auth), res.Reason)
		}
		t.Logf("%d signatures: heap grew by %d bytes", sigs, grown)
		if grown > 4<<20 {
			t.Errorf("%d signatures: heap grew by %d bytes verifying a %d-byte message", sigs, grown, size)
		}
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func TestChecker(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
	c := New(r, nil)
	if c.Name() != Name || c.Stage() != verdict.Data {
		t.Errorf("Name, Stage = %q, %v; want dkim, data", c.Name(), c.Stage())
	}
	var _ verdict.Check = c
	s := &verdict.Session{Message: []byte(sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]}))}
	if res := c.Check(context.Background(), s); res.Status != verdict.Pass || res.Check != Name {
		t.Errorf("Check = %v %q, want pass (%s)", res.Status, res.Check, res.Reason)
	}
	if res := c.Check(context.Background(), &verdict.Session{}); res.Status != verdict.None {
		t.Errorf("Check without a message = %v, want none", res.Status)
	}

	p := &verdict.Policy{Checks: []verdict.Check{New(r, &Options{Reject: true})}}
	s.Message = []byte(strings.Replace(string(s.Message), "Noon", "Midnight", 1))
	d := p.Evaluate(context.Background(), s, verdict.Data)
	if d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.7.20" {
		t.Errorf("decision %v, want 550 5.7.20 reject", d)
	}
	if ar := d.AuthenticationResults("mx.example.net"); !strings.Contains(ar, "dkim=fail") || !strings.Contains(ar, "header.d=example.org") {
		t.Errorf("Authentication-Results %q", ar)
	}
}

// TestReason: reasons are one printable line whatever the signature holds.
func TestReason(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew("")
	message := editSignature(t, sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]}),
		func(s string) string {
			return strings.Replace(s, "s=ed;", "s=\x1b[31m\xff"+strings.Repeat("x", 300)+";", 1)
		})
	res := Check(context.Background(), r, strings.NewReader(message))
	if res.Reason != verdict.Printable(res.Reason) {
		t.Errorf("reason %q is not printable", res.Reason)
	}
	for _, a := range res.Auth {
		if reason := a.(*authres.DKIMResult).Reason; reason != verdict.Printable(reason) {
			t.Errorf("Auth reason %q is not printable", reason)
		}
	}
}

func TestReadHeader(t *testing.T) {
	for _, c := range []struct {
		in, header, rest string
		sigs             int
	}{
		{"A: b\r\n\r\nbody", "A: b\r\n\r\n", "body", 0},
		{"A: b\n\nbody\n", "A: b\n\r\n", "body\n", 0},
		{"A: b\r\n c\r\n\r\n", "A: b\r\n c\r\n\r\n", "", 0},
		{"A: b\r\n", "A: b\r\n\r\n", "", 0},
		{"A: b", "A: b\r\n\r\n", "", 0},
		{"", "\r\n", "", 0},
		{"\r\nbody", "\r\n", "body", 0},
		{"A: " + strings.Repeat("x", 5000) + "\r\n\r\nbody", "A: " + strings.Repeat("x", 5000) + "\r\n\r\n", "body", 0},
		// Signatures as go-msgauth counts them: a first line that starts
		// with white space, a name with white space before the colon, a
		// name without a colon on its own line.
		{" DKIM-Signature: d=a\r\nDKIM-Signature : d=b\r\ndkim-signature\r\n : d=c\r\nX-DKIM-Signature: d=x\r\n\r\nDKIM-Signature: d=body\r\n",
			" DKIM-Signature: d=a\r\nDKIM-Signature : d=b\r\ndkim-signature\r\n : d=c\r\nX-DKIM-Signature: d=x\r\n\r\n", "DKIM-Signature: d=body\r\n", 3},
	} {
		br := bufio.NewReaderSize(strings.NewReader(c.in), 16)
		h, sigs, err := readHeader(br, 1<<20)
		rest, _ := io.ReadAll(br)
		if err != nil || string(h) != c.header || string(rest) != c.rest || len(sigs) != c.sigs {
			t.Errorf("readHeader(%q) = %q, %d signatures, %v, rest %q; want %q, %d, %q", c.in, h, len(sigs), err, rest, c.header, c.sigs, c.rest)
		}
	}
	for _, c := range []struct {
		in  string
		max int
		err error
	}{
		{"A: b\r\nC: d\r\n\r\n", 10, errHeaderTooLarge},
		{strings.Repeat("A: b\r\n", 1001) + "\r\n", 1 << 20, errHeaderTooLarge},
		{"A: b\rDKIM-Signature: d=x\r\n\r\n", 1 << 20, errBareCR},
		{"DKIM-Signature: d=a\r\n\rX: y\r\n\r\n", 1 << 20, errBareCR},
	} {
		if _, _, err := readHeader(bufio.NewReader(strings.NewReader(c.in)), c.max); err != c.err {
			t.Errorf("readHeader(%.40q): err = %v, want %v", c.in, err, c.err)
		}
	}
}

func TestParseTags(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
		err  error
	}{
		{"v=1; a=rsa-sha256; d=example.org; s=sel", map[string]string{"v": "1", "a": "rsa-sha256", "d": "example.org", "s": "sel"}, nil},
		{" d = exa\r\n mple.org ;\ts=sel;", map[string]string{"d": "example.org", "s": "sel"}, nil},
		{"", map[string]string{}, nil},
		{"d=a; d=b", map[string]string{"d": "a"}, errTagDuplicate},
		{"d=a; junk", map[string]string{"d": "a"}, errTagSyntax},
		{"d=a; =b", map[string]string{"d": "a"}, errTagSyntax},
		{"1a=b", map[string]string{}, errTagSyntax},
	} {
		got, err := parseTags(c.in)
		if err != c.err || len(got) != len(c.want) {
			t.Errorf("parseTags(%q) = %v, %v; want %v, %v", c.in, got, err, c.want, c.err)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("parseTags(%q)[%q] = %q, want %q", c.in, k, got[k], v)
			}
		}
	}
}

// TestKeyFlags pins the flags of the key record (RFC 6376 §3.6.1) with
// messages signed here by go-msgauth and keys published in a test zone.
func TestKeyFlags(t *testing.T) {
	k := keys()
	pub := base64.StdEncoding.EncodeToString(k["ed25519"].Public().(ed25519.PublicKey))
	key := func(sel, domain, tags string) string {
		return txtRecord(sel+"._domainkey."+domain+".", "v=DKIM1; k=ed25519; "+tags+"p="+pub)
	}
	r := resolvertest.MustNew(key("strict", "example.com", "t=s; ") +
		key("plain", "example.com", "") +
		key("testing", "example.com", "t=y; ") +
		key("both", "example.com", "t = y : s ; ") +
		key("odd", "example.com", "t=x:s:zz; ") +
		keyRecord(t, "ed", "example.org", k["ed25519"]))
	signed := func(sel, id string, mod ...func(*msgdkim.SignOptions)) string {
		o := &msgdkim.SignOptions{Domain: "example.com", Selector: sel, Signer: k["ed25519"], Identifier: id}
		for _, m := range mod {
			m(o)
		}
		return sign(t, testMessage, o)
	}
	expired := func(o *msgdkim.SignOptions) { o.Expiration = time.Now().Add(-time.Hour) }
	broken := func(m string) string { return strings.Replace(m, "Noon", "Midnight", 1) }
	otherPass := func(m string) string {
		return sign(t, m, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]})
	}
	sc := DefaultScores

	for _, c := range []struct {
		name    string
		o       *Options
		message string
		status  verdict.Status
		score   float64
		action  verdict.Action
		values  string // Auth values, top first
		reason  string // in the Reason
		queries int    // DNS queries made, at most
	}{
		// t=s: the i= domain must be d= itself.
		{"t=s, i= in a subdomain of d=", nil, signed("strict", "@eng.example.com"), verdict.PermError, sc.PermError, verdict.Accept,
			"permerror", "d=example.com s=strict permerror (i= domain is below d=, which the key's flag t=s forbids", 1},
		{"t=s, i= with a local part in a subdomain", &Options{Reject: true}, signed("strict", "alice@eng.example.com"), verdict.PermError, sc.PermError, verdict.Reject,
			"permerror", "t=s forbids", 1},
		{"t=s, i= below d= and body changed: still the key's refusal", nil, broken(signed("strict", "@eng.example.com")), verdict.PermError, sc.PermError, verdict.Accept,
			"permerror", "t=s forbids", 1},
		{"t=s, i= in d=", nil, signed("strict", "alice@example.com"), verdict.Pass, sc.Pass, verdict.Accept, "pass", "d=example.com s=strict pass", 1},
		{"t=s, no i=", nil, signed("strict", ""), verdict.Pass, sc.Pass, verdict.Accept, "pass", "s=strict pass", 1},
		{"t=s among unknown flags", nil, signed("odd", "@eng.example.com"), verdict.PermError, sc.PermError, verdict.Accept, "permerror", "t=s forbids", 1},
		{"no t=s, i= in a subdomain", nil, signed("plain", "@eng.example.com"), verdict.Pass, sc.Pass, verdict.Accept, "pass", "s=plain pass", 1},

		// t=y: a failure weighs as no signature at all.
		{"t=y, valid", nil, signed("testing", ""), verdict.Pass, sc.Pass, verdict.Accept, "pass", "s=testing pass", 1},
		{"t=y, body changed", &Options{Reject: true}, broken(signed("testing", "")), verdict.Fail, sc.None, verdict.Accept,
			"fail", "d=example.com s=testing fail (body hash did not verify; testing key (t=y))", 1},
		{"t=y, refused before the key lookup (x= past)", &Options{Reject: true}, signed("testing", "", expired), verdict.Fail, sc.None, verdict.Accept,
			"fail", "signature expired (x=); testing key (t=y)", 1},
		{"t=y and t=s, i= below d=", &Options{Reject: true}, signed("both", "@eng.example.com"), verdict.PermError, sc.None, verdict.Accept,
			"permerror", "t=s forbids", 1},
		{"t=y failure beside a real failure", &Options{Reject: true},
			broken(sign(t, signed("testing", ""), &msgdkim.SignOptions{Domain: "example.com", Selector: "plain", Signer: k["ed25519"]})),
			verdict.Fail, sc.Fail, verdict.Reject, "fail,fail", "testing key (t=y)", 2},
		{"t=y failure beside a pass", nil, otherPass(broken(signed("testing", ""))), verdict.Pass, sc.Pass, verdict.Accept,
			"pass,fail", "testing key (t=y)", 2},
		{"no t=y, body changed", nil, broken(signed("plain", "")), verdict.Fail, sc.Fail, verdict.Accept, "fail", "s=plain fail (body hash did not verify)", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.ResetQueries()
			res := New(r, c.o).Evaluate(context.Background(), strings.NewReader(c.message))
			var values []string
			for _, a := range res.Auth {
				values = append(values, string(a.(*authres.DKIMResult).Value))
			}
			if res.Status != c.status || res.Score != c.score || res.Action != c.action || strings.Join(values, ",") != c.values ||
				!strings.Contains(res.Reason, c.reason) {
				t.Errorf("got %v %v %v %v %q;\nwant %v %v %v %v %q", res.Status, res.Score, res.Action, values, res.Reason,
					c.status, c.score, c.action, c.values, c.reason)
			}
			if res.Status != verdict.Pass && res.Err == nil {
				t.Error("Err is nil for a result other than pass")
			}
			if q := r.TotalQueries(); q > c.queries {
				t.Errorf("%d DNS queries, want at most %d", q, c.queries)
			}
		})
	}
}

func TestParseKeyFlags(t *testing.T) {
	for _, c := range []struct {
		record string
		want   keyFlags
	}{
		{"v=DKIM1; k=rsa; p=abc", keyFlags{}},
		{"v=DKIM1; t=y; p=abc", keyFlags{testing: true}},
		{"v=DKIM1; t=s; p=abc", keyFlags{strict: true}},
		{"t=y:s", keyFlags{testing: true, strict: true}},
		{" t = s : y ;p=", keyFlags{testing: true, strict: true}},
		{"t=x:Y:S:ss", keyFlags{}}, // flag names are case-sensitive; unknown ones ignored
		{"s=email; p=x", keyFlags{}},
		{"v=DKIM1; n=t=y; p=x", keyFlags{}},
		{"", keyFlags{}},
	} {
		if got := parseKeyFlags(c.record); got != c.want {
			t.Errorf("parseKeyFlags(%q) = %+v, want %+v", c.record, got, c.want)
		}
	}
}

// TestBareCR: a header section with a bare CR is read by mail readers as
// more lines than go-msgauth verifies, so it is not verified at all.
func TestBareCR(t *testing.T) {
	k := keys()
	r := resolvertest.MustNew(keyRecord(t, "ed", "example.org", k["ed25519"]))
	good := sign(t, testMessage, &msgdkim.SignOptions{Domain: "example.org", Selector: "ed", Signer: k["ed25519"]})
	for _, msg := range []string{
		strings.Replace(good, "Subject: lunch\r\n", "Subject: lunch\rFrom: Mallory <m@example.net>\r\n", 1),
		strings.Replace(good, "\r\n\r\n", "\r\n\r", 1),
	} {
		r.ResetQueries()
		res := New(r, &Options{Reject: true}).Evaluate(context.Background(), strings.NewReader(msg))
		if res.Status != verdict.PermError || !errors.Is(res.Err, errBareCR) || res.Action != verdict.Accept || !strings.Contains(res.Reason, "bare CR") {
			t.Errorf("got %v %v %v %q; want permerror for the bare CR, no demand", res.Status, res.Err, res.Action, res.Reason)
		}
		if r.TotalQueries() != 0 {
			t.Errorf("%d key lookups for a message not verified", r.TotalQueries())
		}
	}
	if DefaultMaxHeaderBytes != header.MaxSize {
		t.Errorf("DefaultMaxHeaderBytes %d, header.MaxSize %d", DefaultMaxHeaderBytes, header.MaxSize)
	}
}

// TestScoresCopied: a Checker keeps the scores of the time it was made.
func TestScoresCopied(t *testing.T) {
	r := resolvertest.MustNew("")
	sc := DefaultScores
	sc.None = 2
	o := &Options{Scores: &sc}
	custom, plain := New(r, o), New(r, nil)
	saved := DefaultScores
	defer func() { DefaultScores = saved }()
	sc.None, DefaultScores.None = 3, 4
	if got := custom.Evaluate(context.Background(), strings.NewReader(testMessage)).Score; got != 2 {
		t.Errorf("custom Checker scored %v, want 2", got)
	}
	if got := plain.Evaluate(context.Background(), strings.NewReader(testMessage)).Score; got != saved.None {
		t.Errorf("default Checker scored %v, want %v", got, saved.None)
	}
}
