package greylist_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/mtaguard/mtaguard/greylist"
)

func ExampleCheck() {
	st := greylist.NewMemory()
	t := greylist.Triplet{
		IP:   netip.MustParseAddr("203.0.113.5"),
		From: "newsletter+bounce-1234@lists.example.com",
		Rcpt: "alice@example.org",
	}
	first := time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, after := range []time.Duration{0, time.Minute, 6 * time.Minute, 24 * time.Hour} {
		r := greylist.Check(context.Background(), st, t, first.Add(after), nil)
		fmt.Printf("%-9v %-8v %d %s\n", after, r.Action, r.Code, r.Reason)
		// A retry from another host of the pool, with another VERP tag,
		// is the same triplet.
		t.IP, t.From = netip.MustParseAddr("203.0.113.6"), "newsletter+bounce-5678@lists.example.com"
	}
	// Output:
	// 0s        tempfail 451 greylisted, try again later
	// 1m0s      tempfail 451 greylisted, try again later
	// 6m0s      accept   0 passed greylisting after 360s
	// 24h0m0s   accept   0 known triplet
}
