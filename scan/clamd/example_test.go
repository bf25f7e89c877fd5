package clamd_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mtaguard/mtaguard/scan/clamd"
	"github.com/mtaguard/mtaguard/verdict"
)

// A Checker joins a Policy as a check of the Data stage. Here no clamd
// listens on the socket: the scan fails, and the message is deferred
// rather than accepted unscanned.
func Example() {
	c := clamd.New("unix", "/nonexistent/clamd.ctl", &clamd.Options{Timeout: 5 * time.Second})
	defer c.Close()
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	s := &verdict.Session{Message: []byte("Subject: hello\r\n\r\nhi\r\n")}
	d := p.Evaluate(context.Background(), s, verdict.Data)
	fmt.Println(d.Action, d.Code, d.Enhanced)
	// Output: tempfail 451 4.7.0
}
