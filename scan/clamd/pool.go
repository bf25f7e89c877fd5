package clamd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// pool keeps idle clamd connections, each in an IDSESSION, for the next
// scans. clamd answers the commands of a session in order, numbering its
// replies from 1.
type pool struct {
	network, address string
	maxIdle          int // < 0: no pool, no IDSESSION
	idleTimeout      time.Duration

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

// conn is one connection to clamd.
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	session bool      // in an IDSESSION
	id      int       // number of the last command sent in the session
	last    time.Time // end of the last scan
}

func (p *pool) get(ctx context.Context) (c *conn, reused bool, err error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		c = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(c.last) < p.idleTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
		c.end()
	}
	usePool := p.maxIdle > 0 && !p.closed
	p.mu.Unlock()

	var d net.Dialer
	nc, err := d.DialContext(ctx, p.network, p.address)
	if err != nil {
		return nil, false, err
	}
	c = &conn{nc: nc, r: bufio.NewReaderSize(nc, 512)}
	if usePool {
		setDeadline(ctx, nc)
		if _, err := io.WriteString(nc, "zIDSESSION\x00"); err != nil {
			nc.Close()
			return nil, false, err
		}
		c.session = true
	}
	return c, false, nil
}

func (p *pool) put(c *conn) {
	if !c.session {
		c.nc.Close()
		return
	}
	c.last = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= p.maxIdle {
		c.end()
		return
	}
	p.idle = append(p.idle, c)
}

func (p *pool) close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.end()
	}
	return nil
}

// end ends the session politely and closes the connection.
func (c *conn) end() {
	if c.session {
		c.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		io.WriteString(c.nc, "zEND\x00")
	}
	c.nc.Close()
}

// scan sends message to clamd on a pooled connection and returns the
// signature it found. A pooled connection that fails before any reply
// (clamd closed it while idle, or restarted) is replaced by a fresh one,
// once.
func (p *pool) scan(ctx context.Context, message []byte) (string, error) {
	for try := 0; ; try++ {
		c, reused, err := p.get(ctx)
		if err != nil {
			return "", opError(err)
		}
		virus, replied, err := c.scan(ctx, message)
		if err == nil {
			p.put(c)
			return virus, nil
		}
		c.nc.Close()
		if reused && !replied && try == 0 && ctx.Err() == nil {
			continue
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", opError(err)
	}
}

// scan runs one INSTREAM on c. replied says whether clamd answered at all.
func (c *conn) scan(ctx context.Context, message []byte) (virus string, replied bool, err error) {
	setDeadline(ctx, c.nc)
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	werr := WriteInstream(c.nc, message)
	if werr != nil {
		// clamd may have stopped reading because the stream was over its
		// limit and said so before closing; read what it said.
		c.nc.SetReadDeadline(time.Now().Add(time.Second))
	}
	line, rerr := readReply(c.r)
	if rerr != nil {
		if werr != nil {
			return "", false, werr
		}
		return "", false, rerr
	}
	id, virus, err := ParseReply(line)
	if err != nil {
		return "", true, err
	}
	if werr != nil {
		return "", true, werr
	}
	if c.session {
		c.id++
		if id != c.id {
			return "", true, fmt.Errorf("clamd: reply to command %d, expected %d", id, c.id)
		}
	} else if id != 0 {
		return "", true, fmt.Errorf("clamd: reply with session id %d outside a session", id)
	}
	return virus, true, nil
}

// setDeadline applies ctx's deadline to nc.
func setDeadline(ctx context.Context, nc net.Conn) {
	d, _ := ctx.Deadline()
	nc.SetDeadline(d)
}

// opError shortens a *net.OpError to its operation and cause, without the
// addresses: the text ends up in a reason.
func opError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("clamd %s: %w", op.Op, op.Err)
	}
	return err
}
