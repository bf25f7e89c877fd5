package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// dmarcAttackZone adds to the test DNS a sender on its own domain
// (attacker.example, SPF-authorised for the loopback client), the domain it
// forges (paypal.example, p=reject), and a DKIM key of example.org.
const dmarcAttackZone = `attacker.example. SOA ns.attacker.example. hostmaster.attacker.example. 1 7200 3600 1209600 300
attacker.example. MX 10 mail.example.org.
attacker.example. TXT "v=spf1 ip4:127.0.0.1 -all"
paypal.example. SOA ns.paypal.example. hostmaster.paypal.example. 1 7200 3600 1209600 300
paypal.example. MX 10 mx.paypal.example.
mx.paypal.example. A 192.0.2.80
paypal.example. TXT "v=spf1 ip4:192.0.2.80 -all"
_dmarc.paypal.example. TXT "v=DMARC1; p=reject"
`

// rawSMTP runs one transaction over a plain connection, writing msg as
// it is (bare CRs included; dot-stuffing is the caller's), and returns the
// reply to the end of DATA, or the first refusal before it.
func rawSMTP(t *testing.T, addr, helo, mailFrom, rcpt, msg string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	for _, step := range []struct {
		cmd  string
		want int
	}{{"EHLO " + helo, 250}, {"MAIL FROM:<" + mailFrom + ">", 250}, {"RCPT TO:<" + rcpt + ">", 250}, {"DATA", 354}} {
		if err := tp.PrintfLine("%s", step.cmd); err != nil {
			t.Fatal(err)
		}
		code, text, err := tp.ReadResponse(step.want)
		if err != nil {
			return code, text
		}
	}
	if _, err := conn.Write([]byte(msg + "\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	code, text, _ := tp.ReadResponse(250)
	tp.PrintfLine("QUIT")
	return code, text
}

// maildirCount counts the messages delivered into a Maildir.
func maildirCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		n += len(files)
	}
	return n
}

// signExampleOrg signs msg with a DKIM ed25519 key of example.org and
// returns the signed message and the key's DNS record.
func signExampleOrg(t *testing.T, msg string) (signed, zone string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{
		Domain: "example.org", Selector: "hostile", Signer: priv,
		HeaderKeys: []string{"From", "To", "Subject", "Date"},
	})
	if err != nil {
		t.Fatal(err)
	}
	zone = `hostile._domainkey.example.org. TXT "v=DKIM1; k=ed25519; p=` + base64.StdEncoding.EncodeToString(pub) + `"` + "\n"
	return b.String(), zone
}

// TestHostileDMARCFrom sends, over a real SMTP connection to the server
// main runs, a message forged From a p=reject domain by a sender
// authenticated for its own domain, with the From field mutated in each
// way that used to let it through (delivered with dmarc=permerror): every
// mutation must be refused 550 5.7.26 like the plain forgery, and nothing
// delivered. A bare CR may instead be refused as malformed data (5.6.x)
// where the server refuses bare line ends.
func TestHostileDMARCFrom(t *testing.T) {
	body := "To: Bob <bob@example.net>\r\nSubject: Your account\r\nDate: Sat, 5 Dec 2026 12:00:00 +0000\r\n\r\nPlease log in.\r\n"
	signed, keyZone := signExampleOrg(t, "From: Alice <alice@example.org>\r\n"+body)
	for _, c := range []struct {
		name, mailFrom, msg string
		bareCR              bool
	}{
		{name: "plain forgery", mailFrom: "me@attacker.example", msg: "From: PayPal <security@paypal.example>\r\n" + body},
		{name: "From twice", mailFrom: "me@attacker.example", msg: "From: Me <me@attacker.example>\r\nFrom: PayPal <security@paypal.example>\r\n" + body},
		{name: "two addresses", mailFrom: "me@attacker.example", msg: "From: me@attacker.example, PayPal <security@paypal.example>\r\n" + body},
		{name: "trailing dot", mailFrom: "me@attacker.example", msg: "From: PayPal <security@paypal.example.>\r\n" + body},
		{name: "unclosed angle bracket", mailFrom: "me@attacker.example", msg: "From: PayPal <security@paypal.example\r\n" + body},
		{name: "Latin-1 display name", mailFrom: "me@attacker.example", msg: "From: P\xe4yP\xe4l Sicherheit <security@paypal.example>\r\n" + body},
		{name: "bare CR before From", mailFrom: "me@attacker.example", msg: "X-Mailer: x\rFrom: PayPal <security@paypal.example>\r\n" + body, bareCR: true},
		{name: "second From on a signed message", mailFrom: "alice@example.org", msg: "From: PayPal <security@paypal.example>\r\n" + signed},
		{name: "no domain a program could check", mailFrom: "me@attacker.example", msg: "From: PayPal Security\r\n" + body},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, maildir, r := startMain(t)
			if err := r.Add(dmarcAttackZone + keyZone); err != nil {
				t.Fatal(err)
			}
			code, text := rawSMTP(t, addr, "mail.example.org", c.mailFrom, "bob@example.net", c.msg)
			ok := code == 550 && strings.Contains(text, "5.7.26")
			if c.bareCR && code >= 500 && strings.Contains(text, "5.6.") {
				ok = true
			}
			if !ok {
				t.Errorf("reply %d %q, want 550 5.7.26", code, text)
			}
			if n := maildirCount(t, maildir); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}

	// The control: the genuinely signed message itself is delivered, so
	// the refusal above is the added From field's.
	addr, maildir, r := startMain(t)
	if err := r.Add(dmarcAttackZone + keyZone); err != nil {
		t.Fatal(err)
	}
	if code, text := rawSMTP(t, addr, "mail.example.org", "alice@example.org", "bob@example.net", signed); code != 250 {
		t.Fatalf("signed message: %d %q", code, text)
	}
	if n := maildirCount(t, maildir); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
	// ... and shows the DMARC pass with the policy properties.
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
	ar := strings.Join(hdr.Values("Authentication-Results"), "\n")
	if !strings.Contains(ar, "dmarc=pass") || !strings.Contains(ar, "policy.published-domain-policy=reject") || !strings.Contains(ar, "header.from=example.org") {
		t.Errorf("Authentication-Results:\n%s", ar)
	}
}
