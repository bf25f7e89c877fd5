package screen

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"time"
)

// forbidden are the verbs of other protocols that a mail server never
// sends: HTTP methods, a proxy's CONNECT, POP3's USER and PASS. Postfix's
// default list (smtpd_forbidden_commands) has CONNECT, GET and POST, and
// lines that do not begin with a letter.
var forbidden = [...]string{"CONNECT", "GET", "POST", "HEAD", "PUT", "OPTIONS", "USER", "PASS"}

// nonSMTP reports whether line is a command of another protocol.
func nonSMTP(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	if c := line[0] | 0x20; c < 'a' || c > 'z' {
		return true
	}
	verb, _, _ := bytes.Cut(line, []byte(" "))
	for _, f := range forbidden {
		if bytes.EqualFold(verb, []byte(f)) {
			return true
		}
	}
	return false
}

// dialogue is the screen's own SMTP dialogue, for the deep tests: it
// offers no PIPELINING, answers every recipient with 450 4.3.2 (550 5.5.1
// if a test failed that enforce lists), and at the end caches the passes.
// The connection is closed afterwards: the client passes at its next one.
func (l *Listener) dialogue(c *Conn, br *bufio.Reader, enforce, greet Test, talked bool) {
	raw := c.Conn
	if l.reply(raw, "220 "+l.banner+"\r\n") != nil {
		return
	}
	rcpt := false
	var found Test // deep findings of this dialogue
	finish := func(why string) {
		l.deepResult(c, found, enforce, greet, talked, rcpt, why)
	}
	for n := 0; ; n++ {
		if n == l.cmdLimit {
			finish("too many commands")
			l.reply(raw, "421 4.7.0 "+l.host+" Error: too many commands\r\n")
			return
		}
		raw.SetReadDeadline(time.Now().Add(l.cmdTO))
		line, bareLF, err := readCommand(br)
		if err == errLineTooLong {
			if l.reply(raw, "500 5.5.2 Error: line too long\r\n") != nil {
				return
			}
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				l.reply(raw, "421 4.4.2 "+l.host+" Error: timeout exceeded\r\n")
			}
			finish("disconnected")
			return
		}
		var now Test
		if bareLF {
			now |= BareLF
		}
		if pipelined(raw, br) {
			now |= Pipelining
		}
		if nonSMTP(line) {
			now |= NonSMTP
		}
		now &= l.enabled &^ found
		found |= now
		c.findings |= now
		for t := Pipelining; t <= BareLF; t <<= 1 {
			if now&t == 0 {
				continue
			}
			switch l.action(t) {
			case Drop:
				msg := "521 5.5.1 Protocol error\r\n"
				if t == NonSMTP {
					msg = "521 5.7.0 Error: I can break rules, too. Goodbye.\r\n"
				}
				l.reply(raw, msg)
				l.logf(c, "dropped")
				return
			case Enforce:
				enforce |= t
			}
		}
		verb, _, _ := bytes.Cut(line, []byte(" "))
		var out string
		switch string(bytes.ToUpper(verb)) {
		case "EHLO":
			out = "250-" + l.host + "\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
		case "HELO":
			out = "250 " + l.host + "\r\n"
		case "MAIL":
			out = "250 2.1.0 Ok\r\n"
		case "RCPT":
			rcpt = true
			if enforce != 0 {
				out = "550 5.5.1 Protocol error\r\n"
			} else {
				out = "450 4.3.2 Service currently unavailable\r\n"
			}
		case "DATA", "BDAT":
			out = "554 5.5.1 Error: no valid recipients\r\n"
		case "RSET", "NOOP":
			out = "250 2.0.0 Ok\r\n"
		case "VRFY":
			out = "502 5.5.1 VRFY command is disabled\r\n"
		case "QUIT":
			finish("quit") // before the reply: the client may come back at once
			l.reply(raw, "221 2.0.0 Bye\r\n")
			return
		case "":
			out = "500 5.5.2 Error: bad syntax\r\n"
		default:
			out = "502 5.5.2 Error: command not recognized\r\n"
		}
		if l.reply(raw, out) != nil {
			finish("disconnected")
			return
		}
	}
}

// pipelined reports whether more input is waiting after a command, before
// its reply: in the buffer, or in the socket at once.
func pipelined(raw net.Conn, br *bufio.Reader) bool {
	if br.Buffered() > 0 {
		return true
	}
	raw.SetReadDeadline(time.Now())
	_, err := br.Peek(1)
	return err == nil
}

// deepResult caches the tests the client passed, as postscreen does:
// nothing if it failed a test (a pregreet, or a deep test the Options
// enforce); otherwise the pregreet pass (greet) and, provided it reached
// RCPT, the deep tests, noting the failures the Options ignore. A client
// that leaves before RCPT has not shown what a mail server does when it
// is told to come back.
func (l *Listener) deepResult(c *Conn, found, enforce, greet Test, talked, rcpt bool, why string) {
	if talked || enforce != 0 {
		l.logf(c, "tests failed", slog.String("end", why))
		return
	}
	var deep Test
	if rcpt {
		deep = l.enabled & DeepTests
	}
	l.remember(c, greet, deep, found, l.deepTTL)
	l.logf(c, "screened", slog.String("end", why), slog.String("passed", (greet|deep).String()))
}
