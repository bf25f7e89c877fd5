// Package dnserr reads the errors of the lookups the checks make through
// their Resolver, a subset of *net.Resolver: whether an error is an answer
// (the name or its records do not exist, RFC 2308's NXDOMAIN and NODATA)
// or a failure, and what to say of it in a Reason.
package dnserr

import (
	"errors"
	"net"

	"github.com/mtaguard/mtaguard/verdict"
)

// NotFound reports whether err says the name has no records of the type
// asked for: an answer, not a failure.
func NotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// Reason is err for a Reason: the resolver's words without the name it
// repeats, printable.
func Reason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		return verdict.Printable(de.Err)
	}
	return verdict.Printable(err.Error())
}
