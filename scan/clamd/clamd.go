// Package clamd asks ClamAV's clamd whether a message carries a virus. It
// streams the message with the INSTREAM command, over TCP or a unix
// socket, and turns clamd's answer into a verdict.Result: a signature found
// demands 554 5.7.0 with the signature's name, a clean message passes, and
// a clamd that cannot answer gives TempError (451 4.7.0 by default).
//
// This is what Exim's "malware = *" with a clamd av_scanner, Haraka's clamd
// plugin and rspamd's antivirus module do. The whole message is sent as it
// came, header and body: clamd's own mail parser finds the MIME parts and
// decodes base64 attachments.
//
// Connections are kept in a pool, each in an IDSESSION (clamd's command
// for several scans over one connection), so that a busy server does not
// pay a TCP handshake and a clamd thread start per message.
package clamd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// ChunkSize is the length of the INSTREAM chunks the message is sent in.
// clamd refuses a chunk longer than its StreamMaxLength, which is far
// larger.
const ChunkSize = 64 << 10

// MaxReply bounds a reply line read from clamd. A real reply is a
// signature name and a few words; a longer one is not clamd.
const MaxReply = 4096

// ErrSizeLimit is returned when clamd refused the stream because it is
// longer than clamd's StreamMaxLength.
var ErrSizeLimit = errors.New("clamd: INSTREAM size limit exceeded")

// ReplyError is an error clamd reported in its reply ("... ERROR").
type ReplyError struct {
	Text string // the reply without the trailing " ERROR", printable
}

func (e *ReplyError) Error() string { return "clamd: " + e.Text }

// ParseReply reads one reply of clamd to a scan command, without its
// terminating NUL or newline: "stream: OK", "stream: Eicar-Signature
// FOUND", "INSTREAM size limit exceeded. ERROR", each optionally preceded
// by the IDSESSION command number ("3: stream: OK"). It returns that number
// (0 without one), the signature name when clamd found one ("" for a clean
// stream), and an error for an error reply or anything it cannot read.
func ParseReply(line string) (id int, virus string, err error) {
	rest := line
	if i := strings.Index(rest, ": "); i > 0 && isDigits(rest[:i]) {
		n, perr := strconv.Atoi(rest[:i])
		if perr != nil || n == 0 {
			return 0, "", fmt.Errorf("clamd: bad reply id in %q", printable(line))
		}
		id, rest = n, rest[i+2:]
	}
	switch {
	case strings.HasSuffix(rest, " ERROR"):
		text := strings.TrimSuffix(rest, " ERROR")
		if strings.Contains(text, "size limit exceeded") {
			return id, "", ErrSizeLimit
		}
		return id, "", &ReplyError{Text: printable(text)}
	case rest == "stream: OK":
		return id, "", nil
	case len(rest) > len("stream:  FOUND") && strings.HasPrefix(rest, "stream: ") && strings.HasSuffix(rest, " FOUND"):
		name := strings.TrimSpace(rest[len("stream: ") : len(rest)-len(" FOUND")])
		if name == "" {
			return id, "", fmt.Errorf("clamd: FOUND without a name in %q", printable(line))
		}
		return id, name, nil
	}
	return id, "", fmt.Errorf("clamd: unexpected reply %q", printable(line))
}

func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// printable keeps printable ASCII of s, at most 200 bytes: replies go into
// errors and reasons.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 200; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// WriteInstream writes the INSTREAM command and message to w: the command
// with clamd's NUL-terminated ("z") form, the message in chunks of at most
// ChunkSize bytes, each after its length as 4 bytes in network order, and
// the zero-length chunk that ends the stream.
func WriteInstream(w io.Writer, message []byte) error {
	if _, err := io.WriteString(w, "zINSTREAM\x00"); err != nil {
		return err
	}
	var n [4]byte
	for len(message) > 0 {
		c := message[:min(len(message), ChunkSize)]
		message = message[len(c):]
		binary.BigEndian.PutUint32(n[:], uint32(len(c)))
		// One writev per chunk when w is a connection.
		bufs := net.Buffers{n[:], c}
		if _, err := bufs.WriteTo(w); err != nil {
			return err
		}
	}
	binary.BigEndian.PutUint32(n[:], 0)
	_, err := w.Write(n[:])
	return err
}

// readReply reads one NUL-terminated reply of at most MaxReply bytes.
func readReply(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		line, err := r.ReadSlice(0)
		if len(buf)+len(line) > MaxReply {
			return "", fmt.Errorf("clamd: reply longer than %d bytes", MaxReply)
		}
		buf = append(buf, line...)
		if err == nil {
			return string(bytes.TrimSuffix(buf, []byte{0})), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(buf) > 0 {
				// clamd closes the connection after some error replies
				// without a NUL; take what came.
				return string(buf), nil
			}
			return "", err
		}
	}
}
