package main

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mtaguard/mtaguard/relay"
)

// startSubmission runs main with a submission listener and one user,
// alice@example.org with the password "secret", and returns the
// submission address.
func startSubmission(t *testing.T, extra ...string) (sub, maildir string, logs *syncBuffer) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("# test users\nalice@example.org:"+string(hash)+"\n"), 0o600)
	_, maildir, _, logs = startMainLog(t, append([]string{"-submission", "127.0.0.1:0", "-users", users}, extra...)...)
	m := regexp.MustCompile(`msg=submission addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no submission address in the log:\n%s", logs.String())
	}
	return m[1], maildir, logs
}

// TestSubmissionSwaks drives the submission listener with swaks: AUTH only
// after STARTTLS, relay only when authenticated, and only as oneself.
func TestSubmissionSwaks(t *testing.T) {
	needTool(t, "swaks", "apt-get install swaks")
	sub, maildir, logs := startSubmission(t)
	if !strings.Contains(logs.String(), "self-signed certificate") {
		t.Errorf("no warning about the self-signed certificate:\n%s", logs.String())
	}
	base := []string{"--helo", "client.example.org", "--to", "carol@example.com"}
	as := func(from string, more ...string) []string {
		return append(append([]string{"--from", from}, base...), more...)
	}
	auth := func(mech, pass string) []string {
		return []string{"--auth", mech, "--auth-user", "alice@example.org", "--auth-password", pass}
	}
	// swaks's exit status names the failing step: 23 MAIL refused, 24 no
	// recipient accepted, 28 AUTH failed, 29 TLS failed.
	for _, step := range []struct {
		name   string
		args   []string
		status int
		reply  string
	}{
		{"PLAIN over TLS", as("alice@example.org", append([]string{"--tls"}, auth("PLAIN", "secret")...)...), 0, "<~  250 "},
		{"LOGIN over TLS", as("alice@example.org", append([]string{"--tls"}, auth("LOGIN", "secret")...)...), 0, "<~  250 "},
		// Not offered before STARTTLS: swaks gives up.
		{"AUTH without TLS", as("alice@example.org", auth("PLAIN", "secret")...), 28, "*** Host did not advertise authentication"},
		{"wrong password", as("alice@example.org", append([]string{"--tls"}, auth("PLAIN", "wrong")...)...), 28, "<~* 535 5.7.8 "},
		{"relay without AUTH", as("alice@example.org", "--tls"), 24, "<~* 530 5.7.0 "},
		{"sender-login mismatch", as("mallory@example.org", append([]string{"--tls"}, auth("PLAIN", "secret")...)...), 24, "<~* 553 5.7.1 "},
	} {
		status, out := swaks(t, sub, step.args...)
		if status != step.status || !strings.Contains(out, step.reply) {
			t.Errorf("%s: swaks exit %d, want %d with %q:\n%s", step.name, status, step.status, step.reply, out)
		}
	}
	// A client that sends AUTH in the clear anyway is refused by go-smtp
	// with 523 5.7.10 (RFC 4954 §4 names 538 5.7.11 for this; go-smtp
	// v0.25 uses its own code), and its credentials are not checked.
	c, err := net.Dial("tcp", sub)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := textproto.NewConn(c)
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	tc.PrintfLine("EHLO client.example.org")
	if _, _, err := tc.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	tc.PrintfLine("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00secret")))
	if code, msg, _ := tc.ReadResponse(235); code != 523 || !strings.HasPrefix(msg, "5.7.10") {
		t.Errorf("AUTH in the clear: %d %s, want 523 5.7.10", code, msg)
	}
	if !strings.Contains(logs.String(), "authentication failed") {
		t.Errorf("no failed authentication logged for the wrong password")
	}

	if n := len(delivered(t, maildir)); n != 2 {
		t.Errorf("%d messages delivered, want 2", n)
	}
}

// TestSubmissionAuthFailureLimit: with -limit-auth-fail 3/1m, the third
// wrong password gets 535 then 421 and the connection closes; the next
// AUTH, even with the right password, gets 454 4.7.0.
func TestSubmissionAuthFailureLimit(t *testing.T) {
	needTool(t, "swaks", "apt-get install swaks")
	sub, _, _ := startSubmission(t, "-limit-auth-fail", "3/1m")
	try := func(pass string) (int, string) {
		return swaks(t, sub, "--tls", "--helo", "client.example.org", "--from", "alice@example.org", "--to", "carol@example.com",
			"--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", pass)
	}
	for i := 1; i <= 2; i++ {
		if status, out := try("wrong"); status != 28 || !strings.Contains(out, "<~* 535 5.7.8 ") || strings.Contains(out, "421 ") {
			t.Errorf("wrong password %d: swaks exit %d, want 28 with 535 5.7.8 only:\n%s", i, status, out)
		}
	}
	// swaks reads the 421 as the reply to its QUIT.
	if status, out := try("wrong"); status != 28 || !strings.Contains(out, "<~* 535 5.7.8 ") || !strings.Contains(out, "<~* 421 4.7.0 mx.example.net Too many failed authentication attempts") {
		t.Errorf("wrong password 3: swaks exit %d, want 28 with 535 5.7.8 then 421 4.7.0:\n%s", status, out)
	}
	if status, out := try("secret"); status != 28 || !strings.Contains(out, "<~* 454 4.7.0 ") {
		t.Errorf("right password after the limit: swaks exit %d, want 28 with 454 4.7.0:\n%s", status, out)
	}
}

// writeClientCert makes a self-signed client certificate, writes it and
// its key as PEM files into dir, and returns their paths and fingerprint.
func writeClientCert(t *testing.T, dir, name string) (certFile, keyFile, fp string) {
	t.Helper()
	tc, _, err := tlsConfig("", "", name)
	if err != nil {
		t.Fatal(err)
	}
	c := tc.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	cert, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, relay.Fingerprint(cert)
}

// TestSubmissionClientCert: a client whose certificate is in -relay-certs
// relays without AUTH; one with another certificate, or none, is refused.
func TestSubmissionClientCert(t *testing.T) {
	needTool(t, "swaks", "apt-get install swaks")
	dir := t.TempDir()
	cert, key, fp := writeClientCert(t, dir, "relay.example.org")
	otherCert, otherKey, _ := writeClientCert(t, dir, "other.example.org")
	list := filepath.Join(dir, "relay-certs")
	os.WriteFile(list, []byte("# allowed\n"+fp+"\n"), 0o600)
	sub, maildir, _ := startSubmission(t, "-relay-certs", list)
	args := []string{"--tls", "--helo", "relay.example.org", "--from", "app@example.org", "--to", "carol@example.com"}
	if status, out := swaks(t, sub, append(args, "--tls-cert", cert, "--tls-key", key)...); status != 0 {
		t.Errorf("listed client certificate: swaks exit %d, want 0:\n%s", status, out)
	}
	if status, out := swaks(t, sub, append(args, "--tls-cert", otherCert, "--tls-key", otherKey)...); status != 24 || !strings.Contains(out, "<~* 530 5.7.0 ") {
		t.Errorf("unlisted client certificate: swaks exit %d, want 24 with 530 5.7.0:\n%s", status, out)
	}
	if status, out := swaks(t, sub, args...); status != 24 || !strings.Contains(out, "<~* 530 5.7.0 ") {
		t.Errorf("no client certificate: swaks exit %d, want 24 with 530 5.7.0:\n%s", status, out)
	}
	if n := len(delivered(t, maildir)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}
