// Package dkim verifies the DKIM signatures of a message (RFC 6376) and
// says whether one of them is valid. It applies the algorithm rules of RFC
// 8301 (no rsa-sha1, no RSA key under 1024 bits), accepts Ed25519 keys
// (RFC 8463) and honours the flags of the key record (RFC 6376 §3.6.1),
// on top of github.com/emersion/go-msgauth/dkim.
//
// Check verifies with the defaults; New returns a verdict.Check for the Data
// stage with Options. Both read the body as a stream: memory stays bounded
// by the header section (at most 1 MiB) plus a constant, whatever the size
// of the message.
//
// By default DKIM only scores: a message whose signatures all fail is not
// refused unless Options.Reject says so, as in Haraka and rspamd, because
// mailing lists and forwarders break signatures all the time. DMARC (package
// dmarc) is what turns a missing aligned signature into a policy.
package dkim

import (
	"context"
	"io"

	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver looks up DKIM key records (RFC 6376 §3.6.2.2). *net.Resolver
// satisfies it. Its errors follow [verdict.Resolver].
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Defaults of Options.
const (
	// DefaultMaxSignatures is how many signatures are verified at most.
	// Each costs a DNS lookup and a pass over the body, and a sender
	// can add as many as it likes; rspamd stops at 5.
	DefaultMaxSignatures = 10
	// DefaultMaxHeaderBytes bounds the header section read into memory.
	// It is also the most Options.MaxHeaderBytes can allow.
	DefaultMaxHeaderBytes = 1 << 20
)

// Check verifies the DKIM signatures of message with the default options,
// looking keys up through r. See Checker.Evaluate.
func Check(ctx context.Context, r Resolver, message io.Reader) verdict.Result {
	return New(r, nil).Evaluate(ctx, message)
}
