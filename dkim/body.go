package dkim

import (
	"context"
	"errors"
	"io"
)

// errBlankRun is why a body was cut short when it holds more line breaks in
// a row than maxLineBreaks.
var errBlankRun = errors.New("message body has too many empty lines in a row")

// maxLineBreaks bounds the CR and LF bytes a body may hold with nothing but
// white space between them. go-msgauth's body canonicalizers keep such a
// run in memory until the next non-blank byte (RFC 6376 §3.4.3 and §3.4.4
// drop empty lines at the end of the body, so they cannot be hashed before
// it is known whether more text follows), so without a bound a body of
// nothing but empty lines would cost memory in proportion to its size.
// 64 KiB is 32768 empty lines in a row: no real message has that many.
const maxLineBreaks = 64 << 10

// bodyReader hands the body of a message to go-msgauth. It never returns an
// error: when ctx is done, the underlying reader fails, or the body breaks
// the maxLineBreaks rule, it ends the body early (io.EOF) and records why in
// err. go-msgauth would otherwise leave goroutines blocked on its pipes when
// a read fails in the middle of verifying several signatures.
type bodyReader struct {
	ctx    context.Context
	r      io.Reader
	breaks int   // CR and LF bytes since the last byte other than white space
	err    error // why the body was cut short
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, io.EOF
	}
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	// Only the blank tail of the chunk matters: scan it from the end.
	i, breaks := n-1, 0
	for ; i >= 0; i-- {
		if c := p[i]; c == '\r' || c == '\n' {
			breaks++
		} else if c != ' ' && c != '\t' {
			break
		}
	}
	if i >= 0 {
		b.breaks = breaks
	} else {
		b.breaks += breaks
	}
	if b.breaks > maxLineBreaks {
		b.err = errBlankRun
		return 0, io.EOF
	}
	if err != nil && err != io.EOF {
		b.err = err
		return n, io.EOF
	}
	return n, err
}
