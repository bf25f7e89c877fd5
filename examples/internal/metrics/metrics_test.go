package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestServe(t *testing.T) {
	c := New()
	c.Resolver(func() resolver.Stats { return resolver.Stats{Lookups: 7, CacheHits: 3, CacheEntries: 2} })
	c.Greylist(func() int { return 5 })
	c.Observe(verdict.Observation{Stage: verdict.Rcpt, Elapsed: time.Millisecond,
		Decision: verdict.Decision{Action: verdict.Accept, Would: verdict.Reject},
		Checks: []verdict.CheckRun{
			{Result: verdict.Result{Check: relay.Name, Status: verdict.Fail, Action: verdict.Reject}, Elapsed: time.Millisecond},
			{Result: verdict.Result{Check: greylist.Name, Status: verdict.Fail, Action: verdict.TempFail}},
		}})
	addr, stop, err := c.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`mtaguard_decisions_total{action="accept",stage="rcpt"} 1`,
		`mtaguard_decisions_would_total{action="reject",stage="rcpt"} 1`,
		`mtaguard_check_results_total{check="relay",status="fail"} 1`,
		`mtaguard_check_demands_total{action="reject",check="relay"} 1`,
		`mtaguard_check_duration_seconds_count{check="relay"} 1`,
		`mtaguard_greylist_results_total{outcome="deferred"} 1`,
		`mtaguard_greylist_entries 5`,
		`mtaguard_dns_lookups_total 7`,
		`mtaguard_dns_cache_hits_total 3`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
