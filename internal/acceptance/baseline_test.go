package acceptance

import (
	"context"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// TestBaseline checks the world itself: with working DNS, the world's
// sender passes every check and is accepted at every stage. The fault
// tests rely on this: any refusal there is the fault's doing.
func TestBaseline(t *testing.T) {
	r := newWorld(t)
	c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	store := greylist.NewMemory()
	seedGreylist(t, store, c, clientIP)
	p := fullPolicy(r, store, c, 2*time.Second)
	msg := signedMessage(t)

	s := worldSession(msg)
	for _, d := range stageDecisions(context.Background(), p, s) {
		if d.Code != 250 {
			t.Errorf("%s:%s", d, describe(d.Results))
		}
	}
	want := map[string]verdict.Status{
		fcrdns.Name: verdict.Pass, helo.Name: verdict.Pass, spf.Name: verdict.Pass, "sender-domain": verdict.Pass,
		dnsbl.Name: verdict.None, dkim.Name: verdict.Pass, dmarc.Name: verdict.Pass,
	}
	for _, res := range s.Results {
		if w, ok := want[res.Check]; ok && res.Status != w {
			t.Errorf("%s: %v, want %v: %s (%v)", res.Check, res.Status, w, res.Reason, res.Err)
		}
	}
	s = worldSession(msg)
	d := p.EvaluateAll(context.Background(), s)
	if d.Code != 250 || d.Score > 0 {
		t.Errorf("EvaluateAll: %s score %.1f:%s", d, d.Score, describe(d.Results))
	}
	t.Logf("EvaluateAll: %s score %.1f:%s", d, d.Score, describe(d.Results))
}
