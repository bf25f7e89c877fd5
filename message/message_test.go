package message

import (
	"bytes"
	"context"
	"math"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/verdict"
)

// arrival is when the test messages arrive: their Date is a minute before.
var arrival = time.Date(2026, 12, 5, 12, 1, 0, 0, time.UTC)

const goodHeader = "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: lunch\r\n" +
	"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\nMessage-ID: <lunch-1@example.org>\r\n"

const goodBody = "Hi Bob,\r\n\r\nlunch on Friday?\r\n"

// malformed is the corpus of broken messages: each has the finding named
// and, unless also is set, no other.
var malformed = []struct {
	name  string
	msg   string
	want  Finding
	also  Finding // other findings the message has by construction
	env   Envelope
	noEnv bool // env as given, not the default 7-bit one
}{
	{name: "several From", msg: "From: alice@example.org\r\n" + goodHeader + "\r\n" + goodBody, want: SeveralFrom},
	{name: "From with two mailboxes is one field", msg: strings.Replace(goodHeader, "From: Alice <alice@example.org>", "From: alice@example.org, eve@example.com", 1) + "\r\n" + goodBody},
	{name: "leading continuation", msg: " X-Injected: yes\r\n" + goodHeader + "\r\n" + goodBody, want: LeadingContinuation},
	{name: "bare CR in header", msg: strings.Replace(goodHeader, "Subject: lunch", "Subject: lunch\rFrom: eve@example.com", 1) + "\r\n" + goodBody, want: BareCR,
		also: SeveralFrom}, // what a reader splitting at the CR sees
	{name: "bare CR in body", msg: goodHeader + "\r\n" + "Hi\rBob\r\n", want: BareCR},
	{name: "bare CR at the very end", msg: goodHeader + "\r\nHi\r", want: BareCR},
	{name: "line without colon", msg: goodHeader + "this is no field\r\n\r\n" + goodBody, want: NoColon},
	{name: "header too large", msg: strings.Repeat("X-Filler: "+strings.Repeat("y", 80)+"\r\n", header.MaxFields+1) + goodHeader + "\r\n" + goodBody, want: HeaderTooLarge},
	{name: "no From", msg: strings.Replace(goodHeader, "From: Alice <alice@example.org>\r\n", "", 1) + "\r\n" + goodBody, want: NoFrom},
	{name: "no Date", msg: strings.Replace(goodHeader, "Date: Sat, 05 Dec 2026 12:00:00 +0000\r\n", "", 1) + "\r\n" + goodBody, want: NoDate},
	{name: "two Dates", msg: goodHeader + "Date: Sat, 05 Dec 2026 12:00:00 +0000\r\n\r\n" + goodBody, want: SeveralDate},
	{name: "bad Date", msg: strings.Replace(goodHeader, "Sat, 05 Dec 2026 12:00:00 +0000", "yesterday at noon", 1) + "\r\n" + goodBody, want: BadDate},
	{name: "Date ahead", msg: strings.Replace(goodHeader, "12:00:00 +0000", "15:00:00 +0000", 1) + "\r\n" + goodBody, want: DateFuture},
	{name: "Date behind", msg: strings.Replace(goodHeader, "05 Dec", "03 Dec", 1) + "\r\n" + goodBody, want: DatePast},
	{name: "two Subjects", msg: goodHeader + "Subject: again\r\n\r\n" + goodBody, want: Duplicate},
	{name: "two Reply-To", msg: goodHeader + "Reply-To: a@example.org\r\nReply-To: b@example.com\r\n\r\n" + goodBody, want: Duplicate},
	{name: "no Message-ID", msg: strings.Replace(goodHeader, "Message-ID: <lunch-1@example.org>\r\n", "", 1) + "\r\n" + goodBody, want: NoMessageID},
	{name: "space in name", msg: goodHeader + "X Bad: 1\r\n\r\n" + goodBody, want: BadName},
	{name: "8-bit name", msg: goodHeader + "X-Gr\xc3\xbc\xc3\x9fe: 1\r\n\r\n" + goodBody, want: NonASCIIName, also: EightBitHeader},
	{name: "8-bit name with SMTPUTF8", msg: goodHeader + "X-Gr\xc3\xbc\xc3\x9fe: 1\r\n\r\n" + goodBody, want: NonASCIIName,
		env: Envelope{SMTPUTF8: true}, noEnv: true},
	{name: "long header line", msg: goodHeader + "X-Long: " + strings.Repeat("z", 1000) + "\r\n\r\n" + goodBody, want: LongLine},
	{name: "long body line", msg: goodHeader + "\r\n" + strings.Repeat("z", 999) + "\r\n", want: LongLine},
	{name: "long last line", msg: goodHeader + "\r\n" + strings.Repeat("z", 999), want: LongLine},
	{name: "NUL in body", msg: goodHeader + "\r\nHi\x00Bob\r\n", want: NUL},
	{name: "NUL in header", msg: strings.Replace(goodHeader, "lunch\r\n", "lunch\x00\r\n", 1) + "\r\n" + goodBody, want: NUL},
	{name: "bare LF in body", msg: goodHeader + "\r\nHi\nBob\r\n", want: BareLF},
	{name: "bare LF in header", msg: strings.Replace(goodHeader, "Subject: lunch\r\n", "Subject: lunch\n", 1) + "\r\n" + goodBody, want: BareLF},
	{name: "8-bit header", msg: strings.Replace(goodHeader, "lunch\r\n", "d\xc3\xa9jeuner\r\n", 1) + "\r\n" + goodBody, want: EightBitHeader},
	{name: "8-bit header with 8BITMIME only", msg: strings.Replace(goodHeader, "lunch\r\n", "d\xc3\xa9jeuner\r\n", 1) + "\r\n" + goodBody, want: EightBitHeader,
		env: Envelope{EightBitMIME: true}, noEnv: true},
	{name: "8-bit header with SMTPUTF8", msg: strings.Replace(goodHeader, "lunch\r\n", "d\xc3\xa9jeuner\r\n", 1) + "\r\n" + goodBody,
		env: Envelope{SMTPUTF8: true}, noEnv: true},
	{name: "8-bit body", msg: goodHeader + "\r\nd\xc3\xa9jeuner\r\n", want: EightBitBody},
	{name: "8-bit body with 8BITMIME", msg: goodHeader + "\r\nd\xc3\xa9jeuner\r\n", env: Envelope{EightBitMIME: true}, noEnv: true},
	{name: "8-bit body with SMTPUTF8", msg: goodHeader + "\r\nd\xc3\xa9jeuner\r\n", env: Envelope{SMTPUTF8: true}, noEnv: true},
	{name: "bounce to two", msg: goodHeader + "\r\n" + goodBody, want: MultiRecipientBounce,
		env: Envelope{MailFrom: "<>", Rcpts: []string{"a@example.net", "b@example.net"}}, noEnv: true},
	{name: "bounce to one", msg: goodHeader + "\r\n" + goodBody,
		env: Envelope{MailFrom: "", Rcpts: []string{"a@example.net"}}, noEnv: true},
	{name: "sender to two", msg: goodHeader + "\r\n" + goodBody,
		env: Envelope{MailFrom: "alice@example.org", Rcpts: []string{"a@example.net", "b@example.net"}}, noEnv: true},
	{name: "header only", msg: goodHeader},
	{name: "empty body", msg: goodHeader + "\r\n"},
}

func TestMalformed(t *testing.T) {
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if !tt.noEnv {
				env = Envelope{MailFrom: "alice@example.org", Rcpts: []string{"bob@example.net"}}
			}
			got := Inspect(env, []byte(tt.msg), arrival, nil)
			if got != tt.want|tt.also {
				t.Fatalf("found %q, want %q", got, tt.want|tt.also)
			}
			r := New(nil).Evaluate(env, []byte(tt.msg), arrival)
			switch {
			case got == 0:
				if r.Status != verdict.Pass || r.Score != 0 || r.Action != verdict.Accept {
					t.Errorf("well formed: %+v", r)
				}
			case got&Structural != 0:
				if r.Status != verdict.Fail || r.Action != verdict.Reject || r.Code != 550 || r.Enhanced != "5.6.0" {
					t.Errorf("structural: %+v", r)
				}
				so := New(&Options{ScoreOnly: true}).Evaluate(env, []byte(tt.msg), arrival)
				if so.Action != verdict.Accept || so.Score < 8 || so.Status != verdict.Fail {
					t.Errorf("structural, ScoreOnly: %+v", so)
				}
			default:
				if r.Status != verdict.SoftFail || r.Action != verdict.Accept || r.Score <= 0 {
					t.Errorf("cosmetic: %+v", r)
				}
			}
			if got != 0 && !strings.Contains(r.Reason, got.String()) {
				t.Errorf("reason %q lacks %q", r.Reason, got)
			}
		})
	}
}

// TestWellFormed: real mail and the RFC 5322 examples give no finding,
// dated a minute after their own Date, with the envelope a sender of
// 8-bit mail would give.
func TestWellFormed(t *testing.T) {
	files, _ := filepath.Glob("testdata/wellformed/*.eml")
	if len(files) < 10 {
		t.Fatalf("only %d files", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			msg, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(msg, []byte("\r")) {
				msg = bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n"))
			}
			sec, err := header.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			dates := sec.Get("Date")
			if len(dates) != 1 {
				t.Fatalf("%d Date fields", len(dates))
			}
			when, err := mail.ParseDate(strings.Join(strings.Fields(dates[0].Value), " "))
			if err != nil {
				t.Fatal(err)
			}
			env := Envelope{MailFrom: "sender@example.org", Rcpts: []string{"rcpt@example.net"}, EightBitMIME: true}
			if f := Inspect(env, msg, when.Add(time.Minute), nil); f != 0 {
				t.Errorf("found %q", f)
			}
		})
	}
}

func TestDates(t *testing.T) {
	tests := []struct {
		date string
		want Finding
	}{
		{"Sat, 05 Dec 2026 12:00:00 +0000", 0},
		{"Sat, 5 Dec 2026 13:00:00 +0100", 0},
		{"5 Dec 2026 12:00:00 GMT", 0},
		{"Sat, 05 Dec 2026 12:00:00 +0000 (UTC)", 0},
		{"Sat,\r\n 05 Dec 2026\r\n 12:00:00 +0000", 0},
		{"Sat, 05 Dec 2026 13:59:00 +0000", 0},
		{"Sat, 05 Dec 2026 14:02:00 +0000", DateFuture},
		{"Fri, 04 Dec 2026 12:02:00 +0000", 0},
		{"Fri, 04 Dec 2026 12:00:00 +0000", DatePast},
		{"Sat, 05 Dec 2026 25:00:00 +0000", BadDate},
		{"", BadDate},
		{"tomorrow", BadDate},
	}
	for _, tt := range tests {
		msg := "From: a@example.org\r\nDate: " + tt.date + "\r\nMessage-ID: <1@example.org>\r\n\r\nhi\r\n"
		if got := Inspect(Envelope{}, []byte(msg), arrival, nil); got != tt.want {
			t.Errorf("Date %q: %q, want %q", tt.date, got, tt.want)
		}
	}
	o := &Options{MaxPast: 72 * time.Hour, MaxFuture: time.Minute}
	msg := "From: a@example.org\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nhi\r\n"
	if got := Inspect(Envelope{}, []byte(msg), arrival, o); got != 0 {
		t.Errorf("MaxPast 72h: %q", got)
	}
	if got := New(o).Evaluate(Envelope{}, []byte(msg), arrival.Add(-49*time.Hour)); got.Status != verdict.SoftFail {
		t.Errorf("MaxFuture 1m: %+v", got)
	}
}

// TestCheck runs the Checker in a Policy, with the session facts.
func TestCheck(t *testing.T) {
	c := New(&Options{Now: func() time.Time { return arrival }, RejectBounce: true})
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	msg := []byte(goodHeader + "\r\nd\xc3\xa9jeuner\r\n")
	s := &verdict.Session{MailFrom: "alice@example.org", Rcpts: []string{"bob@example.net"}, Message: msg, EightBitMIME: true}
	if d := p.Evaluate(context.Background(), s, verdict.Data); d.Action != verdict.Accept || d.Results[0].Status != verdict.Pass {
		t.Errorf("8-bit with 8BITMIME: %+v", d)
	}
	s = &verdict.Session{MailFrom: "alice@example.org", Rcpts: []string{"bob@example.net"}, Message: msg}
	if d := p.Evaluate(context.Background(), s, verdict.Data); d.Action != verdict.Accept || d.Results[0].Status != verdict.SoftFail {
		t.Errorf("8-bit without 8BITMIME: %+v", d)
	}
	s = &verdict.Session{MailFrom: "", Rcpts: []string{"a@example.net", "b@example.net"}, Message: []byte(goodHeader + "\r\nhi\r\n")}
	if d := p.Evaluate(context.Background(), s, verdict.Data); d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.5.3" {
		t.Errorf("bounce to two, RejectBounce: %+v", d)
	}
	s = &verdict.Session{MailFrom: "a@example.org", Rcpt: "b@example.net", Message: []byte("From: a@example.org\r\n" + goodHeader + "\r\nhi\r\n")}
	if d := p.Evaluate(context.Background(), s, verdict.Data); d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.6.0" {
		t.Errorf("several From: %+v", d)
	}
}

func TestScores(t *testing.T) {
	c := New(nil)
	// Duplicates weigh as rspamd's MULTIPLE_UNIQUE_HEADERS: 7 times the
	// highest weight of the repeated fields.
	r := c.Evaluate(Envelope{}, []byte(goodHeader+"To: x@example.net\r\nCc: a@b.example\r\nCc: c@d.example\r\n\r\nhi\r\n"), arrival)
	if math.Abs(r.Score-7*0.2) > 1e-9 || !strings.Contains(r.Reason, "(repeated To,Cc)") {
		t.Errorf("To and Cc repeated: %+v", r)
	}
	scores := DefaultScores
	scores.NoMessageID = 0.25
	o := &Options{Scores: &scores}
	c = New(o)
	scores.NoMessageID = 9
	r = c.Evaluate(Envelope{}, []byte(strings.Replace(goodHeader, "Message-ID: <lunch-1@example.org>\r\n", "", 1)+"\r\nhi\r\n"), arrival)
	if r.Score != 0.25 {
		t.Errorf("New did not copy the scores: %+v", r)
	}
	if c.Name() != Name || c.Stage() != verdict.Data {
		t.Error("Name or Stage")
	}
}

func TestFindingString(t *testing.T) {
	if len(findingNames) != 21 || endFinding != 1<<21 {
		t.Fatalf("%d names for %d findings", len(findingNames), endFinding)
	}
	if s := (SeveralFrom | BareCR | MultiRecipientBounce).String(); s != "several-from,bare-cr,multi-recipient-bounce" {
		t.Errorf("String: %q", s)
	}
}
