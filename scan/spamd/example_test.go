package spamd_test

import (
	"context"
	"fmt"

	"github.com/mtaguard/mtaguard/scan/spamd"
	"github.com/mtaguard/mtaguard/verdict"
)

// A spamd Checker joins a policy whose thresholds weigh SpamAssassin's
// score with the other checks'. Here nothing listens at the address, so
// the message is deferred, not accepted unscanned.
func Example() {
	c := spamd.New("tcp", "127.0.0.1:1", &spamd.Options{RejectScore: 15})
	p := &verdict.Policy{Checks: []verdict.Check{c}, Quarantine: 6, Reject: 15}
	d := p.Evaluate(context.Background(), &verdict.Session{Message: []byte("Subject: hi\r\n\r\nhi\r\n")}, verdict.Data)
	fmt.Println(d.Action, d.Code, d.Enhanced)
	// Output: tempfail 451 4.7.0
}
