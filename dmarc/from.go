package dmarc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// Errors of From. The caller may refuse such a message (RFC 7489 §6.6.1);
// any other error is one of reading the message.
var (
	ErrNoFrom        = errors.New("dmarc: message has no From field")
	ErrMultipleFrom  = errors.New("dmarc: message has more than one From field")
	ErrMultipleAddrs = errors.New("dmarc: From field has more than one address")
	ErrFromSyntax    = errors.New("dmarc: From field does not parse")
	ErrFromDomain    = errors.New("dmarc: From address has no usable domain")
	ErrHeaderTooLong = errors.New("dmarc: header section too long")
)

// maxHeader bounds the header section From reads.
const maxHeader = 1 << 20

// From reads the header section of message (up to the empty line that ends
// it, at most 1 MiB) and returns the RFC5322.From domain that DMARC
// evaluates (RFC 7489 §6.6.1), in lower-case A-label form. It reads at
// most a buffer's worth past the header section, so it can be given a
// stream of a message of any size; a message without a body is fine.
//
// The From field must be exactly one, hold exactly one address (RFC 5322
// §3.6.2 mailbox-list, parsed with net/mail, display names and comments
// allowed, encoded words in any charset) and that address must have a
// domain name, not an address literal. Anything else is an error wrapping
// ErrNoFrom, ErrMultipleFrom, ErrMultipleAddrs, ErrFromSyntax or
// ErrFromDomain. Malformed fields are errors rather than guessed at: a
// lenient reading could find another domain than the one the reader's mail
// program shows.
func From(message io.Reader) (string, error) {
	var (
		from  []string
		field *strings.Builder // the field being read, if it is a From field
		size  int
	)
	// The limit bounds ReadString too: one endless line cannot make it
	// buffer more than maxHeader+1 bytes.
	br := bufio.NewReader(io.LimitReader(message, maxHeader+1))
	for {
		line, err := br.ReadString('\n')
		size += len(line)
		if size > maxHeader {
			return "", ErrHeaderTooLong
		}
		if err != nil && err != io.EOF {
			return "", err
		}
		text := strings.TrimRight(line, "\r\n")
		if text == "" {
			break // the empty line that ends the header section, or the end of the message
		}
		switch {
		case text[0] == ' ' || text[0] == '\t':
			if field != nil { // unfolding (RFC 5322 §2.2.3): drop the CRLF
				field.WriteString(text)
			}
		default:
			field = nil
			name, value, ok := strings.Cut(text, ":")
			// RFC 5322 §4.5.3 (obs-optional) allows white space before
			// the colon: "From :" is a From field too.
			if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "From") {
				from = append(from, "")
				field = &strings.Builder{}
				field.WriteString(value)
			}
		}
		if field != nil {
			from[len(from)-1] = field.String()
		}
		if err == io.EOF {
			break
		}
	}
	switch len(from) {
	case 0:
		return "", ErrNoFrom
	case 1:
	default:
		return "", ErrMultipleFrom
	}
	return fromDomain(from[0])
}

// fromDomain returns the domain of the one address in a From field value.
func fromDomain(value string) (string, error) {
	// Encoded words are decoded in any charset as raw bytes: only the
	// address matters, and net/mail's default decoder refuses charsets it
	// does not know (ISO-2022-JP, ...), which would make ordinary mail
	// look broken.
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
	}}
	addrs, err := p.ParseList(strings.TrimSpace(value))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrFromSyntax, err)
	}
	switch len(addrs) {
	case 0:
		return "", ErrNoFrom // e.g. an empty group, "undisclosed-recipients:;"
	case 1:
	default:
		return "", ErrMultipleAddrs
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", ErrFromDomain
	}
	d, err := dnsname.Normalize(addrs[0].Address[at+1:])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrFromDomain, err)
	}
	return d, nil
}
