package gosmtp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	gosmtpserver "github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/verdict"
)

// findingListener stands for a listener that judges clients before the
// dialogue (package screen): its connections carry a Result.
type findingListener struct {
	net.Listener
	r verdict.Result
}

type findingConn struct {
	net.Conn
	r verdict.Result
}

func (c findingConn) Results() []verdict.Result { return []verdict.Result{c.r} }

func (l findingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return findingConn{c, l.r}, nil
}

// serveOn serves a gosmtp-wrapped go-smtp server on gosmtp.Listen(l).
func serveOn(t *testing.T, l net.Listener, p *verdict.Policy) string {
	t.Helper()
	o := &gosmtp.Options{Hostname: "mx.example.net"}
	s := gosmtpserver.NewServer(gosmtp.Wrap(&inbox{}, p, o))
	s.Domain = o.Hostname
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan error, 1)
	go func() { done <- s.Serve(gosmtp.Listen(l, p, o)) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return l.Addr().String()
}

func TestConnResultsScoredAtConnect(t *testing.T) {
	p := &verdict.Policy{Reject: 5}
	found := verdict.Result{Check: "screen", Status: verdict.Fail, Score: 6, Reason: "pregreet talker"}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, findingListener{ln, found}, p)
	if _, b := dial(t, addr); !strings.HasPrefix(b, "554 5.7.1") || !strings.Contains(b, "pregreet talker") {
		t.Fatalf("banner with a finding scored over Reject: %q, want 554 5.7.1 naming it", b)
	}

	// Under the threshold the finding is only scored: the client is let in.
	found.Score = 1
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = serveOn(t, findingListener{ln, found}, p)
	if _, b := dial(t, addr); !strings.HasPrefix(b, "220 ") {
		t.Fatalf("banner with a finding under Reject: %q, want 220", b)
	}
}
