package verify

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// The contract: NewSender and NewRecipient make verdict.Checks.
var (
	_ func(*Callout, *Options) verdict.Check = NewSender
	_ func(*Callout, *Options) verdict.Check = NewRecipient
	_ verdict.Check                          = (*Checker)(nil)
	_ verdict.Check                          = (*Table)(nil)
	_ verdict.Check                          = (*SenderDomain)(nil)
)

func TestCheckers(t *testing.T) {
	g := (&goServer{users: map[string]bool{"alice@example.test": true}}).start(t, "127.0.0.2", false)
	c := &Callout{Route: route(g.addr)}
	hang := &Callout{Route: route(silent(t, "127.0.0.4")), Timeout: 100 * time.Millisecond}
	strict := &Options{Reject: true, Defer: true}
	spfFail := []verdict.Result{{Check: "spf", Status: verdict.Fail}}

	tests := []struct {
		name   string
		check  verdict.Check
		s      verdict.Session
		action verdict.Action
		code   int
		enh    string
		status verdict.Status
	}{
		{"sender known", NewSender(c, strict), verdict.Session{MailFrom: "<alice@example.test>"}, verdict.Accept, 250, "2.1.0", verdict.Pass},
		{"sender unknown", NewSender(c, strict), verdict.Session{MailFrom: "<bob@example.test>"}, verdict.Reject, 550, "5.1.7", verdict.Fail},
		{"sender unknown, scores only", NewSender(c, nil), verdict.Session{MailFrom: "bob@example.test"}, verdict.Accept, 250, "2.1.0", verdict.Fail},
		{"sender undecided, defer", NewSender(hang, strict), verdict.Session{MailFrom: "bob@example.test"}, verdict.TempFail, 450, "4.1.7", verdict.TempError},
		{"sender undecided, pass", NewSender(hang, &Options{Reject: true}), verdict.Session{MailFrom: "bob@example.test"}, verdict.Accept, 250, "2.1.0", verdict.TempError},
		{"null sender", NewSender(c, strict), verdict.Session{MailFrom: ""}, verdict.Accept, 250, "2.1.0", verdict.None},
		{"sender after SPF fail", NewSender(c, strict), verdict.Session{MailFrom: "bob@example.test", Results: spfFail}, verdict.Accept, 250, "2.1.0", verdict.None},
		{"sender after SPF fail, probed", NewSender(c, &Options{Reject: true, ProbeSPFFail: true}), verdict.Session{MailFrom: "bob@example.test", Results: spfFail}, verdict.Reject, 550, "5.1.7", verdict.Fail},
		{"authenticated", NewSender(c, strict), verdict.Session{MailFrom: "bob@example.test", AuthUser: "bob"}, verdict.Accept, 250, "2.1.0", verdict.None},
		{"recipient known", NewRecipient(c, strict), verdict.Session{Rcpt: "<alice@example.test>"}, verdict.Accept, 250, "2.1.5", verdict.Pass},
		{"recipient unknown", NewRecipient(c, strict), verdict.Session{Rcpt: "<bob@example.test>"}, verdict.Reject, 550, "5.1.1", verdict.Fail},
		{"recipient undecided", NewRecipient(hang, strict), verdict.Session{Rcpt: "<bob@example.test>"}, verdict.TempFail, 450, "4.1.1", verdict.TempError},
		{"recipient in another domain", NewRecipient(c, &Options{Reject: true, Domains: []string{"Other.TEST"}}), verdict.Session{Rcpt: "bob@example.test"}, verdict.Accept, 250, "2.1.5", verdict.None},
		{"recipient in a subdomain", NewRecipient(c, &Options{Reject: true, Domains: []string{"test"}}), verdict.Session{Rcpt: "bob@example.test"}, verdict.Reject, 550, "5.1.1", verdict.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &verdict.Policy{Checks: []verdict.Check{tt.check}}
			d := p.Evaluate(context.Background(), &tt.s, tt.check.Stage())
			if d.Action != tt.action || d.Code != tt.code || d.Enhanced != tt.enh {
				t.Errorf("decision %+v", d)
			}
			res, ok := tt.s.Result(tt.check.Name())
			if !ok || res.Status != tt.status || res.Reason == "" {
				t.Errorf("result %+v", res)
			}
			if tt.status == verdict.Fail && res.Score != DefaultScores.Fail {
				t.Errorf("score %v", res.Score)
			}
		})
	}
	if n := NewSender(c, nil).Name(); n != SenderName {
		t.Errorf("sender check named %q", n)
	}
	if n := NewRecipient(c, nil).Name(); n != RecipientName {
		t.Errorf("recipient check named %q", n)
	}
}

// TestCheckerCopiesOptions: later changes to the options do not change a
// check.
func TestCheckerCopiesOptions(t *testing.T) {
	g := (&goServer{}).start(t, "127.0.0.2", false)
	scores := Scores{Fail: 3}
	o := &Options{Reject: true, Domains: []string{"example.test"}, Scores: &scores}
	k := NewRecipient(&Callout{Route: route(g.addr)}, o).(*Checker)
	o.Reject, o.Domains[0], scores.Fail = false, "other.test", 7
	res := k.Evaluate(context.Background(), "bob@example.test")
	if res.Action != verdict.Reject || res.Score != 3 {
		t.Errorf("%+v", res)
	}
}

func TestTable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "recipients")
	os.WriteFile(file, []byte("# local users\nalice@example.test OK\n\n@lists.example.test  whole domain\n"), 0o644)
	fromFile, err := LoadTable(file)
	if err != nil {
		t.Fatal(err)
	}
	broken := func(context.Context, string) (bool, error) { return false, errors.New("table unreachable") }
	o := &Options{Reject: true, Defer: true, Domains: []string{"example.test"}}
	for _, lookup := range []Lookup{MapLookup([]string{"Alice@Example.test", "@lists.example.test"}), fromFile} {
		tab := NewTable(lookup, o)
		if tab.Name() != TableName || tab.Stage() != verdict.Rcpt {
			t.Fatal(tab.Name(), tab.Stage())
		}
		for _, tt := range []struct {
			rcpt   string
			status verdict.Status
			code   int
			enh    string
		}{
			{"<alice@example.test>", verdict.Pass, 0, ""},
			{"ALICE@example.TEST", verdict.Pass, 0, ""},
			{"anyone@lists.example.test", verdict.Pass, 0, ""},
			{"bob@example.test", verdict.Fail, 550, "5.1.1"},
			{"bob@elsewhere.test", verdict.None, 0, ""},
		} {
			res := tab.Evaluate(context.Background(), tt.rcpt)
			if res.Status != tt.status || res.Code != tt.code || res.Enhanced != tt.enh {
				t.Errorf("%s: %+v", tt.rcpt, res)
			}
		}
	}
	res := NewTable(broken, o).Check(context.Background(), &verdict.Session{Rcpt: "bob@example.test"})
	if res.Status != verdict.TempError || res.Action != verdict.TempFail || res.Code != 450 || res.Enhanced != "4.1.1" || res.Err == nil {
		t.Errorf("broken table: %+v", res)
	}
	if _, err := LoadTable(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file loaded")
	}
	os.WriteFile(file, []byte("alice\n"), 0o644)
	if _, err := LoadTable(file); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v", err)
	}
}

// TestSenderAfterSPF: in one Policy, the sender check waits for spf and
// spares the callout of a sender whose SPF failed.
func TestSenderAfterSPF(t *testing.T) {
	g := (&goServer{users: map[string]bool{"alice@example.test": true}}).start(t, "127.0.0.2", false)
	r := resolvertest.MustNew(`example.test. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	c := &Callout{Route: route(g.addr)}
	p := &verdict.Policy{Checks: []verdict.Check{
		NewSender(c, &Options{Reject: true}),
		spf.New(r, nil),
	}}
	for _, tt := range []struct {
		ip     string
		status verdict.Status
	}{
		{"192.0.2.1", verdict.Fail},   // SPF pass: bob is probed, and refused
		{"203.0.113.9", verdict.None}, // SPF fail: not probed
	} {
		s := &verdict.Session{IP: netip.MustParseAddr(tt.ip), HELO: "mail.example.test", MailFrom: "bob@example.test"}
		p.Evaluate(context.Background(), s, verdict.Mail)
		res, _ := s.Result(SenderName)
		if res.Status != tt.status {
			t.Errorf("%s: %+v", tt.ip, res)
		}
	}
	if n := g.sessions.Load(); n != 1 {
		t.Errorf("%d probes, want 1", n)
	}
}
