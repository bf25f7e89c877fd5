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

	// At MAIL: the MAIL FROM domain and its organizational domain.
	c.Prefetch(ctx, &verdict.Session{MailFrom: "bounce@mail.Example.ORG"})
	if r.Queries("_dmarc.mail.example.org", dns.TypeTXT) != 1 || r.Queries("_dmarc.example.org", dns.TypeTXT) != 1 {
		t.Errorf("MAIL FROM prefetch: %d queries", r.TotalQueries())
	}
	// With the message: its From domain, once when it is organizational.
	r.ResetQueries()
	c.Prefetch(ctx, &verdict.Session{MailFrom: "x@other.example", Message: []byte("From: a@example.org\r\n\r\nhi\r\n")})
	if r.Queries("_dmarc.example.org", dns.TypeTXT) != 1 || r.TotalQueries() != 1 {
		t.Errorf("From prefetch: %d queries", r.TotalQueries())
	}
	// Nothing to go on: no query.
	r.ResetQueries()
	c.Prefetch(ctx, &verdict.Session{})
	c.Prefetch(ctx, &verdict.Session{MailFrom: "no-domain"})
	if r.TotalQueries() != 0 {
		t.Errorf("%d queries without a domain", r.TotalQueries())
	}
}
