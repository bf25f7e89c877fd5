package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The probed servers of the tests: real SMTP servers on loopback addresses
// 127.0.0.x, each on a port of its own.

// need returns the path of an outside program, or skips the test without
// it (fails it when MTAGUARD_REQUIRE_TOOLS=1, as in CI).
func need(t testing.TB, name string, dirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		if p := d + "/" + name; fileExists(p) {
			return p
		}
	}
	if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s not installed (MTAGUARD_REQUIRE_TOOLS=1)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// listen opens a listener on ip (127.0.0.x) and a free port.
func listen(t testing.TB, ip string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// goServer is a go-smtp server that knows some users.
type goServer struct {
	addr     string
	users    map[string]bool
	catchAll bool
	mailErr  error // the reply to every MAIL, when set
	rcptErr  error // the reply to every RCPT, when set
	rcpts    atomic.Int64
	sessions atomic.Int64
	// delay is waited before each RCPT reply, to keep probes in flight.
	delay time.Duration
	// block, when set, is waited for before each RCPT reply.
	block chan struct{}
}

// startGo starts g on ip, with TLS when withTLS.
func (g *goServer) start(t testing.TB, ip string, withTLS bool) *goServer {
	t.Helper()
	l := listen(t, ip)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		g.sessions.Add(1)
		return &goSession{g: g}, nil
	}))
	s.Domain = "mx.test"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	if withTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	g.addr = l.Addr().String()
	return g
}

type goSession struct{ g *goServer }

func (s *goSession) AuthMechanisms() []string { return nil }
func (s *goSession) Mail(from string, _ *smtp.MailOptions) error {
	return s.g.mailErr
}
func (s *goSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.g.rcpts.Add(1)
	if s.g.block != nil {
		<-s.g.block
	}
	time.Sleep(s.g.delay)
	if s.g.rcptErr != nil {
		return s.g.rcptErr
	}
	if s.g.catchAll || s.g.users[strings.ToLower(to)] {
		return nil
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected:\nUser unknown in local recipient table"}
}
func (s *goSession) Data(r io.Reader) error {
	return errors.New("no DATA in a probe")
}
func (s *goSession) Reset()        {}
func (s *goSession) Logout() error { return nil }

var (
	certOnce sync.Once
	cert     tls.Certificate
)

// selfSigned returns a self-signed certificate for "mx.test".
func selfSigned(t testing.TB) tls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "mx.test"},
			DNSNames:     []string{"mx.test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return cert
}

// scripted starts a server on ip that runs script on each connection.
func scripted(t testing.TB, ip string, script func(net.Conn)) string {
	t.Helper()
	l := listen(t, ip)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				script(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// silent accepts connections and never says a word, until the test ends.
func silent(t testing.TB, ip string) string {
	done := make(chan struct{})
	addr := scripted(t, ip, func(c net.Conn) {
		<-done
	})
	// Registered after scripted's cleanup, so it runs first.
	t.Cleanup(func() { close(done) })
	return addr
}

// smtpSink starts Postfix's smtp-sink on ip with the given options, and
// returns its address.
func smtpSink(t testing.TB, ip string, opts ...string) string {
	t.Helper()
	path := need(t, "smtp-sink", "/usr/sbin", "/usr/lib/postfix/sbin")
	for try := 0; ; try++ {
		l := listen(t, ip)
		addr := l.Addr().String()
		l.Close()
		args := append([]string{}, opts...)
		if os.Geteuid() == 0 {
			args = append(args, "-u", "nobody")
		}
		args = append(args, addr, "64")
		cmd := exec.Command(path, args...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done })
		if waitListening(addr, done) {
			return addr
		}
		if try == 2 {
			t.Fatalf("smtp-sink did not start: %s", out.String())
		}
	}
}

// waitListening waits until something accepts connections on addr, or
// exited is closed.
func waitListening(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func hostPort(addr string) (string, int) {
	h, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return h, n
}
