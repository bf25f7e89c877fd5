package spf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	libspf "blitiri.com.ar/go/spf"

	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// outcome is what one check_host() evaluation found.
type outcome struct {
	result libspf.Result
	err    error  // behind a temperror or permerror, or why there was nothing to check
	domain string // the <domain> checked; "" if there was none
	exp    string // the domain's explanation of a fail, or ""
}

var (
	errNoIP     = errors.New("spf: no valid client IP address")
	errNoDomain = errors.New("spf: no valid domain to check")
)

// evaluate runs check_host() (RFC 7208 §4) for ip and the sender
// local@domain.
func (c *Checker) evaluate(ctx context.Context, ip netip.Addr, helo, local, domain string) outcome {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return outcome{result: libspf.None, err: errNoIP}
	}
	// §4.3: a malformed domain, or one of a single label, gives none
	// without a lookup. Names are looked up as lower-case A-labels.
	domain, err := dnsname.Normalize(domain)
	if err != nil || !strings.Contains(domain, ".") {
		return outcome{result: libspf.None, err: errNoDomain}
	}
	if local == "" {
		local = "postmaster" // §4.3
	}
	// The library takes the domain after the first "@": one in a quoted
	// local-part must not make it check another domain.
	sender := strings.ReplaceAll(local, "@", "%40") + "@" + domain

	now := time.Now
	if c.o.Now != nil {
		now = c.o.Now
	}
	lr := &libResolver{r: c.r, env: macroEnv{sender: sender, ip: ip, helo: helo, receiver: c.o.Receiver, now: now()}}
	res, err := libspf.CheckHostWithSender(ip.AsSlice(), helo, sender,
		libspf.WithContext(ctx), libspf.WithResolver(lr))
	out := outcome{result: res, domain: domain}
	switch res {
	case libspf.TempError, libspf.PermError:
		out.err = err
	case libspf.Fail:
		out.exp = explain(ctx, lr)
	}
	return out
}
