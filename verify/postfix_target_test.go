package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// TestCalloutPostfix probes a real Postfix, whose local_recipient_maps
// refuses unknown users with 550 5.1.1.
func TestCalloutPostfix(t *testing.T) {
	p := targetPostfix(t)
	c := &Callout{HELO: "verifier.test", Route: route(p.addr)}
	for _, tt := range []struct {
		to     string
		status verdict.Status
		reason string
	}{
		{"alice@example.test", verdict.Pass, "250 2.1.5"},
		{"Alice@Example.Test", verdict.Pass, "250 2.1.5"},
		{"bob@example.test", verdict.Fail, "550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown in local recipient table"},
	} {
		res := c.Verify(context.Background(), tt.to)
		if res.Status != tt.status || !strings.Contains(res.Reason, tt.reason) {
			t.Errorf("%s: %v %q", tt.to, res.Status, res.Reason)
		}
	}
}
