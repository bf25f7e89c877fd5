package limit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Lease is a connection's hold on its concurrency counters, from Acquire
// to Release. A Lease not renewed within the Checker's Options.Lease
// expires by itself, so a session that ends without Release (a crash, a
// lost connection to the store) frees its slot in the end. The nil *Lease
// holds nothing; its methods do nothing.
type Lease struct {
	c    *Checker
	name string
	keys []Key
	mu   sync.Mutex
	done bool
}

// Acquire makes the connection-time decision for a new connection from
// f.IP at time now, in one store operation: it takes a lease on every
// Connections rule's counter and counts the connection on every Connects
// rule. Over a limit it takes nothing and the result demands TempFail
// with 421 4.7.0: the server answers the connection with it and closes
// (RFC 5321 §3.8 allows 421 in place of the greeting). Otherwise the
// caller holds the returned Lease until the connection ends and then
// releases it.
//
// When the store fails, the result is a TempError that lets the client
// in, with a nil Lease, unless Options.Defer.
func (c *Checker) Acquire(ctx context.Context, f Facts, now time.Time) (*Lease, verdict.Result) {
	if c.st == nil {
		return nil, c.storeFailed(errNoStore)
	}
	l := &Lease{c: c, name: leaseName()}
	var ops []Op
	for i := range c.rules {
		r := &c.rules[i]
		if r.Counter != Connections && r.Counter != Connects {
			continue
		}
		k, ok := r.key(&f)
		if !ok {
			continue
		}
		if r.Counter == Connects {
			ops = append(ops, Op{Key: k, Kind: Take, Rate: r.Rate, N: 1})
			continue
		}
		ops = append(ops, Op{Key: k, Kind: Acquire, Max: r.Max, Lease: l.name, TTL: c.lease})
		l.keys = append(l.keys, k)
	}
	if err := c.st.Do(ctx, now, ops); err != nil {
		return nil, c.storeFailed(err)
	}
	res := c.result(ops, nil, false)
	if res.Action >= verdict.TempFail {
		var held []Op
		for _, op := range ops {
			if op.Kind == Acquire && op.OK {
				held = append(held, Op{Key: op.Key, Kind: Release, Lease: l.name})
			}
		}
		if len(held) > 0 {
			_ = c.st.Do(ctx, now, held) // what is not released expires
		}
		return nil, res
	}
	return l, res
}

// leaseName returns a name no other connection's lease has.
func leaseName() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Renew extends the lease to the Checker's lease time from now.
func (l *Lease) Renew(ctx context.Context, now time.Time) error {
	if l == nil || len(l.keys) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return errReleased
	}
	ops := make([]Op, len(l.keys))
	for i, k := range l.keys {
		ops[i] = Op{Key: k, Kind: Acquire, Max: 1 << 30, Lease: l.name, TTL: l.c.lease}
	}
	return l.c.st.Do(ctx, now, ops)
}

var errReleased = errors.New("limit: lease released")

// Release gives the lease back. Calling it again does nothing.
func (l *Lease) Release(ctx context.Context, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || len(l.keys) == 0 {
		l.done = true
		return nil
	}
	l.done = true
	ops := make([]Op, len(l.keys))
	for i, k := range l.keys {
		ops[i] = Op{Key: k, Kind: Release, Lease: l.name}
	}
	return l.c.st.Do(ctx, now, ops)
}

// Listen returns a listener that applies c's Connections and Connects
// rules to each connection l accepts (see Acquire), before the server
// sees it: a connection over a limit is answered "421 4.7.0 ..." and
// closed, and Accept goes on to the next. The connections it returns are
// *Conn: closing one releases its lease, and reading or writing renews
// the lease when half of it has passed.
//
// The client address is taken from the accepted connection's RemoteAddr,
// so a listener that learns the real client address (package screen,
// behind a proxy) belongs inside this one. The decision is made in
// Accept: with a Redis store, one round trip per connection.
func Listen(l net.Listener, c *Checker) net.Listener {
	return &listener{Listener: l, c: c}
}

type listener struct {
	net.Listener
	c *Checker
}

// storeTimeout bounds a decision made by Listen or a Conn.
const storeTimeout = 5 * time.Second

func (ln *listener) Accept() (net.Conn, error) {
	for {
		conn, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrIP(conn.RemoteAddr())
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		lease, res := ln.c.Acquire(ctx, Facts{IP: ip}, ln.c.now())
		cancel()
		if res.Action >= verdict.TempFail {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			code := res.Code
			if code == 0 || code/100 != 4 {
				code = 421
			}
			conn.Write([]byte(replyLine(code, res.Enhanced, res.Reason)))
			conn.Close()
			continue
		}
		c := &Conn{Conn: conn, lease: lease, result: res}
		c.renewAt.Store(ln.c.now().Add(ln.c.lease / 2).UnixNano())
		return c, nil
	}
}

func replyLine(code int, enhanced, text string) string {
	if enhanced == "" {
		enhanced = "4.7.0"
	}
	return itoa3(code) + " " + enhanced + " " + verdict.Printable(text) + "\r\n"
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)})
}

// addrIP returns the IP address of a net.Addr, or the zero Addr.
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Conn is a connection that Listen let through. It holds the
// connection's lease until Close.
type Conn struct {
	net.Conn
	lease   *Lease
	result  verdict.Result
	renewAt atomic.Int64
	once    sync.Once
}

// Result returns the limit's result for the connection: Pass within the
// limits, or a TempError that let it in when the store failed.
func (c *Conn) Result() verdict.Result { return c.result }

// Results returns the results of the wrapped connection (when it has a
// Results method, as package screen's connections do) followed by c's, for
// the server to append to the session's results before it evaluates the
// Connect stage.
func (c *Conn) Results() []verdict.Result {
	var rs []verdict.Result
	if inner, ok := c.Conn.(interface{ Results() []verdict.Result }); ok {
		rs = append(rs, inner.Results()...)
	}
	return append(rs, c.result)
}

// Unwrap returns the wrapped connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

func (c *Conn) renew() {
	if c.lease == nil {
		return
	}
	now := c.lease.c.now()
	at := c.renewAt.Load()
	if now.UnixNano() < at || !c.renewAt.CompareAndSwap(at, now.Add(c.lease.c.lease/2).UnixNano()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	c.lease.Renew(ctx, now)
}

// Read reads from the connection, renewing the lease when it is due.
func (c *Conn) Read(b []byte) (int, error) {
	c.renew()
	return c.Conn.Read(b)
}

// Write writes to the connection, renewing the lease when it is due.
func (c *Conn) Write(b []byte) (int, error) {
	c.renew()
	return c.Conn.Write(b)
}

// Close closes the connection and releases its lease.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.lease == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		c.lease.Release(ctx, c.lease.c.now())
	})
	return err
}
