package rspamd_test

import (
	"fmt"
	"maps"

	"github.com/mtaguard/mtaguard/scan/rspamd"
	"github.com/mtaguard/mtaguard/verdict"
)

// A site that wants rspamd's reject to quarantine, not refuse, changes a
// copy of the default mapping.
func Example_mapping() {
	m := maps.Clone(rspamd.DefaultMapping)
	m["reject"] = rspamd.Outcome{Status: verdict.Fail, Action: verdict.Quarantine}
	c := rspamd.New("http://127.0.0.1:11333", &rspamd.Options{Mapping: m})

	reply, _ := rspamd.ParseReply([]byte(`{"action":"reject","score":16.5,"required_score":15,` +
		`"symbols":{"BAYES_SPAM":{"score":5.1},"R_SPF_FAIL":{"score":1}}}`))
	r := c.Result(reply)
	fmt.Println(r.Status, r.Action, r.Score)
	fmt.Println(r.Reason)
	// Output:
	// fail quarantine 16.5
	// reject, score 16.50 of 15.00 (BAYES_SPAM,R_SPF_FAIL)
}
