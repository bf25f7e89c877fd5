package dmarc

import (
	"errors"
	"io"

	"github.com/mtaguard/mtaguard/internal/header"
)

// fromFields returns the unfolded values of the From fields of message's
// header section, read by package header as mail readers read it: CRLF, a
// bare LF and a bare CR each end a line, so "X: y\rFrom: z" holds a From
// field, and "From :" (RFC 5322 §4.5.3) is one too.
func fromFields(message io.Reader) ([]string, error) {
	sec, err := header.Read(message)
	if errors.Is(err, header.ErrTooLarge) {
		return nil, ErrHeaderTooLong
	}
	if err != nil {
		return nil, err
	}
	var values []string
	for _, f := range sec.Get("From") {
		values = append(values, f.Value)
	}
	return values, nil
}
