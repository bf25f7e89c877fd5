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
