package dmarc

import (
	"errors"
	"io"
	"strings"

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
	return values(sec, "From"), nil
}

// values returns the values of the fields named name.
func values(sec *header.Section, name string) []string {
	var vs []string
	for _, f := range sec.Get(name) {
		vs = append(vs, f.Value)
	}
	return vs
}

// signers returns the d= domains of the DKIM-Signature fields of sec (RFC
// 6376 §3.5), unverified: names whose DMARC records alignment may need.
func signers(sec *header.Section) []string {
	var ds []string
	for _, v := range values(sec, "DKIM-Signature") {
		for tag := range strings.SplitSeq(v, ";") {
			name, value, ok := strings.Cut(tag, "=")
			if ok && strings.TrimSpace(name) == "d" {
				ds = append(ds, strings.Join(strings.Fields(value), ""))
			}
		}
	}
	return ds
}
