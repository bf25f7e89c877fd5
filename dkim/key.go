package dkim

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"

	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// keyFlags are the flags of a key record's t= tag (RFC 6376 §3.6.1).
// Unknown flags are ignored, as the RFC requires.
type keyFlags struct {
	testing bool // "y": the signer is testing DKIM
	strict  bool // "s": i= must be in d= itself, not in a subdomain
}

// parseKeyFlags reads the t= tag of a key record (RFC 6376 §3.6.1: a
// colon-separated list of flag names). The tag list is split the way
// go-msgauth splits it when it reads the key, so the flags are those of
// the record it verified with; a record go-msgauth cannot read has no
// flags that matter.
func parseKeyFlags(record string) keyFlags {
	var f keyFlags
	for part := range strings.SplitSeq(record, ";") {
		name, value, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) != "t" {
			continue
		}
		for flag := range strings.SplitSeq(value, ":") {
			switch stripSpace(flag) {
			case "y":
				f.testing = true
			case "s":
				f.strict = true
			}
		}
	}
	return f
}

// keyLookup adapts a Resolver to go-msgauth's LookupTXT, which takes no
// context: ctx is bound here. go-msgauth tells a temporary failure from a
// permanent one only by asserting net.Error on the error itself, so a
// *net.DNSError goes back unwrapped (taken out of any wrapping), and any
// other error (from a resolver that is no *net.Resolver, or a cancelled
// ctx) becomes a temporary *net.DNSError: a failure to ask is never
// evidence against the signer.
//
// It keeps what each lookup returned, by query name: the DNS error, so
// that a TempError result can carry it, and the record, so that the key's
// flags, which go-msgauth reads but does not report, come from the very
// answer go-msgauth verified with, without a second query.
type keyLookup struct {
	ctx context.Context
	r   Resolver

	mu      sync.Mutex
	errs    map[string]error    // by query name, lower case
	records map[string][]string // by query name, lower case
}

func (k *keyLookup) lookupTXT(name string) ([]string, error) {
	txts, err := k.r.LookupTXT(k.ctx, name)
	if err != nil {
		var de *net.DNSError
		if !errors.As(err, &de) {
			de = &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
			if k.ctx.Err() != nil {
				de.IsTimeout = true
			}
		}
		err = de
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key := strings.ToLower(name)
	if err != nil {
		if k.errs == nil {
			k.errs = make(map[string]error)
		}
		k.errs[key] = err
		return nil, err
	}
	if k.records == nil {
		k.records = make(map[string][]string)
	}
	k.records[key] = txts
	return txts, nil
}

// keyName is the name of sig's key record.
func keyName(sig signature) string {
	return strings.ToLower(sig.selector + "._domainkey." + sig.domain)
}

// err returns the DNS error of the key lookup for sig, if there was one.
func (k *keyLookup) err(sig signature) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.errs[keyName(sig)]
}

// flags returns the flags of sig's key, if its record was looked up and is
// the single TXT record go-msgauth requires (RFC 6376 §3.6.2.2).
func (k *keyLookup) flags(sig signature) keyFlags {
	k.mu.Lock()
	defer k.mu.Unlock()
	if txts := k.records[keyName(sig)]; len(txts) == 1 {
		return parseKeyFlags(txts[0])
	}
	return keyFlags{}
}

// fetch looks up the key of sig if nothing asked for it yet: go-msgauth
// refuses some signatures (x= in the past, From not signed, rsa-sha1)
// before it looks their key up, and only the key says whether the signer
// is testing. It asks through the same Resolver, so with a caching
// resolver and Checker.Prefetch the answer is already there. A failure
// changes nothing: it only leaves the flags unknown.
func (k *keyLookup) fetch(sig signature) {
	name, err := dnsname.Normalize(sig.selector + "._domainkey." + sig.domain)
	if err != nil || sig.selector == "" || sig.domain == "" || k.ctx.Err() != nil {
		return
	}
	key := keyName(sig)
	k.mu.Lock()
	_, asked := k.records[key]
	if _, failed := k.errs[key]; failed {
		asked = true
	}
	k.mu.Unlock()
	if asked {
		return
	}
	txts, err := k.r.LookupTXT(k.ctx, name)
	if err != nil {
		txts = nil // asked: no flags
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.records == nil {
		k.records = make(map[string][]string)
	}
	k.records[key] = txts
}
