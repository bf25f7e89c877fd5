package verify

import (
	"bufio"
	"errors"
	"strings"
)

// Bounds on what a probed server may send. A probe talks to servers chosen
// by whoever wrote the address (a sender's MX is the sender's), so every
// read is bounded: RFC 5321 §4.5.3.1.5 allows reply lines of 512 octets;
// we accept more, but not without limit.
const (
	maxReplyLine  = 2048 // bytes of one reply line, CRLF included
	maxReplyLines = 64   // lines of one (multi-line) reply
)

var (
	errReplySyntax = errors.New("malformed SMTP reply")
	errReplyLong   = errors.New("SMTP reply too long")
)

// reply is one SMTP reply (RFC 5321 §4.2): a three-digit code and the
// text of its lines, joined by "\n", as the server wrote them.
type reply struct {
	code int
	text string
}

// class is the reply's first digit: 2 success, 4 transient, 5 permanent.
func (r reply) class() int { return r.code / 100 }

// String returns the reply as one printable line for a reason, "550 5.1.1
// user unknown", its lines joined by spaces.
func (r reply) String() string {
	s := itoa3(r.code)
	if r.text != "" {
		s += " " + strings.ReplaceAll(r.text, "\n", " ")
	}
	return s
}

func itoa3(c int) string {
	return string([]byte{byte('0' + c/100%10), byte('0' + c/10%10), byte('0' + c%10)})
}

// readReply reads one reply from r (RFC 5321 §4.2.1): lines "ddd-text"
// followed by a last line "ddd text" or "ddd", all with the same code. A
// line without CR before its LF is taken as it is: the text is for a reason
// only. The reader's buffer must hold at least maxReplyLine bytes.
func readReply(r *bufio.Reader) (reply, error) {
	var rep reply
	var b strings.Builder
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return reply{}, errReplyLong
		}
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(line) > maxReplyLine {
			return reply{}, errReplyLong
		}
		if err != nil {
			return reply{}, err
		}
		line = line[:len(line)-1]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		code, last, text, ok := parseReplyLine(line)
		if !ok || (n > 0 && code != rep.code) {
			return reply{}, errReplySyntax
		}
		rep.code = code
		if n > 0 {
			b.WriteByte('\n')
		}
		b.Write(text)
		if last {
			rep.text = b.String()
			return rep, nil
		}
	}
}

// parseReplyLine splits one reply line (without its line end) into its
// code, whether it is the last line of the reply, and its text.
func parseReplyLine(line []byte) (code int, last bool, text []byte, ok bool) {
	if len(line) < 3 {
		return 0, false, nil, false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false, nil, false
		}
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	// RFC 5321 §4.2: the first digit is 2 to 5.
	if code < 200 || code > 599 {
		return 0, false, nil, false
	}
	switch {
	case len(line) == 3:
		return code, true, nil, true
	case line[3] == ' ':
		return code, true, line[4:], true
	case line[3] == '-':
		return code, false, line[4:], true
	}
	return 0, false, nil, false
}
