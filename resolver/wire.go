package resolver

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// wire sends queries to recursive servers: UDP with EDNS0 first, TCP when
// the answer is truncated, each server in turn, for a number of rounds.
type wire struct {
	servers  []string
	timeout  time.Duration
	attempts int
	stats    *counters
}

func (w *wire) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	var lastErr error
	var lastMsg *dns.Msg
	for round := 0; round < w.attempts; round++ {
		for _, server := range w.servers {
			m, err := w.one(ctx, server, q)
			switch {
			case err != nil:
				lastErr = err
				if ctx.Err() != nil {
					// The caller gave up: say so (the socket's
					// error would be a timeout).
					return nil, ctx.Err()
				}
			case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
				return m, nil
			default:
				// SERVFAIL, REFUSED and the like: another server, or
				// the next round, may do better.
				lastMsg = m
			}
		}
	}
	if lastMsg != nil {
		return lastMsg, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no answer")
	}
	return nil, lastErr
}

// one asks one server, over UDP and, if the answer is truncated, over TCP.
func (w *wire) one(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	// A fresh random ID for every message sent (RFC 5452 §9.2).
	q = q.Copy()
	q.Id = dns.Id()
	m, err := w.udp(ctx, server, q)
	if err != nil {
		return nil, err
	}
	if !m.Truncated {
		return m, nil
	}
	q.Id = dns.Id()
	return w.tcp(ctx, server, q)
}

func (w *wire) udp(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// Read up to 4096 bytes, though the query offers 1232: a server that
	// sends more than it was offered is still understood.
	co := &dns.Conn{Conn: c, UDPSize: 4096}
	w.stats.sent.Add(1)
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		m, err := co.ReadMsg()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			// Garbage that does not parse: keep waiting for the real
			// answer until the deadline.
			continue
		}
		// An answer with another ID or question is not ours: a late
		// answer to an earlier query, or a spoofing attempt (RFC 5452 §9.1).
		if !matches(q, m) {
			continue
		}
		return m, nil
	}
}

func (w *wire) tcp(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: "tcp", Timeout: w.timeout}
	w.stats.sent.Add(1)
	m, _, err := c.ExchangeContext(ctx, q, server)
	if err != nil {
		return nil, err
	}
	if !matches(q, m) {
		return nil, errors.New("answer does not match the question")
	}
	return m, nil
}

func matches(q, m *dns.Msg) bool {
	if m.Id != q.Id || !m.Response || len(m.Question) != 1 {
		return false
	}
	a, b := m.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
