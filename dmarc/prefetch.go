package dmarc

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Prefetch starts the lookups Check will need before the message is
// complete, so that with a caching resolver (package resolver) they are
// answered or in flight by then: the DMARC records of the From domain when
// the message is known, else of the MAIL FROM domain, which is the From
// domain of most mail; and those of its organizational domain, at the same
// time rather than after a miss. It is a verdict.Prefetcher; the answers
// are not used here, only cached.
func (c *Checker) Prefetch(ctx context.Context, s *verdict.Session) {
	var domain string
	if s.Message != nil {
		domain, _ = From(bytes.NewReader(s.Message))
	} else if at := strings.LastIndexByte(s.MailFrom, '@'); at >= 0 {
		domain = s.MailFrom[at+1:]
	}
	domain, err := dnsname.Normalize(domain)
	if err != nil {
		return
	}
	names := []string{domain}
	if org := OrgDomain(domain); org != "" && org != domain {
		names = append(names, org)
	}
	var wg sync.WaitGroup
	for _, d := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.r.LookupTXT(ctx, "_dmarc."+d)
		}()
	}
	wg.Wait()
}
