package relay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/mtaguard/mtaguard/internal/netset"
	"io"
	"net/netip"
	"strings"
)

// Limits on what Border reads, so that a hostile message cannot make it
// use much memory or time. Border stops at the first untrusted hop, so a
// normal message is read only to its first few Received: fields.
const (
	maxHeaderBytes = 1 << 20 // bytes of header section read at most
	maxFields      = 1000    // header fields read at most
)

// ErrNoHop is the error of Border for a message whose Received: fields name
// no client outside the trusted networks: there is no Received: field, or
// every one that records a client records one of ours (the message was
// submitted or generated inside).
var ErrNoHop = errors.New("relay: no Received field names an untrusted client")

var (
	errHeaderTooLarge = errors.New("relay: header section too large")
	errMalformed      = errors.New("relay: malformed header section")
)

// Hop is the first untrusted hop, read from Received: fields.
type Hop struct {
	IP   netip.Addr
	HELO string // the HELO/EHLO name the field records ("" if it records none)

	// Auth reports that the field records an authenticated submission
	// (a with-protocol of RFC 3848: ESMTPA, ESMTPSA, LMTPA, ...). A caller
	// will usually not run IP-based checks against such a client.
	Auth bool
}

// Border reads the header section of message and walks its Received:
// fields from the top (the newest) down. A field whose "from" address is in
// trusted was written when one of our own hops handed the message on, so
// the walk goes on below it; the first field whose "from" address is
// outside trusted names the client that handed the message to our border,
// and Border returns it. Fields below that one were written by hosts we do
// not control and are never read.
//
// Border follows SpamAssassin's trust path (Mail::SpamAssassin::Message::
// Metadata::Received) with these choices, made where its rules would let a
// forged field in:
//
//   - Loopback addresses (127.0.0.0/8, ::1) are always trusted, as in
//     SpamAssassin: no outside client connects from them, and they are
//     where content filters re-inject mail. Nothing else is inferred:
//     private addresses are trusted only when listed.
//   - A field that records a "from" clause Border cannot read ends the walk
//     with an error, where SpamAssassin skips it: skipping could step past
//     the real client onto a field the client wrote.
//   - A field without a "from" clause records a step inside one host
//     (Postfix pickup "by host (Postfix, from userid 1000)", qmail
//     "(qmail 1 invoked from network)", Gmail's internal "by 2002:..."),
//     not a hand-over, and is passed over.
//   - An authenticated submission does not extend trust, as
//     SpamAssassin's "auth" token does: the authenticated client is
//     returned, with Hop.Auth set, and the caller decides.
//   - A field holds text its client chose (the HELO name, which some
//     MTAs write verbatim, parentheses included; a certificate name;
//     recipient and sender; lines of its data that continue the field),
//     and that text can look like the TCP-info comment the receiving
//     host wrote. Border never picks one reading: the walk goes on only
//     if every address the field could be read as recording is trusted,
//     the client is named only if it is the one untrusted address among
//     them and the field's shape shows the host wrote it, and otherwise
//     the field is an error. Hop.Auth is set only if every "with"
//     protocol in the field says so.
//
// Border reads the formats of Postfix, Sendmail, OpenSMTPD and Gmail
// ("from helo (name [ip])"), Exim ("from name ([ip]:port helo=helo)"),
// Exchange ("from helo (ip)") and qmail ("from name (HELO helo) (ip)"),
// IPv6 with or without the "IPv6:" tag, with and without a reverse DNS
// name. It reads at most 1 MiB of header and 1000 fields.
//
// The error is ErrNoHop when no field names an untrusted client, and
// another error when the header cannot be read before one is found; the
// caller then keeps the session's own IP address.
func Border(message io.Reader, trusted []netip.Prefix) (Hop, error) {
	nets := netset.New(trusted)
	ours := func(ip netip.Addr) bool { return ip.IsLoopback() || nets.Contains(ip) }
	h := headerReader{r: bufio.NewReader(io.LimitReader(message, maxHeaderBytes+1))}
	for n := 0; ; n++ {
		name, value, err := h.next()
		if err == io.EOF {
			return Hop{}, ErrNoHop
		}
		if err != nil {
			return Hop{}, err
		}
		if n == maxFields {
			return Hop{}, fmt.Errorf("relay: more than %d header fields", maxFields)
		}
		if !strings.EqualFold(name, "Received") {
			continue
		}
		f, err := parseReceived(value, ours)
		if err != nil {
			return Hop{}, fmt.Errorf("relay: header field %d: %w", n+1, err)
		}
		if !f.hasFrom || f.trusted {
			continue
		}
		return Hop{IP: f.ip, HELO: f.helo, Auth: f.auth}, nil
	}
}

// headerReader returns the fields of an RFC 5322 header section one by one.
// It reads no further than the field it returns: whether the next line
// continues the field is decided from that line's first byte alone.
type headerReader struct {
	r       *bufio.Reader
	read    int // bytes read so far
	started bool
}

// next returns the next field's name and its unfolded value (line breaks
// kept as white space), or io.EOF at the end of the header section.
func (h *headerReader) next() (name string, value []byte, err error) {
	line, err := h.line()
	if err != nil {
		return "", nil, err
	}
	if !h.started {
		h.started = true
		// An mbox "From " line before the header, as in a message saved
		// from a mailbox file.
		if bytes.HasPrefix(line, []byte("From ")) {
			if line, err = h.line(); err != nil {
				return "", nil, err
			}
		}
	}
	if isBlank(line) {
		return "", nil, io.EOF
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isFieldName(bytes.TrimRight(line[:colon], " \t")) {
		return "", nil, errMalformed
	}
	name = string(bytes.TrimRight(line[:colon], " \t"))
	value = line[colon+1:]
	for {
		b, err := h.r.Peek(1)
		if err != nil || b[0] != ' ' && b[0] != '\t' {
			return name, value, nil
		}
		next, err := h.line()
		if err != nil {
			return "", nil, err
		}
		value = append(value, next...)
	}
}

// line reads one line, its line break included; at the end of the input it
// returns io.EOF, or the last line if it has no line break.
func (h *headerReader) line() ([]byte, error) {
	var line []byte
	for {
		frag, err := h.r.ReadSlice('\n')
		h.read += len(frag)
		if h.read > maxHeaderBytes {
			return nil, errHeaderTooLarge
		}
		line = append(line, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		}
		return line, err
	}
}

func isBlank(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// isFieldName reports whether b is an RFC 5322 §3.6.8 field-name: printable
// ASCII other than ':'.
func isFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}
