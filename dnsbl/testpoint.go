package dnsbl

import (
	"context"
	"fmt"

	"github.com/mtaguard/mtaguard/internal/dnserr"
	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// Test checks that l answers its RFC 5782 §5 test points as an IPv4 list
// must: 127.0.0.2 listed, 127.0.0.1 not listed. A list that fails is
// broken, shut down, or "listing the world" (the known way to retire a
// list), and its answers should not be used; Haraka and rspamd test their
// lists this way every so often, not on every message, and so should a
// caller. Test reads l's Zone and Errors; any non-error answer in
// 127.0.0.0/8 counts as listed, whatever l's Codes say, since 127.0.0.2's
// answer need not be one of them.
func Test(ctx context.Context, r Resolver, l List) error {
	return test(ctx, r, l, "2.0.0.127", "1.0.0.127")
}

// TestDomain is Test for a domain list: its test points are "test"
// (listed) and "invalid" (not listed).
func TestDomain(ctx context.Context, r Resolver, l List) error {
	return test(ctx, r, l, "test", "invalid")
}

func test(ctx context.Context, r Resolver, l List, yes, no string) error {
	zone, err := dnsname.Normalize(l.Zone)
	if err != nil {
		return fmt.Errorf("dnsbl: zone %q: %w", l.Zone, err)
	}
	l.Codes = nil
	for _, point := range []struct {
		label  string
		listed bool
	}{{yes, true}, {no, false}} {
		name := point.label + "." + zone + "."
		ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		answers, err := r.LookupNetIP(ctx, "ip4", name)
		cancel()
		if err != nil && !dnserr.NotFound(err) {
			return fmt.Errorf("dnsbl: %s: test point %s: %w", zone, point.label, err)
		}
		codes, bad, kind := l.evaluate(answers)
		switch {
		case bad.IsValid():
			return fmt.Errorf("dnsbl: %s: test point %s answered %v: %s", zone, point.label, bad, errorMeaning(bad, kind))
		case point.listed && len(codes) == 0:
			return fmt.Errorf("dnsbl: %s does not list its test point %s", zone, point.label)
		case !point.listed && len(codes) > 0:
			return fmt.Errorf("dnsbl: %s lists %s, which no list may list: it lists everything", zone, point.label)
		}
	}
	return nil
}
