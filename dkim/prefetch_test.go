package dkim_test

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestPrefetch(t *testing.T) {
	r := resolvertest.MustNew("")
	c := dkim.New(r, &dkim.Options{MaxSignatures: 2})
	var _ verdict.Prefetcher = c
	header := "DKIM-Signature: v=1; a=rsa-sha256; d=Example.org; s=sel1; h=from; bh=x; b=y\r\n" +
		"DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\r\n s=sel2; h=from; bh=x; b=y\r\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; d=third.example; s=sel3; h=from; bh=x; b=y\r\n" +
		"From: a@example.org\r\n\r\n"
	// The header alone, as a server has it while the body arrives; a
	// signature-like line in the body is not looked up.
	for _, msg := range []string{header, header + "DKIM-Signature: d=body.example; s=no\r\n"} {
		r.ResetQueries()
		c.Prefetch(context.Background(), &verdict.Session{Message: []byte(msg)})
		if r.Queries("sel1._domainkey.example.org", dns.TypeTXT) != 1 || r.Queries("sel2._domainkey.example.org", dns.TypeTXT) != 1 || r.TotalQueries() != 2 {
			t.Errorf("%d queries; want the keys of the first two signatures once each", r.TotalQueries())
		}
	}
	r.ResetQueries()
	c.Prefetch(context.Background(), &verdict.Session{Message: []byte("DKIM-Signature: d=bad!domain; s=x\r\nFrom: a@b.example\r\n\r\n")})
	c.Prefetch(context.Background(), &verdict.Session{})
	if r.TotalQueries() != 0 {
		t.Errorf("%d queries for no usable signature", r.TotalQueries())
	}
}
