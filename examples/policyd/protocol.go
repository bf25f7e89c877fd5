package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Limits of one request. Postfix sends about 30 attributes and well under
// 4 KiB; anything far beyond that is not Postfix.
const (
	maxRequestBytes = 64 << 10
	maxAttributes   = 256
)

// errTooLarge is a request over maxRequestBytes: the rest of it cannot be
// skipped safely, so the connection is answered and closed.
var errTooLarge = errors.New("request larger than " + strconv.Itoa(maxRequestBytes) + " bytes")

// malformedError is a request that was read to its end but cannot be
// used: it is answered and the connection goes on with the next request.
type malformedError struct{ why string }

func (e *malformedError) Error() string { return "malformed policy request: " + e.why }

// readRequest reads one policy delegation request: "name=value" lines up
// to an empty line (Postfix SMTPD_POLICY_README, "Protocol description").
// Empty lines before the first attribute are skipped. It returns io.EOF
// when the peer closed the connection between requests, errTooLarge or
// io.ErrUnexpectedEOF when the stream cannot go on, and a
// *malformedError for a complete request that breaks the syntax (a line
// without "=", an empty or repeated name, too many attributes).
//
// r must have a buffer of at least maxRequestBytes, so that no line longer
// than a whole request can be read.
func readRequest(r *bufio.Reader) (map[string]string, error) {
	attrs := make(map[string]string)
	var bad error
	size := 0
	for {
		line, err := r.ReadSlice('\n')
		size += len(line)
		if size > maxRequestBytes || err == bufio.ErrBufferFull {
			return nil, errTooLarge
		}
		if err != nil {
			if err == io.EOF && size == 0 {
				return nil, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		if len(line) == 0 {
			if len(attrs) == 0 && bad == nil {
				size = 0
				continue
			}
			if bad != nil {
				return nil, bad
			}
			return attrs, nil
		}
		if bad != nil {
			continue // read on to the end of the request
		}
		name, value, ok := bytes.Cut(line, []byte("="))
		switch {
		case !ok:
			bad = &malformedError{"line without '='"}
		case len(name) == 0:
			bad = &malformedError{"empty attribute name"}
		case len(attrs) == maxAttributes:
			bad = &malformedError{"more than " + strconv.Itoa(maxAttributes) + " attributes"}
		default:
			if _, dup := attrs[string(name)]; dup {
				bad = &malformedError{"attribute " + strconv.Quote(printable(name)) + " repeated"}
				continue
			}
			attrs[string(name)] = string(value)
		}
	}
}

// printable shortens a client-supplied name for an error message.
func printable(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(bytes.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, b))
}
