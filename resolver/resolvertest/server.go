package resolvertest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server is a DNS server on 127.0.0.1, UDP and TCP on one random port,
// answering from a Resolver's zone with its faults and latency.
type Server struct {
	Addr string // "127.0.0.1:port", for resolver.Config.Servers

	udp, tcp *dns.Server
	stop     context.CancelFunc // ends the latency waits of queries in progress
	once     sync.Once
}

// NewServer starts a server for r. The caller must Close it.
func NewServer(r *Resolver) (*Server, error) {
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	// Find a port free for both UDP and TCP.
	for try := 0; try < 20; try++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// A burst of queries (a load test, a thousand sessions at once)
		// must not overflow the kernel's default receive buffer: a
		// dropped query waits out the client's timeout.
		if u, ok := pc.(*net.UDPConn); ok {
			u.SetReadBuffer(4 << 20)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	h := handler{r, ctx}
	s := &Server{
		Addr: pc.LocalAddr().String(),
		udp:  &dns.Server{PacketConn: pc, Handler: h},
		tcp:  &dns.Server{Listener: ln, Handler: h},
		stop: stop,
	}
	started := make(chan error, 2)
	s.udp.NotifyStartedFunc = func() { started <- nil }
	s.tcp.NotifyStartedFunc = func() { started <- nil }
	go func() {
		if err := s.udp.ActivateAndServe(); err != nil {
			started <- err
		}
	}()
	go func() {
		if err := s.tcp.ActivateAndServe(); err != nil {
			started <- err
		}
	}()
	for i := 0; i < 2; i++ {
		select {
		case err := <-started:
			if err != nil {
				s.Close()
				return nil, err
			}
		case <-time.After(5 * time.Second):
			s.Close()
			return nil, errors.New("resolvertest: server did not start")
		}
	}
	return s, nil
}

// MustNewServer is NewServer for tests: it panics if the server cannot start.
func MustNewServer(r *Resolver) *Server {
	s, err := NewServer(r)
	if err != nil {
		panic(err)
	}
	return s
}

// Close stops the server. Queries still waiting out the latency are
// dropped unanswered.
func (s *Server) Close() {
	s.once.Do(func() {
		s.stop()
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
}

type handler struct {
	r   *Resolver
	ctx context.Context // canceled by Close
}

func (h handler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m, f, err := h.r.query(h.ctx, q)
	if err != nil || f == Timeout {
		return
	}
	// Answer EDNS0 with EDNS0 (RFC 6891 §7), and over UDP fit the answer
	// into the size the client offered, setting TC if it does not fit.
	m.Compress = true
	size := dns.MinMsgSize
	if opt := q.IsEdns0(); opt != nil {
		size = max(size, int(opt.UDPSize()))
		m.SetEdns0(ednsSize, false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		switch f {
		case Truncate:
			t := new(dns.Msg)
			t.SetReply(q)
			t.Truncated = true
			w.WriteMsg(t)
			return
		case WrongID:
			bad := m.Copy()
			bad.Id = q.Id + 1
			w.WriteMsg(bad)
		case WrongQuestion:
			bad := m.Copy()
			bad.Question[0].Name = "spoofed." + bad.Question[0].Name
			bad.Answer = nil
			w.WriteMsg(bad)
		case Garbage:
			// The right ID, then bytes that are no question: a
			// message that does not parse.
			if b, err := m.Pack(); err == nil {
				w.Write(append(b[:12:12], bytes.Repeat([]byte{0xff}, 28)...))
			}
		}
		m.Truncate(min(size, ednsSize))
	}
	w.WriteMsg(m)
}

// ednsSize is the UDP payload size the server offers and the most it sends:
// the size DNS Flag Day 2020 recommends.
const ednsSize = 1232
