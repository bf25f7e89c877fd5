package gosmtp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/verdict"
)

// Listen wraps l so that every connection is capped and judged at the
// connect stage before go-smtp sees it: go-smtp writes its banner as soon
// as Accept returns and has no connect hook, so a client the policy or a
// cap refuses must be answered here.
//
//   - Over o.MaxConns connections at once, or o.MaxConnsPerClient from one
//     client network, a client gets "421 4.7.0 <hostname> Too many
//     connections, try again later" and is disconnected (RFC 5321 §3.8).
//   - A client the policy refuses for good gets "554 5.7.1 <reasons>" in
//     place of the banner, then "503 5.5.1" to anything but QUIT (RFC
//     5321 §3.1) until it quits, gives up or o.Timeout passes; a client
//     the policy defers gets "421" and is disconnected.
//
// Each connection is judged in its own goroutine, so a slow DNS lookup
// holds up only its own client. Wrap's sessions pick up the connect
// stage's results from the connections Listen returns, so p should be the
// policy given to Wrap. A nil p runs no connect check (the caps still
// hold).
func Listen(l net.Listener, p *verdict.Policy, o *Options) net.Listener {
	if p == nil {
		p = &verdict.Policy{}
	}
	if o == nil {
		o = &Options{}
	}
	g := &listener{Listener: l, p: p, o: o, ready: make(chan accepted), done: make(chan struct{}), perClient: map[netip.Prefix]int{}}
	go g.loop()
	return g
}

// ConnResults is implemented by connections of listeners that judge a
// client before the SMTP dialogue (package screen's and package limit's):
// Listen appends their Results to the session's results before it
// evaluates the connect stage, so that a policy can score what they found
// instead of refusing outright. Wrap Listen around such a listener.
type ConnResults interface {
	Results() []verdict.Result
}

type listener struct {
	net.Listener
	p     *verdict.Policy
	o     *Options
	ready chan accepted
	done  chan struct{}
	once  sync.Once

	mu        sync.Mutex
	conns     int
	perClient map[netip.Prefix]int
}

type accepted struct {
	c   net.Conn
	err error
}

// conn is a connection that Listen let in, with the results of its
// connect stage for the session to pick up at HELO.
type conn struct {
	net.Conn
	ip      netip.Addr
	results []verdict.Result
	once    sync.Once
	release func()
	filter  *chunkFilter // nil with Options.Chunking
}

// Read reads what the client sends, through the BDAT filter unless
// Options.Chunking is set.
func (c *conn) Read(p []byte) (int, error) {
	if c.filter == nil {
		return c.Conn.Read(p)
	}
	return c.filter.Read(p)
}

// Write writes a reply of go-smtp's, without the CHUNKING line unless
// Options.Chunking is set.
func (c *conn) Write(p []byte) (int, error) {
	if c.filter == nil {
		return c.Conn.Write(p)
	}
	if hide(p) {
		return len(p), nil
	}
	c.filter.wrote(p)
	return c.Conn.Write(p)
}

// Close closes the connection and frees its place under the caps.
func (c *conn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

func (g *listener) loop() {
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

// client is the network a client address counts under for
// MaxConnsPerClient.
func (g *listener) client(ip netip.Addr) netip.Prefix {
	bits := orDefault(g.o.ClientBits4, 32)
	if !ip.Is4() {
		bits = orDefault(g.o.ClientBits6, 64)
	}
	p, _ := ip.Prefix(min(bits, ip.BitLen()))
	return p
}

// admit counts a new connection from ip, or reports that a cap is reached.
// The returned function gives the place back.
func (g *listener) admit(ip netip.Addr) (func(), bool) {
	maxAll := orDefault(g.o.MaxConns, 1000)
	maxOne := orDefault(g.o.MaxConnsPerClient, 20)
	key := g.client(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	if maxAll > 0 && g.conns >= maxAll || maxOne > 0 && g.perClient[key] >= maxOne {
		return nil, false
	}
	g.conns++
	g.perClient[key]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.conns--
		if g.perClient[key]--; g.perClient[key] <= 0 {
			delete(g.perClient, key)
		}
	}, true
}

func (g *listener) judge(c net.Conn) {
	ip := remoteIP(c)
	release, ok := g.admit(ip)
	if !ok {
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "421 4.7.0 %s Too many connections, try again later\r\n", g.o.hostname())
		c.Close()
		g.o.logger().Info("connection refused", "ip", ip.String(), "reason", "too many connections")
		return
	}
	vs := verdict.Session{IP: ip}
	if rc, ok := c.(ConnResults); ok {
		// What a listener underneath found (package screen's findings,
		// package limit's counts) is scored by the policy with the
		// connect stage's own results.
		vs.Results = append(vs.Results, rc.Results()...)
	}
	d := g.p.Evaluate(context.Background(), &vs, verdict.Connect)
	if d.Action >= verdict.TempFail {
		g.o.log(verdict.Connect, &vs, d)
		g.refuse(c, d)
		release()
		return
	}
	select {
	case g.ready <- accepted{c: g.wrap(c, ip, vs.Results, release)}:
	case <-g.done:
		c.Close()
		release()
	}
}

func (g *listener) wrap(c net.Conn, ip netip.Addr, results []verdict.Result, release func()) *conn {
	lc := &conn{Conn: c, ip: ip, results: results, release: release}
	if !g.o.Chunking {
		lc.filter = &chunkFilter{r: bufio.NewReaderSize(c, maxCommandLine), w: c}
	}
	return lc
}

// refuse answers a client the policy will not talk to. A temporary refusal
// is "421" and the connection closes (RFC 5321 §3.8). A permanent one is
// "554" in place of the banner; the client may then only QUIT, and any
// other command gets "503" (RFC 5321 §3.1) until it does, gives up, or
// the short deadline passes.
func (g *listener) refuse(c net.Conn, d verdict.Decision) {
	defer c.Close()
	host := g.o.hostname()
	c.SetDeadline(time.Now().Add(orDefault(g.o.Timeout, 30*time.Second)))
	if d.Action == verdict.TempFail {
		fmt.Fprintf(c, "421 %s %s %s\r\n", enhancedText(d, 4), host, d.Message)
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
			fmt.Fprintf(c, "221 2.0.0 %s closing connection\r\n", host)
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

func (g *listener) Accept() (net.Conn, error) {
	select {
	case a := <-g.ready:
		return a.c, a.err
	case <-g.done:
		return nil, net.ErrClosed
	}
}

func (g *listener) Close() error {
	err := net.ErrClosed
	g.once.Do(func() {
		close(g.done)
		err = g.Listener.Close()
	})
	return err
}

// ListenAndServe listens on the TCP address addr and serves s on it
// through Listen, so that the connect stage and the connection caps run
// before the banner: the go-smtp counterpart of http.ListenAndServe. s is
// normally a server of Wrap(be, p, o) with the same p and o.
func ListenAndServe(s *smtp.Server, addr string, p *verdict.Policy, o *Options) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(Listen(l, p, o))
}
