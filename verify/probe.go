package verify

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mtaguard/mtaguard/verdict"
)

// maxProbeRead bounds the bytes one probe reads from a server, TLS records
// included: a banner, two EHLO replies and four short replies need a few
// kilobytes, and a server that sends more is not answering a probe.
const maxProbeRead = 64 << 10

// outcome is what one probe of one server found.
type outcome struct {
	status verdict.Status
	reason string
	// final says the server answered for the address (a reply to RCPT),
	// so other MX hosts are not asked.
	final bool
	// tlsFailed says the TLS handshake failed: the server may be probed
	// again without STARTTLS.
	tlsFailed bool
	tls       bool // the dialogue ran under TLS
	exchanges int  // times the probe waited for the server: its round trips
}

// probe is one SMTP dialogue with one server.
type probe struct {
	conn      net.Conn
	r         *bufio.Reader
	exchanges int
}

// limitConn fails reads once n bytes have been read.
type limitConn struct {
	net.Conn
	n int
}

var errTooMuch = errors.New("server sent too much")

func (c *limitConn) Read(b []byte) (int, error) {
	if c.n <= 0 {
		return 0, errTooMuch
	}
	if len(b) > c.n {
		b = b[:c.n]
	}
	n, err := c.Conn.Read(b)
	c.n -= n
	return n, err
}

// dialogue runs the probe of address (and of the random address random,
// "" for none) against the server at addr, whose name is host, under
// ctx's deadline. useTLS allows STARTTLS.
func (c *Callout) dialogue(ctx context.Context, host string, addr netip.AddrPort, address, random string, useTLS bool) outcome {
	where := hostLabel(host, addr)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return outcome{status: verdict.TempError, reason: where + ": " + netReason(ctx, err)}
	}
	lc := &limitConn{Conn: conn, n: maxProbeRead}
	p := &probe{conn: lc, r: bufio.NewReaderSize(lc, 4096)}
	// The deadline bounds every read and write; closing on cancellation
	// ends a blocked one at once.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		stop()
		p.conn.Close()
	}()
	o := p.run(ctx, c, host, address, random, useTLS)
	o.exchanges = p.exchanges
	if o.reason != "" {
		o.reason = where + ": " + o.reason
	}
	return o
}

func (p *probe) run(ctx context.Context, c *Callout, host, address, random string, useTLS bool) outcome {
	temp := func(what string, err error) outcome {
		return outcome{status: verdict.TempError, reason: what + ": " + netReason(ctx, err)}
	}
	refused := func(what string, r reply) outcome {
		return outcome{status: verdict.TempError, reason: what + " answered " + verdict.Printable(r.String())}
	}
	banner, err := p.read()
	if err != nil {
		return temp("reading the banner", err)
	}
	if banner.code != 220 {
		return refused("the banner", banner)
	}
	ext, r, err := p.hello(c.helo())
	if err != nil {
		return temp("EHLO", err)
	}
	if ext == nil {
		return refused("EHLO", r)
	}
	var inTLS bool
	if _, ok := ext["STARTTLS"]; ok && useTLS {
		r, err := p.cmd("STARTTLS\r\n")
		if err != nil {
			return temp("STARTTLS", err)
		}
		// Anything but 220 leaves the dialogue in plain text (RFC 3207
		// §4: the server may refuse; the client may go on).
		if r.code == 220 {
			name := host
			if _, err := netip.ParseAddr(name); err == nil {
				name = ""
			}
			// Opportunistic TLS (RFC 7435): the probe should look like
			// the real mail it stands for, and nothing in it is secret,
			// so the certificate is not verified.
			tc := tls.Client(p.conn, &tls.Config{ServerName: name, InsecureSkipVerify: true})
			if err := tc.HandshakeContext(ctx); err != nil {
				o := temp("TLS handshake", err)
				o.tlsFailed = true
				return o
			}
			p.exchanges++
			p.conn = tc
			p.r = bufio.NewReaderSize(tc, 4096)
			inTLS = true
			// RFC 3207 §4.2: forget what the server said before TLS.
			if ext, r, err = p.hello(c.helo()); err != nil {
				return temp("EHLO after STARTTLS", err)
			}
			if ext == nil {
				return refused("EHLO after STARTTLS", r)
			}
		}
	}
	o := p.transaction(c, ext, address, random)
	o.tls = inTLS
	return o
}

// transaction sends MAIL, RCPT for address, RCPT for random and QUIT: in
// one group where the server offers PIPELINING (RFC 2920 §3.1: MAIL and
// RCPT may be pipelined, and QUIT may end the group), else one by one,
// asking the random address only after the real one was accepted.
func (p *probe) transaction(c *Callout, ext map[string]bool, address, random string) outcome {
	mail := "MAIL FROM:<" + c.MailFrom + ">\r\n"
	rcpt := "RCPT TO:<" + address + ">\r\n"
	other := ""
	if random != "" {
		other = "RCPT TO:<" + random + ">\r\n"
	}
	const quit = "QUIT\r\n"
	var mr, rr, or reply
	var err error
	if ext["PIPELINING"] {
		if _, err = io.WriteString(p.conn, mail+rcpt+other+quit); err != nil {
			return outcome{status: verdict.TempError, reason: "sending MAIL: " + err.Error()}
		}
		p.exchanges++
		if mr, err = p.r2(); err == nil {
			if rr, err = p.r2(); err == nil && other != "" {
				or, err = p.r2()
			}
		}
		if err != nil && (mr.code == 0 || mr.class() == 2 && rr.code == 0) {
			return outcome{status: verdict.TempError, reason: "reading replies to MAIL and RCPT: " + err.Error()}
		}
	} else {
		if mr, err = p.cmd(mail); err != nil {
			return outcome{status: verdict.TempError, reason: "MAIL: " + err.Error()}
		}
		if mr.class() == 2 {
			if rr, err = p.cmd(rcpt); err != nil {
				return outcome{status: verdict.TempError, reason: "RCPT: " + err.Error()}
			}
			if rr.class() == 2 && other != "" {
				or, _ = p.cmd(other)
			}
		}
		io.WriteString(p.conn, quit)
	}
	// The answer is in; the reply to QUIT is not waited for.
	if mr.class() != 2 {
		// The server refuses us, not the address (a 5xx to MAIL FROM:<>
		// is a server that refuses bounces, RFC 5321 §6.1 violated).
		return outcome{status: verdict.TempError, reason: "MAIL FROM:<" + c.MailFrom + "> answered " + verdict.Printable(mr.String())}
	}
	text := "RCPT TO:<" + verdict.Printable(address) + "> answered " + verdict.Printable(rr.String())
	switch rr.class() {
	case 2:
		if or.class() == 2 {
			return outcome{status: verdict.Neutral, final: true,
				reason: text + ", and a random address too: catch-all, no information"}
		}
		return outcome{status: verdict.Pass, final: true, reason: text}
	case 5:
		return outcome{status: verdict.Fail, final: true, reason: text}
	default:
		return outcome{status: verdict.TempError, final: true, reason: text}
	}
}

// r2 reads one reply of a pipelined group.
func (p *probe) r2() (reply, error) { return readReply(p.r) }

// read reads one reply, counting the wait.
func (p *probe) read() (reply, error) {
	p.exchanges++
	return readReply(p.r)
}

// cmd sends one command and reads its reply.
func (p *probe) cmd(line string) (reply, error) {
	if _, err := io.WriteString(p.conn, line); err != nil {
		return reply{}, err
	}
	return p.read()
}

// hello says EHLO, or HELO when the server refuses EHLO with a 5xx (RFC
// 5321 §3.2), and returns the extension keywords the server offers (RFC
// 5321 §4.1.1.1), upper-case. A nil map with a nil error means the server
// refused us; the reply is its last word.
func (p *probe) hello(name string) (map[string]bool, reply, error) {
	r, err := p.cmd("EHLO " + name + "\r\n")
	if err != nil {
		return nil, r, err
	}
	if r.code == 250 {
		ext := map[string]bool{}
		lines := strings.Split(r.text, "\n")
		for _, l := range lines[1:] {
			kw, _, _ := strings.Cut(l, " ")
			ext[strings.ToUpper(kw)] = true
		}
		return ext, r, nil
	}
	if r.class() != 5 {
		return nil, r, nil
	}
	r, err = p.cmd("HELO " + name + "\r\n")
	if err != nil || r.code != 250 {
		return nil, r, err
	}
	return map[string]bool{}, r, nil
}

// hostLabel names a server in a reason: "mx.example.org[192.0.2.1]:25".
func hostLabel(host string, addr netip.AddrPort) string {
	ip := addr.Addr().String()
	if host == "" || host == ip {
		return "[" + ip + "]:" + strconv.Itoa(int(addr.Port()))
	}
	return verdict.Printable(host) + "[" + ip + "]:" + strconv.Itoa(int(addr.Port()))
}

// netReason says what went wrong with a connection.
func netReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	if errors.Is(err, io.EOF) {
		return "connection closed"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return verdict.Printable(oe.Err.Error())
	}
	return verdict.Printable(err.Error())
}
