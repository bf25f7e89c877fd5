package dmarc_test

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestPrefetch(t *testing.T) {
	r := resolvertest.MustNew(`_dmarc.example.org. TXT "v=DMARC1; p=reject"`)
	c := dmarc.New(r, nil)
	var _ verdict.Prefetcher = c
	ctx := context.Background()

	// At MAIL: the names of the MAIL FROM domain's tree walk.
	c.Prefetch(ctx, &verdict.Session{MailFrom: "<bounce@mail.Example.ORG>"})
	if r.Queries("_dmarc.mail.example.org", dns.TypeTXT) != 1 || r.Queries("_dmarc.example.org", dns.TypeTXT) != 1 ||
		r.Queries("_dmarc.org", dns.TypeTXT) != 1 || r.TotalQueries() != 3 {
		t.Errorf("MAIL FROM prefetch: %d queries", r.TotalQueries())
	}
	// With the message: those of its author domains.
	r.ResetQueries()
	c.Prefetch(ctx, &verdict.Session{MailFrom: "x@other.example", Message: []byte("From: a@example.org\r\nFrom: b@example.net\r\n\r\nhi\r\n")})
	if r.Queries("_dmarc.example.org", dns.TypeTXT) != 1 || r.Queries("_dmarc.example.net", dns.TypeTXT) != 1 || r.TotalQueries() != 4 {
		t.Errorf("From prefetch: %d queries", r.TotalQueries())
	}
	// Under RFC 7489: the domain and its organizational domain.
	r.ResetQueries()
	dmarc.New(r, &dmarc.Options{PublicSuffixList: true}).Prefetch(ctx, &verdict.Session{MailFrom: "bounce@mail.example.org"})
	if r.Queries("_dmarc.mail.example.org", dns.TypeTXT) != 1 || r.Queries("_dmarc.example.org", dns.TypeTXT) != 1 || r.TotalQueries() != 2 {
		t.Errorf("RFC 7489 prefetch: %d queries", r.TotalQueries())
	}
	// Nothing to go on: no query.
	r.ResetQueries()
	c.Prefetch(ctx, &verdict.Session{})
	c.Prefetch(ctx, &verdict.Session{MailFrom: "no-domain"})
	if r.TotalQueries() != 0 {
		t.Errorf("%d queries without a domain", r.TotalQueries())
	}
}
