package gosmtp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"net"
	"net/smtp"
	"sync"
	"testing"
	"time"

	gosmtpserver "github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/verdict"
)

func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCert: after STARTTLS with a client certificate, the policy
// sees its fingerprint in Session.ClientCert; without one, "".
func TestClientCert(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	who := check{"who", verdict.Mail, func(s *verdict.Session) verdict.Result {
		mu.Lock()
		seen = append(seen, s.ClientCert)
		mu.Unlock()
		return verdict.Result{}
	}}
	p := &verdict.Policy{Checks: []verdict.Check{who}}
	o := &gosmtp.Options{Hostname: "mx.example.net"}
	s := gosmtpserver.NewServer(gosmtp.Wrap(&inbox{}, p, o))
	s.Domain = o.Hostname
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, "mx.example.net")}, ClientAuth: tls.RequestClientCert}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(gosmtp.Listen(ln, p, o))
	defer s.Close()

	client := selfSigned(t, "client.example.org")
	sum := sha256.Sum256(client.Certificate[0])
	for _, tc := range []struct {
		certs []tls.Certificate
		want  string
	}{{[]tls.Certificate{client}, hex.EncodeToString(sum[:])}, {nil, ""}} {
		c, err := smtp.Dial(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, Certificates: tc.certs}); err != nil {
			t.Fatal(err)
		}
		c.Mail("alice@example.org")
		c.Quit()
		mu.Lock()
		got := seen[len(seen)-1]
		mu.Unlock()
		if got != tc.want {
			t.Errorf("ClientCert %q, want %q", got, tc.want)
		}
	}
}
