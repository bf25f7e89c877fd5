package dkim

import (
	"context"
	"sync"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/verdict"
)

// Prefetch looks up the public keys of the DKIM-Signature fields in the
// header section of s.Message, all at once, so that with a caching resolver
// (package resolver) the verification finds them cached. It is a
// verdict.Prefetcher: an SMTP server calls Policy.Prefetch when it has the
// header section, and the keys arrive while the body is transferred. Only
// the signatures Check would verify (Options.MaxSignatures, from the top)
// are looked up, and only those whose d= and s= are domain names.
func (c *Checker) Prefetch(ctx context.Context, s *verdict.Session) {
	// The section is read as Check reads it; one larger than Check
	// accepts is not worth a lookup.
	sec, err := header.Parse(s.Message)
	if err != nil || sec.Len > c.o.MaxHeaderBytes || sec.Flaws.Has(header.BareCR) {
		return
	}
	sigs := signatures(sec)
	if len(sigs) > c.o.MaxSignatures {
		sigs = sigs[:c.o.MaxSignatures]
	}
	seen := make(map[string]bool, len(sigs))
	var wg sync.WaitGroup
	for _, sig := range sigs {
		name, err := dnsname.Normalize(sig.selector + "._domainkey." + sig.domain)
		if err != nil || sig.selector == "" || sig.domain == "" || seen[name] {
			continue
		}
		seen[name] = true
		wg.Go(func() { c.r.LookupTXT(ctx, name) })
	}
	wg.Wait()
}
