package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/mtaguard/mtaguard/limit"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/verdict"
)

// loadUsers reads a file of "user:bcrypt-hash" lines (htpasswd -B's format;
// blank lines and lines starting with # are skipped).
func loadUsers(name string) (map[string][]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	users := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if _, err := bcrypt.Cost([]byte(hash)); !ok || user == "" || err != nil {
			return nil, fmt.Errorf("%s:%d: want user:bcrypt-hash", name, n)
		}
		users[user] = []byte(hash)
	}
	return users, sc.Err()
}

// loadFingerprints reads a -relay-certs file: one certificate fingerprint
// a line (SHA-256, hex, with or without colons, as "openssl x509 -noout
// -fingerprint -sha256" prints it after its "=").
func loadFingerprints(name string) ([]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var fps []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if _, after, ok := strings.Cut(line, "="); ok {
			line = after
		}
		if line != "" && line[0] != '#' {
			fps = append(fps, line)
		}
	}
	return fps, nil
}

// requestClientCerts makes c ask clients for a certificate without
// requiring one; with a -client-ca file, a certificate given must be
// signed by one of its CAs. Without, the handshake still proves that the
// client holds the certificate's key, which is what a fingerprint in
// -relay-certs pins.
func requestClientCerts(c *tls.Config, caFile string) error {
	c.ClientAuth = tls.RequestClientCert
	if caFile == "" {
		return nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	c.ClientCAs = x509.NewCertPool()
	if !c.ClientCAs.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificates", caFile)
	}
	c.ClientAuth = tls.VerifyClientCertIfGiven
	return nil
}

// tlsConfig loads the certificate of -tls-cert and -tls-key, or, when both
// are empty, makes a self-signed one for hostname (selfSigned is then true:
// clients cannot verify it, which only suits tests).
func tlsConfig(certFile, keyFile, hostname string) (c *tls.Config, selfSigned bool, err error) {
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, false, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, false, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hostname},
		DNSNames:     []string{hostname},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, false, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, true, nil
}

// submissionPolicy is p with its relay check replaced by submission's
// (RFC 6409 §4.3): only an authenticated client may send, only over TLS,
// and only as itself; or a client whose TLS certificate's fingerprint is
// in clientCerts (Postfix's permit_tls_clientcerts).
func submissionPolicy(p *verdict.Policy, clientCerts []string) *verdict.Policy {
	sp := *p
	sp.Checks = nil
	for _, c := range p.Checks {
		if c.Name() == relay.Name {
			continue
		}
		sp.Checks = append(sp.Checks, c)
	}
	sp.Checks = append(sp.Checks, relay.New(&relay.Policy{RequireAuth: true, TLSAuthOnly: true, SenderLogin: senderLogin, ClientCerts: clientCerts}))
	// The score thresholds are for strangers' mail, not our users'.
	sp.Exempt = func(s *verdict.Session) bool { return s.AuthUser != "" }
	return &sp
}

// senderLogin lets a user send as its own address only: the login is the
// address (Postfix's smtpd_sender_login_maps with one entry per user).
func senderLogin(user, sender string) bool {
	ul, ud, ok1 := strings.Cut(user, "@")
	sl, sd, ok2 := strings.Cut(sender, "@")
	return ok1 && ok2 && ul == sl && strings.EqualFold(ud, sd)
}

// submitter is a session of the submission listener: a mailbox whose
// clients authenticate with AUTH PLAIN or LOGIN against the users file.
// go-smtp offers AUTH only after STARTTLS (Server.AllowInsecureAuth false).
type submitter struct {
	*mailbox
	conn *smtp.Conn
	user string
}

func (s *submitter) facts() limit.Facts {
	return limit.Facts{IP: remoteIP(s.conn.Conn())}
}

// remoteIP is the client's address.
func remoteIP(c net.Conn) netip.Addr {
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

func (s *submitter) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *submitter) Auth(mech string) (sasl.Server, error) {
	if l := s.srv.AuthLimit; l != nil {
		// RFC 4954 §6: 454 4.7.0 to a client whose failures are over the
		// limit, before it can try another password.
		if r := l.Evaluate(context.Background(), s.facts(), time.Now()); r.Action >= verdict.TempFail {
			return nil, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failed authentication attempts, try again later"}
		}
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return errBadCredentials
			}
			return s.login(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{auth: s.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

var errBadCredentials = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

func (s *submitter) login(user, pass string) error {
	hash, ok := s.srv.Users[user]
	if !ok {
		// Spend the time a known user costs, so that timing does not
		// tell which users exist.
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !ok {
		s.srv.logger().Warn("authentication failed", "user", verdict.Printable(user))
		if l := s.srv.AuthLimit; l != nil {
			if r := l.Report(context.Background(), limit.AuthFailures, s.facts(), time.Now()); r.Action >= verdict.TempFail {
				// The failure that fills the counter: the client gets
				// its 535, then 421, and the connection closes (go-smtp
				// has no way to say "reply, then close").
				c := s.conn.Conn()
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "535 5.7.8 %s\r\n421 4.7.0 %s Too many failed authentication attempts, closing connection\r\n", errBadCredentials.Message, s.srv.Hostname)
				c.Close()
				s.srv.logger().Warn("authentication failure limit", "ip", s.facts().IP.String(), "reason", r.Reason)
			}
		}
		return errBadCredentials
	}
	s.user = user
	return nil
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)

// AuthUser is the authenticated user, for the policy (gosmtp.AuthUserer).
func (s *submitter) AuthUser() string { return s.user }

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): the client answers "Username:" and
// "Password:" challenges. go-sasl has only its client side.
type loginServer struct {
	auth  func(user, pass string) error
	user  string
	state int
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.state {
	case 0:
		l.state = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(response)
		l.state = 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.auth(l.user, string(response))
	}
	return nil, true, errors.New("unexpected client response")
}
