package dmarc

import (
	"context"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/verdict"
)

// Prefetch starts the lookups Check will need before the message is
// complete, so that with a caching resolver (package resolver) they are
// answered or in flight by then: the names of the DNS tree walk (or, under
// PublicSuffixList, the author domain and its organizational domain) of
// each author domain when the header section is known, and those of the
// d= domains of its DKIM signatures, which relaxed alignment may walk for;
// else of the MAIL FROM domain, which is the author domain of most mail.
// All are asked at once.
// It is a verdict.Prefetcher; the answers are not used here, only cached.
func (c *Checker) Prefetch(ctx context.Context, s *verdict.Session) {
	var domains []string
	if s.Message != nil {
		if sec, err := header.Parse(s.Message); err == nil {
			domains = authors(values(sec, "From")).Domains
			if len(domains) > maxAuthors {
				domains = domains[:maxAuthors]
			}
			if !c.o.PublicSuffixList {
				signed := signers(sec)
				domains = append(domains, signed[:min(len(signed), maxIdentities)]...)
			}
		}
	} else if d, ok := address.Domain(s.MailFrom); ok {
		domains = []string{d}
	}
	l := newLookups(ctx, c.r)
	for _, d := range domains {
		d, err := dnsname.Normalize(d)
		if err != nil {
			continue
		}
		if !c.o.PublicSuffixList {
			l.start(walkNames(d)...)
			continue
		}
		l.start(d)
		if org := OrgDomain(d); org != "" && org != d {
			l.start(org)
		}
	}
	l.wait()
}
