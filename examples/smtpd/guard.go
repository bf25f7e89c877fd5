package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// guardListener runs the connect stage on every connection before go-smtp
// sees it: go-smtp writes its banner as soon as Accept returns and has no
// connect hook (go-smtp#130), so a client the policy refuses must be
// answered here. Each connection is judged in its own goroutine, so a slow
// DNS lookup holds up only its own client.
type guardListener struct {
	net.Listener
	srv   *Server
	ready chan accepted
	done  chan struct{}
	once  sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// guardConn is a connection that passed the connect stage, with the
// results go-smtp's session picks up at HELO.
type guardConn struct {
	net.Conn
	ip      netip.Addr
	results []verdict.Result
}

// Listen wraps ln so that the connect stage runs before the banner.
func (s *Server) Listen(ln net.Listener) net.Listener {
	g := &guardListener{Listener: ln, srv: s, ready: make(chan accepted), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *guardListener) loop() {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			select {
			case g.ready <- accepted{err: err}:
			case <-g.done:
				return
			}
			if isTemporary(err) {
				continue
			}
			return
		}
		go g.judge(c)
	}
}

// isTemporary reports an accept error worth retrying (EMFILE and the like);
// go-smtp's Serve sleeps between retries.
func isTemporary(err error) bool {
	te, ok := err.(interface{ Temporary() bool })
	return ok && te.Temporary()
}

func (g *guardListener) judge(c net.Conn) {
	vs := verdict.Session{IP: remoteIP(c)}
	d := g.srv.Policy.Evaluate(context.Background(), &vs, verdict.Connect)
	if d.Action >= verdict.TempFail {
		g.srv.log("connect", &vs, d)
		g.refuse(c, d)
		return
	}
	select {
	case g.ready <- accepted{c: &guardConn{Conn: c, ip: vs.IP, results: vs.Results}}:
	case <-g.done:
		c.Close()
	}
}

// refuse answers a client the policy will not talk to. A temporary refusal
// is "421" and the connection closes (RFC 5321 §3.8). A permanent one is
// "554" in place of the banner; the client may then only QUIT, and any
// other command gets "503" (RFC 5321 §3.1) until it does, gives up, or
// the short deadline passes.
func (g *guardListener) refuse(c net.Conn, d verdict.Decision) {
	defer c.Close()
	timeout := g.srv.Timeout
	if timeout <= 0 || timeout > 30*time.Second {
		timeout = 30 * time.Second
	}
	c.SetDeadline(time.Now().Add(timeout))
	if d.Action == verdict.TempFail {
		fmt.Fprintf(c, "421 %s %s %s\r\n", enhancedText(d, 4), g.srv.Hostname, d.Message)
		return
	}
	if _, err := fmt.Fprintf(c, "554 %s %s\r\n", enhancedText(d, 5), d.Message); err != nil {
		return
	}
	r := bufio.NewReaderSize(c, 1024)
	for range 10 {
		line, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
		if cmd, _, _ := strings.Cut(strings.TrimSpace(string(line)), " "); strings.EqualFold(cmd, "QUIT") {
			fmt.Fprintf(c, "221 2.0.0 %s closing connection\r\n", g.srv.Hostname)
			return
		}
		fmt.Fprintf(c, "503 5.5.1 Bad sequence of commands: only QUIT is accepted\r\n")
	}
}

// enhancedText is the decision's enhanced code if it is of the given class.
func enhancedText(d verdict.Decision, class int) string {
	e := enhanced(d.Enhanced, class*100)
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}

func (g *guardListener) Accept() (net.Conn, error) {
	select {
	case a := <-g.ready:
		return a.c, a.err
	case <-g.done:
		return nil, net.ErrClosed
	}
}

func (g *guardListener) Close() error {
	err := net.ErrClosed
	g.once.Do(func() {
		close(g.done)
		err = g.Listener.Close()
	})
	return err
}
