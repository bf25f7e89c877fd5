package verdict_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mtaguard/mtaguard/verdict"
)

// helloCheck is a check written by a caller: it distrusts clients that
// greet with "localhost".
type helloCheck struct{}

func (helloCheck) Name() string         { return "my-helo" }
func (helloCheck) Stage() verdict.Stage { return verdict.Helo }
func (helloCheck) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	if s.HELO == "localhost" {
		return verdict.Result{Status: verdict.Fail, Score: 20, Reason: "HELO localhost from outside"}
	}
	return verdict.Result{Status: verdict.Pass}
}

func ExamplePolicy_Evaluate() {
	p := &verdict.Policy{
		Checks:     []verdict.Check{helloCheck{}},
		Quarantine: 6,
		Reject:     15,
	}
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.7"), HELO: "localhost"}
	d := p.Evaluate(context.Background(), s, verdict.Helo)
	fmt.Println(d.Action)
	fmt.Println(d)
	// Output:
	// reject
	// 550 5.7.1 Refused by policy: my-helo: HELO localhost from outside
}

// In monitor mode the policy refuses nothing: the reply is 250 and Would
// says what it would have done, for the log and the metrics.
func ExamplePolicy_monitor() {
	p := &verdict.Policy{Checks: []verdict.Check{helloCheck{}}, Reject: 15, Monitor: true}
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.7"), HELO: "localhost"}
	d := p.Evaluate(context.Background(), s, verdict.Helo)
	fmt.Println(d)
	fmt.Println("would:", d.Would, "score:", d.Score)
	// Output:
	// 250 2.0.0 OK
	// would: reject score: 20
}
