package verdict_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

// fake is a check that returns a fixed result after an optional delay, or
// panics, or blocks until its context ends.
type fake struct {
	name  string
	stage verdict.Stage
	res   verdict.Result
	delay time.Duration
	panic bool
	hang  bool
}

func (f fake) Name() string         { return f.name }
func (f fake) Stage() verdict.Stage { return f.stage }
func (f fake) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	if f.panic {
		panic("boom")
	}
	if f.hang {
		<-make(chan struct{}) // ignores ctx on purpose: a badly written check
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return verdict.Result{Status: verdict.TempError, Err: ctx.Err()}
		}
	}
	return f.res
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{verdict.None.String(), "none"}, {verdict.Pass.String(), "pass"},
		{verdict.Neutral.String(), "neutral"}, {verdict.SoftFail.String(), "softfail"},
		{verdict.Fail.String(), "fail"}, {verdict.TempError.String(), "temperror"},
		{verdict.PermError.String(), "permerror"},
		{verdict.Accept.String(), "accept"}, {verdict.Quarantine.String(), "quarantine"},
		{verdict.TempFail.String(), "tempfail"}, {verdict.Reject.String(), "reject"},
		{verdict.Connect.String(), "connect"}, {verdict.Data.String(), "data"},
		{verdict.Status(99).String(), "status(99)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestEvaluateScoresAndThresholds(t *testing.T) {
	mk := func(score float64) verdict.Check {
		return fake{name: "a", stage: verdict.Connect, res: verdict.Result{Status: verdict.Fail, Score: score, Reason: "bad"}}
	}
	for _, c := range []struct {
		name    string
		p       verdict.Policy
		want    verdict.Action
		code    int
		enh     string
		score   float64
		message string
	}{
		{"below", verdict.Policy{Checks: []verdict.Check{mk(3)}, Quarantine: 5, Reject: 10}, verdict.Accept, 250, "2.0.0", 3, "OK"},
		{"quarantine", verdict.Policy{Checks: []verdict.Check{mk(5)}, Quarantine: 5, Reject: 10}, verdict.Quarantine, 250, "2.0.0", 5, "OK: a: bad"},
		{"reject", verdict.Policy{Checks: []verdict.Check{mk(10)}, Quarantine: 5, Reject: 10}, verdict.Reject, 554, "5.7.1", 10, "Refused by policy: a: bad"},
		{"weighted", verdict.Policy{Checks: []verdict.Check{mk(4)}, Weights: map[string]float64{"a": 3}, Reject: 10}, verdict.Reject, 554, "5.7.1", 12, "Refused by policy: a: bad"},
		{"thresholds off", verdict.Policy{Checks: []verdict.Check{mk(100)}}, verdict.Accept, 250, "2.0.0", 100, "OK"},
		{"exempt", verdict.Policy{Checks: []verdict.Check{mk(100)}, Reject: 10, Exempt: func(*verdict.Session) bool { return true }}, verdict.Accept, 250, "2.0.0", 100, "OK"},
		{"reply text", verdict.Policy{Checks: []verdict.Check{mk(10)}, Reject: 10, Replies: map[verdict.Action]string{verdict.Reject: "Go away\r\n"}}, verdict.Reject, 554, "5.7.1", 10, "Go away: a: bad"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.1")}
			d := c.p.Evaluate(context.Background(), s, verdict.Connect)
			if d.Action != c.want || d.Code != c.code || d.Enhanced != c.enh || d.Score != c.score || d.Message != c.message {
				t.Errorf("got %v %d %s score %v %q; want %v %d %s score %v %q", d.Action, d.Code, d.Enhanced, d.Score, d.Message, c.want, c.code, c.enh, c.score, c.message)
			}
			if len(s.Results) != 1 || len(d.Results) != 1 {
				t.Errorf("results: session %d, decision %d; want 1", len(s.Results), len(d.Results))
			}
		})
	}
}

func TestEvaluateDemandsAndStages(t *testing.T) {
	p := &verdict.Policy{
		Reject: 10,
		Checks: []verdict.Check{
			fake{name: "conn", stage: verdict.Connect, res: verdict.Result{Score: 6, Reason: "meh"}},
			fake{name: "relay", stage: verdict.Rcpt, res: verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Reason: "Relay access denied"}},
			fake{name: "grey", stage: verdict.Rcpt, res: verdict.Result{Action: verdict.TempFail, Code: 451, Enhanced: "4.7.1", Reason: "greylisted"}},
			fake{name: "mail", stage: verdict.Mail, res: verdict.Result{Score: 5, Reason: "more"}},
		},
	}
	s := &verdict.Session{}
	ctx := context.Background()
	if d := p.Evaluate(ctx, s, verdict.Connect); d.Action != verdict.Accept || d.Score != 6 {
		t.Fatalf("connect: %v %v", d.Action, d.Score)
	}
	if d := p.Evaluate(ctx, s, verdict.Helo); d.Action != verdict.Accept || len(s.Results) != 1 {
		t.Fatalf("helo with no checks: %v, %d results", d.Action, len(s.Results))
	}
	// Earlier stages count: 6 + 5 reaches the threshold at MAIL.
	d := p.Evaluate(ctx, s, verdict.Mail)
	if d.Action != verdict.Reject || d.Code != 550 || d.Score != 11 {
		t.Fatalf("mail: %v %d %v", d.Action, d.Code, d.Score)
	}
	if !strings.Contains(d.Message, "conn: meh") || !strings.Contains(d.Message, "mail: more") || strings.Index(d.Message, "conn") > strings.Index(d.Message, "mail") {
		t.Errorf("mail message %q should name both reasons, largest first", d.Message)
	}
	// At RCPT the relay demand wins over the greylist demand, with its own code.
	d = p.Evaluate(ctx, s, verdict.Rcpt)
	if d.Action != verdict.Reject || d.Code != 554 || d.Enhanced != "5.7.1" || !strings.Contains(d.Message, "Relay access denied") {
		t.Errorf("rcpt: %v", d)
	}
	if strings.Contains(d.Message, "greylisted") {
		t.Errorf("rcpt message %q names a reason that did not drive the action", d.Message)
	}
}

func TestTempFailDemand(t *testing.T) {
	p := &verdict.Policy{Checks: []verdict.Check{
		fake{name: "grey", stage: verdict.Rcpt, res: verdict.Result{Action: verdict.TempFail, Code: 451, Enhanced: "4.7.1", Reason: "greylisted, try again later"}},
	}}
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Rcpt)
	if d.Code != 451 || d.Enhanced != "4.7.1" || d.Action != verdict.TempFail {
		t.Errorf("got %v", d)
	}
	if got := d.String(); got != "451 4.7.1 greylisted, try again later" {
		t.Errorf("String() = %q", got)
	}
}

func TestAcceptEnhancedCodes(t *testing.T) {
	p := &verdict.Policy{}
	for stage, want := range map[verdict.Stage]string{verdict.Connect: "2.0.0", verdict.Mail: "2.1.0", verdict.Rcpt: "2.1.5", verdict.Data: "2.0.0"} {
		if d := p.Evaluate(context.Background(), &verdict.Session{}, stage); d.Code != 250 || d.Enhanced != want {
			t.Errorf("%v: %d %s, want 250 %s", stage, d.Code, d.Enhanced, want)
		}
	}
}

func TestChecksRunConcurrently(t *testing.T) {
	var checks []verdict.Check
	for i := 0; i < 8; i++ {
		checks = append(checks, fake{name: "slow", stage: verdict.Helo, delay: 100 * time.Millisecond, res: verdict.Result{Status: verdict.Pass}})
	}
	p := &verdict.Policy{Checks: checks}
	start := time.Now()
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Helo)
	elapsed := time.Since(start)
	if len(d.Results) != 8 {
		t.Fatalf("%d results", len(d.Results))
	}
	// Eight checks of 100 ms in sequence would take 800 ms.
	if elapsed > 400*time.Millisecond {
		t.Errorf("8 checks of 100ms took %v: not concurrent", elapsed)
	}
}

func TestPanicContained(t *testing.T) {
	p := &verdict.Policy{Reject: 1, Checks: []verdict.Check{
		fake{name: "bad", stage: verdict.Mail, panic: true},
		fake{name: "good", stage: verdict.Mail, res: verdict.Result{Status: verdict.Pass}},
	}}
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Mail)
	if d.Action != verdict.Accept {
		t.Errorf("a panic changed the action to %v", d.Action)
	}
	bad := d.Results[0]
	if bad.Check != "bad" || bad.Status != verdict.TempError || bad.Score != 0 || bad.Err == nil || !strings.Contains(bad.Err.Error(), "boom") {
		t.Errorf("panicking check's result: %+v", bad)
	}
	if strings.Contains(d.Message, "boom") {
		t.Errorf("message leaks the panic: %q", d.Message)
	}
	if d.Results[1].Status != verdict.Pass {
		t.Errorf("other check: %+v", d.Results[1])
	}
}

func TestHangingCheckAbandoned(t *testing.T) {
	p := &verdict.Policy{Timeout: 50 * time.Millisecond, Checks: []verdict.Check{
		fake{name: "hang", stage: verdict.Data, hang: true},
		fake{name: "ok", stage: verdict.Data, res: verdict.Result{Status: verdict.Pass}},
	}}
	start := time.Now()
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Data)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Evaluate took %v with a 50ms deadline", el)
	}
	if r := d.Results[0]; r.Check != "hang" || r.Status != verdict.TempError || !errors.Is(r.Err, verdict.ErrTimeout) {
		t.Errorf("hanging check: %+v", r)
	}
	if d.Results[1].Status != verdict.Pass {
		t.Errorf("finished check lost: %+v", d.Results[1])
	}
	if d.Action == verdict.Reject {
		t.Errorf("a timeout rejected")
	}
}

func TestContextCancel(t *testing.T) {
	p := &verdict.Policy{Checks: []verdict.Check{fake{name: "hang", stage: verdict.Data, hang: true}}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	d := p.Evaluate(ctx, &verdict.Session{}, verdict.Data)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Evaluate took %v after cancel", el)
	}
	if d.Results[0].Status != verdict.TempError {
		t.Errorf("got %+v", d.Results[0])
	}
}

func TestMessageIsSafe(t *testing.T) {
	p := &verdict.Policy{Reject: 1, Checks: []verdict.Check{
		fake{name: "x", stage: verdict.Helo, res: verdict.Result{Score: 5, Reason: "helo \r\n250 OK\x00 evil" + strings.Repeat("A", 5000)}},
	}}
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Helo)
	if strings.ContainsAny(d.Message, "\r\n\x00") || len(d.Message) > 400 {
		t.Errorf("unsafe message (%d bytes): %q", len(d.Message), d.Message[:60])
	}
}

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a\r\nb\x00c\x7f", "abc"},
		{"bücher", "b??cher"},
		{strings.Repeat("x", 300), strings.Repeat("x", verdict.MaxReason-3) + "..."},
		{strings.Repeat("\n", 300) + "ok", "ok"},
	} {
		if got := verdict.Printable(c.in); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in[:min(len(c.in), 20)], got, c.want)
		}
	}
}

func TestPrintableN(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 80, "short"},
		{strings.Repeat("x", 81), 80, strings.Repeat("x", 77) + "..."},
		{strings.Repeat("\xff", 90), 80, strings.Repeat("?", 77) + "..."},
		{"a\r\nbcdefgh", 5, "ab..."},
		{"abcdef", 3, "abc"},
		{"abcdef", 0, ""},
		{"abcdef", -1, ""},
	} {
		got := verdict.PrintableN(c.in, c.n)
		if got != c.want || len(got) > max(c.n, 0) {
			t.Errorf("PrintableN(%q, %d) = %q, want %q", c.in[:min(len(c.in), 20)], c.n, got, c.want)
		}
	}
}

func TestAuthenticationResults(t *testing.T) {
	d := verdict.Decision{Results: []verdict.Result{
		{Check: "spf", Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: "alice@example.org"}}},
		{Check: "fcrdns"},
		{Check: "dkim", Auth: []authres.Result{
			&authres.DKIMResult{Value: authres.ResultPass, Domain: "example.org", Identifier: "@example.org"},
			&authres.DKIMResult{Value: authres.ResultFail, Domain: "evil\r\nX-Injected: yes", Reason: `a "quoted" \ reason`},
		}},
		{Check: "x", Auth: []authres.Result{&authres.GenericResult{Method: "x;y", Value: "pass\r\nX: y", Params: map[string]string{"smtp.a;b": "c\nd"}}}},
	}}
	got := d.AuthenticationResults("mx.example.net")
	if strings.ContainsAny(got, "\r\n") {
		t.Fatalf("header breaks out: %q", got)
	}
	want := `mx.example.net; spf=pass smtp.mailfrom=alice@example.org; dkim=pass header.d=example.org header.i=@example.org; dkim=fail reason="a quoted  reason" header.d="evilX-Injected: yes"; xy=none smtp.ab=cd`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The result parses back with the same number of results.
	id, rs, err := authres.Parse(got)
	if err != nil || id != "mx.example.net" || len(rs) != 4 {
		t.Errorf("Parse: %q %d %v", id, len(rs), err)
	}
	if got := (verdict.Decision{}).AuthenticationResults("mx;evil\r\n"); got != "mxevil; none" {
		t.Errorf("empty: %q", got)
	}
}

func TestForRcpt(t *testing.T) {
	p := &verdict.Policy{Checks: []verdict.Check{relayLike{}}}
	s := &verdict.Session{Results: make([]verdict.Result, 1, 10)}
	s.Results[0] = verdict.Result{Check: "earlier", Score: 1}
	ctx := context.Background()
	bad := p.Evaluate(ctx, s.ForRcpt("x@elsewhere.example"), verdict.Rcpt)
	good := p.Evaluate(ctx, s.ForRcpt("y@example.net"), verdict.Rcpt)
	if bad.Action != verdict.Reject || good.Action != verdict.Accept {
		t.Errorf("bad %v, good %v: one recipient's denial weighed on the other", bad.Action, good.Action)
	}
	if len(s.Results) != 1 || len(good.Results) != 2 || good.Results[0].Check != "earlier" {
		t.Errorf("session results %d, recipient results %d", len(s.Results), len(good.Results))
	}
}

type relayLike struct{}

func (relayLike) Name() string         { return "relay" }
func (relayLike) Stage() verdict.Stage { return verdict.Rcpt }
func (relayLike) Check(_ context.Context, s *verdict.Session) verdict.Result {
	if strings.HasSuffix(s.Rcpt, "@example.net") {
		return verdict.Result{Status: verdict.Pass}
	}
	return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Reason: "Relay access denied"}
}

// after is a check that reports what earlier results it saw.
type after struct {
	name  string
	deps  []string
	delay time.Duration
}

func (a after) Name() string         { return a.name }
func (a after) Stage() verdict.Stage { return verdict.Data }
func (a after) After() []string      { return a.deps }
func (a after) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	time.Sleep(a.delay)
	var seen []string
	for _, r := range s.Results {
		seen = append(seen, r.Check)
	}
	return verdict.Result{Reason: strings.Join(seen, ",")}
}

func TestDependentChecks(t *testing.T) {
	p := &verdict.Policy{Checks: []verdict.Check{
		after{name: "dmarc", deps: []string{"spf", "dkim"}},
		after{name: "dkim", delay: 30 * time.Millisecond},
		after{name: "other", delay: 30 * time.Millisecond},
		after{name: "x", deps: []string{"y"}},
		after{name: "y", deps: []string{"x"}}, // a cycle: one of the two edges is dropped
	}}
	s := &verdict.Session{Results: []verdict.Result{{Check: "spf"}}}
	start := time.Now()
	d := p.Evaluate(context.Background(), s, verdict.Data)
	if el := time.Since(start); el > 200*time.Millisecond {
		t.Errorf("took %v", el)
	}
	got := map[string]string{}
	for _, r := range d.Results {
		got[r.Check] = r.Reason
	}
	// dmarc waited for dkim (same stage) and saw spf (earlier stage), but
	// not "other", which it does not depend on.
	if got["dmarc"] != "spf,dkim" {
		t.Errorf("dmarc saw %q", got["dmarc"])
	}
	if got["dkim"] != "spf" || got["other"] != "spf" {
		t.Errorf("independent checks saw %q and %q", got["dkim"], got["other"])
	}
	if !(got["x"] == "spf" && got["y"] == "spf,x" || got["y"] == "spf" && got["x"] == "spf,y") {
		t.Errorf("cycle: x saw %q, y saw %q", got["x"], got["y"])
	}
	if len(s.Results) != 6 {
		t.Errorf("%d results", len(s.Results))
	}
}

func TestDependentOfHangingCheck(t *testing.T) {
	p := &verdict.Policy{Timeout: 50 * time.Millisecond, Checks: []verdict.Check{
		fake{name: "hang", stage: verdict.Data, hang: true},
		after{name: "dep", deps: []string{"hang"}},
	}}
	start := time.Now()
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Data)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("took %v", el)
	}
	for _, r := range d.Results {
		if r.Status != verdict.TempError {
			t.Errorf("%s: %v", r.Check, r.Status)
		}
	}
}

func TestEvaluateAll(t *testing.T) {
	var checks []verdict.Check
	for _, st := range []verdict.Stage{verdict.Connect, verdict.Helo, verdict.Mail, verdict.Rcpt, verdict.Data} {
		checks = append(checks, fake{name: st.String(), stage: st, delay: 60 * time.Millisecond, res: verdict.Result{Score: 1}})
	}
	checks = append(checks, after{name: "dmarc", deps: []string{"data", "mail"}})
	p := &verdict.Policy{Checks: checks, Reject: 5}
	s := &verdict.Session{}
	start := time.Now()
	d := p.EvaluateAll(context.Background(), s)
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Errorf("five stages of 60ms took %v: not concurrent", el)
	}
	if d.Action != verdict.Reject || d.Score != 5 || d.Code != 550 || len(d.Results) != 6 {
		t.Errorf("got %v score %v code %d, %d results", d.Action, d.Score, d.Code, len(d.Results))
	}
	if r, _ := s.Result("dmarc"); r.Reason != "data,mail" {
		t.Errorf("dmarc saw %q", r.Reason)
	}
}

// prefetcher records the MAIL FROM it was asked to prefetch for.
type prefetcher struct {
	fake
	seen chan string
}

func (p prefetcher) Prefetch(ctx context.Context, s *verdict.Session) {
	if _, ok := ctx.Deadline(); !ok {
		panic("prefetch without a deadline")
	}
	p.seen <- s.MailFrom
}

func TestPrefetch(t *testing.T) {
	pf := prefetcher{fake: fake{name: "dmarc", stage: verdict.Data}, seen: make(chan string, 10)}
	p := &verdict.Policy{Checks: []verdict.Check{pf}}
	s := &verdict.Session{MailFrom: "a@example.org"}
	ctx, cancel := context.WithCancel(context.Background())
	p.Evaluate(ctx, s, verdict.Mail)
	cancel() // the prefetch outlives the evaluation's context
	select {
	case got := <-pf.seen:
		if got != "a@example.org" {
			t.Errorf("prefetch saw %q", got)
		}
	case <-time.After(time.Second):
		t.Fatal("no prefetch at the mail stage for a data check")
	}
	p.Evaluate(context.Background(), s, verdict.Data)
	select {
	case <-pf.seen:
		t.Error("a check was prefetched at its own stage")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestAuthenticationResultsSemicolon: a client's HELO with a ';' must not
// read as a second result to a parser that splits at ';'.
func TestAuthenticationResultsSemicolon(t *testing.T) {
	d := verdict.Decision{Results: []verdict.Result{{Auth: []authres.Result{
		&authres.SPFResult{Value: authres.ResultFail, Helo: "x; dkim=pass header.d=bank.example (c)", From: "a@example.org"},
	}}}}
	ar := d.AuthenticationResults("mx.example.net")
	if _, rs, err := authres.Parse(ar); err != nil || len(rs) != 1 {
		t.Errorf("one result written, %d parsed back (%v): %s", len(rs), err, ar)
	}
	if strings.ContainsAny(ar[strings.Index(ar, "smtp.helo"):], ";()") {
		t.Errorf("client text kept a delimiter: %s", ar)
	}
}

func TestPolicyPrefetch(t *testing.T) {
	pf := prefetcher{fake: fake{name: "dkim", stage: verdict.Data}, seen: make(chan string, 1)}
	p := &verdict.Policy{Checks: []verdict.Check{pf, fake{name: "other", stage: verdict.Data}}}
	p.Prefetch(context.Background(), &verdict.Session{MailFrom: "a@example.org", Message: []byte("From: a@example.org\r\n\r\n")})
	select {
	case got := <-pf.seen:
		if got != "a@example.org" {
			t.Errorf("prefetch saw %q", got)
		}
	case <-time.After(time.Second):
		t.Fatal("Policy.Prefetch did not call the check's Prefetch")
	}
}
