package gosmtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// go-smtp (v0.25) always offers CHUNKING and runs the session's Data for
// BDAT in a goroutine of its own while the connection goes on reading
// commands; a BDAT transaction broken off by RSET, EHLO or QUIT then races
// inside go-smtp (Conn.dataResult) and can make it call Data on a session
// it has already closed (a nil-pointer panic it recovers from). Until that
// is fixed upstream, a connection that Listen lets in hides CHUNKING from
// the EHLO reply and answers BDAT itself with 502 5.5.1, discarding the
// chunk (RFC 3030 §2: the chunk follows the command whatever the reply),
// unless Options.Chunking is set.
//
// The filter reads the client's commands one line per Read, so that
// go-smtp has answered every earlier command when it sees the next, and
// follows DATA (from go-smtp's 354 reply to the end-of-data line) so that
// message text is never taken for a command. After STARTTLS the commands
// are encrypted and the filter steps aside: a server that offers STARTTLS
// takes BDAT under TLS as go-smtp handles it.
type chunkFilter struct {
	r       *bufio.Reader
	w       io.Writer
	data    bool // in DATA, between the 354 reply and the end-of-data line
	state   int  // go-smtp's end-of-data state machine, while data
	off     bool // after STARTTLS
	midLine bool // the last command Read ended inside a long line
}

const maxCommandLine = 4096

// Read returns the client's next command line, or the next message bytes
// up to the end-of-data line.
func (f *chunkFilter) Read(p []byte) (int, error) {
	if f.off {
		return f.r.Read(p)
	}
	if f.data {
		return f.readData(p)
	}
	for {
		if len(p) == 0 {
			return 0, nil
		}
		line, err := f.r.ReadSlice('\n')
		if len(line) == 0 {
			return 0, err
		}
		start := !f.midLine
		f.midLine = err == bufio.ErrBufferFull
		if start && !f.midLine {
			cmd, arg, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
			switch strings.ToUpper(cmd) {
			case "BDAT":
				f.refuseBDAT(arg)
				continue
			case "STARTTLS":
				f.off = true
			}
		}
		n := copy(p, line)
		if n < len(line) {
			// p is smaller than the line: give the rest back next time.
			f.r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(line[n:]), f.r), maxCommandLine)
			f.midLine = true
			err = nil
		}
		if err == bufio.ErrBufferFull {
			err = nil
		}
		return n, err
	}
}

// refuseBDAT answers a BDAT command and discards its chunk.
func (f *chunkFilter) refuseBDAT(arg string) {
	size, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
	n, err := strconv.ParseUint(size, 10, 32)
	if err != nil {
		fmt.Fprintf(f.w, "501 5.5.4 BDAT not supported\r\n")
		return
	}
	fmt.Fprintf(f.w, "502 5.5.1 BDAT not supported: CHUNKING is not offered\r\n")
	io.CopyN(io.Discard, f.r, int64(n))
}

// The states of go-smtp's end-of-data reader, which the filter follows so
// that it ends DATA exactly where go-smtp does.
const (
	stateBeginLine = iota
	stateDot
	stateDotCR
	stateCR
	stateData
)

func (f *chunkFilter) readData(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := f.r.ReadByte()
		if err != nil {
			return n, err
		}
		p[n] = c
		n++
		switch f.state {
		case stateBeginLine:
			switch c {
			case '.':
				f.state = stateDot
			case '\r':
				f.state = stateCR
			default:
				f.state = stateData
			}
		case stateDot:
			f.state = stateData
			if c == '\r' {
				f.state = stateDotCR
			}
		case stateDotCR:
			f.state = stateData
			if c == '\n' {
				f.data, f.state = false, stateBeginLine
				return n, nil
			}
		case stateCR:
			f.state = stateData
			if c == '\n' {
				f.state = stateBeginLine
			}
		case stateData:
			if c == '\r' {
				f.state = stateCR
			}
		}
		if f.r.Buffered() == 0 && n > 0 {
			return n, nil // do not block for more while holding bytes
		}
	}
	return n, nil
}

// wrote follows go-smtp's replies: 354 starts the message text.
func (f *chunkFilter) wrote(p []byte) {
	if bytes.HasPrefix(p, []byte("354 ")) {
		f.data, f.state = true, stateBeginLine
	}
}

// hide reports whether p is the EHLO reply line that offers CHUNKING.
// go-smtp writes each reply line with a Write of its own, and never ends
// the EHLO reply with CHUNKING (SIZE comes after it).
func hide(p []byte) bool {
	return bytes.Equal(p, []byte("250-CHUNKING\r\n"))
}
