package gosmtp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/internal/header"
)

// The replies of the data stage that are ours rather than the policy's.
var (
	// RFC 5321 §2.3.8: lines end with CRLF, and a bare CR or LF is how
	// SMTP smuggling slips a second message past one server to another
	// that splits lines differently; mail readers also take a bare CR for
	// a line end, which would let a client start a forged field inside
	// one of ours.
	errBareLineEnd = reply(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: bare CR or LF in message (RFC 5321 2.3.8), lines must end with CRLF")
	// RFC 5322 §2.2.3: a header section cannot begin with a continuation
	// line. Ours would be joined to the field above it: our own
	// Authentication-Results.
	errLeadingSpace = reply(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: header section begins with white space (RFC 5322 2.2.3)")
	// RFC 5322 §3.6: every message has a From field.
	errNoFrom = reply(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: no From header field (RFC 5322 3.6)")
	// RFC 5321 §4.5.3.1.6, RFC 5322 §2.1.1: lines are at most 1000 bytes;
	// go-smtp's Server.MaxLineLength is the bound enforced.
	errLongLine = reply(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: line too long")
	errEmpty    = reply(550, smtp.EnhancedCode{5, 6, 0}, "Message refused: empty message")
	// RFC 3463: 5.3.4 message too big for system.
	errHeaderTooLarge = reply(552, smtp.EnhancedCode{5, 3, 4}, "Message refused: header section too large")
	// RFC 3463: 4.3.1 mail system full. The sender retries later.
	errNoMemory = reply(452, smtp.EnhancedCode{4, 3, 1}, "Insufficient system storage, try again later")
	errSpool    = reply(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, try again later")
	errRead     = reply(451, smtp.EnhancedCode{4, 3, 0}, "Error reading message")
)

// flaw is a structural problem of a message's line ends.
type flaw uint8

const (
	bareCR flaw = 1 << iota
	bareLF
)

// message is a message being received: in memory while it is small and
// the memory budget allows, spooled to a file otherwise.
type message struct {
	b     *backend
	buf   []byte
	held  int64 // bytes of the memory budget buf holds
	file  *os.File
	size  int64
	flaws flaw
	cr    bool // the last byte seen was a CR
}

// read reads a whole message from r, at most the size limit, and calls
// found once with its header section when that has arrived.
func (b *backend) read(r io.Reader, c *smtp.Conn, found func(header []byte)) (*message, error) {
	limit := b.o.MaxMessageBytes
	if limit == 0 && c != nil && c.Server() != nil {
		limit = c.Server().MaxMessageBytes
	}
	limit = orDefault(limit, 25<<20)
	spool := orDefault(b.o.SpoolBytes, 1<<20)
	m := &message{b: b}
	watch := headerWatch{found: found}
	chunkp := chunks.Get().(*[]byte)
	defer chunks.Put(chunkp)
	chunk := *chunkp
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			p := chunk[:n]
			if m.size+int64(n) > limit {
				m.release()
				return nil, smtp.ErrDataTooLarge
			}
			m.scan(p)
			watch.add(p)
			if werr := m.write(p, spool); werr != nil {
				m.release()
				b.o.logger().Warn("cannot spool message", "err", werr)
				return nil, errSpool
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			m.release()
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return nil, se // go-smtp needs the *SMTPError itself
			}
			if errors.Is(err, smtp.ErrDataReset) {
				return nil, smtp.ErrDataReset
			}
			if errors.Is(err, smtp.ErrTooLongLine) {
				return nil, errLongLine
			}
			b.o.logger().Warn("reading message", "err", err)
			return nil, errRead
		}
	}
	if m.cr {
		m.flaws |= bareCR // the message ends in a CR
	}
	if m.flaws != 0 {
		m.release()
		return nil, errBareLineEnd
	}
	return m, nil
}

// chunks are the read buffers of read.
var chunks = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// scan records the flaws of the next bytes of the message.
func (m *message) scan(p []byte) {
	for _, c := range p {
		switch {
		case m.cr && c != '\n':
			m.flaws |= bareCR
		case !m.cr && c == '\n':
			m.flaws |= bareLF
		}
		m.cr = c == '\r'
	}
}

// write keeps p: in memory while the message is at most spool bytes and
// the budget allows, in the spool file otherwise.
func (m *message) write(p []byte, spool int64) error {
	m.size += int64(len(p))
	if m.file == nil {
		if m.size <= spool && m.b.mem.take(int64(len(p))) {
			m.held += int64(len(p))
			m.buf = append(m.buf, p...)
			return nil
		}
		f, err := os.CreateTemp(m.b.o.SpoolDir, "mtaguard-*.eml")
		if err != nil {
			return err
		}
		// Unlinked at once where the system allows: nothing is left
		// behind if the process dies.
		os.Remove(f.Name())
		m.file = f
		if _, err := f.Write(m.buf); err != nil {
			return err
		}
		m.b.mem.give(m.held)
		m.buf, m.held = nil, 0
	}
	_, err := m.file.Write(p)
	return err
}

// load brings a spooled message into memory, if the budget allows.
func (m *message) load() error {
	if m.file == nil {
		return nil
	}
	if !m.b.mem.take(m.size) {
		return errNoMemory
	}
	m.held = m.size
	m.buf = make([]byte, m.size)
	if _, err := m.file.ReadAt(m.buf, 0); err != nil {
		m.b.o.logger().Warn("cannot read spooled message", "err", err)
		return errSpool
	}
	return nil
}

// release gives back the memory and the spool file of m.
func (m *message) release() {
	m.b.mem.give(m.held)
	m.buf, m.held = nil, 0
	if m.file != nil {
		m.file.Close()
		os.Remove(m.file.Name())
		m.file = nil
	}
}

// inspect reads the header section of the loaded message m, and refuses
// a message whose header section begins with white space, and one that is
// empty or has no From field unless the policy or the options leave that
// to a check.
func (b *backend) inspect(m *message) (*header.Section, error) {
	sec, err := header.Parse(m.buf)
	if err != nil {
		return nil, errHeaderTooLarge
	}
	switch {
	case sec.Flaws.Has(header.LeadingContinuation):
		return nil, errLeadingSpace
	case sec.Flaws&(header.BareCR|header.BareLF) != 0:
		return nil, errBareLineEnd // read has refused them already
	case b.o.AcceptMalformed || b.malformedByPolicy:
	case m.size == 0:
		return nil, errEmpty
	case len(sec.Get("From")) == 0:
		return nil, errNoFrom
	}
	return sec, nil
}

// budget is a number of bytes shared by the sessions of a Backend.
type budget struct {
	mu        sync.Mutex
	used, max int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// headerWatch calls found once with a copy of the header section of the
// bytes it is given, as soon as the empty line that ends it has been
// added. It looks no further than maxWatch bytes.
type headerWatch struct {
	found func(header []byte)
	buf   []byte
	done  bool
}

const maxWatch = 256 << 10

func (w *headerWatch) add(p []byte) {
	if w.done || w.found == nil {
		return
	}
	w.buf = append(w.buf, p...)
	if end := headerEnd(w.buf); end >= 0 {
		w.done = true
		w.found(w.buf[:end:end])
	} else if len(w.buf) > maxWatch {
		w.done, w.buf = true, nil
	}
}

// headerEnd returns the length of msg's header section with the empty
// line that ends it, or -1 if that line has not arrived.
func headerEnd(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) || bytes.HasPrefix(msg, []byte("\n")) {
		return bytes.IndexByte(msg, '\n') + 1
	}
	i := bytes.Index(msg, []byte("\n\r\n"))
	j := bytes.Index(msg, []byte("\n\n"))
	switch {
	case i >= 0 && (j < 0 || i < j):
		return i + 3
	case j >= 0:
		return j + 2
	}
	return -1
}
