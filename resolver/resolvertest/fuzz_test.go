package resolvertest

import (
	"context"
	"testing"
	"time"
)

// FuzzNew feeds arbitrary zone text to New: it must return an error or a
// resolver that answers, never panic.
func FuzzNew(f *testing.F) {
	for _, z := range []string{
		"$ORIGIN example.org.\n$TTL 300\n@ SOA ns hostmaster 1 7200 3600 1209600 60\n@ MX 10 mx\nmx A 192.0.2.1\n",
		"example.org. TXT \"v=spf1 \" \"-all\"\n*.example.org. CNAME example.org.\n",
		"a.example.org. CNAME b.example.org.\nb.example.org. CNAME a.example.org.\n",
		"$INCLUDE /etc/passwd\n",
		"example.org. ( 300 IN\n A 192.0.2.1 )\n",
		"$GENERATE 1-3 h$ A 192.0.2.$\n",
		"\\032.example.org. A 192.0.2.1\n",
	} {
		f.Add(z)
	}
	f.Fuzz(func(t *testing.T, zone string) {
		r, err := New(zone)
		if err != nil {
			return
		}
		r.SetTimeoutAfter(time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.LookupHost(ctx, "example.org")
		r.LookupTXT(ctx, "x.example.org")
		r.LookupMX(ctx, "example.org")
		r.LookupCNAME(ctx, "a.example.org")
		r.LookupAddr(ctx, "192.0.2.1")
	})
}
