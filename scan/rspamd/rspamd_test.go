package rspamd

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/scan/internal/daemontest"
	"github.com/mtaguard/mtaguard/verdict"
)

const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func message(body string) []byte {
	return []byte("Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n" +
		"\tby mx.example.net with ESMTPS id 4Q1; Sat, 05 Dec 2026 12:00:01 +0000\r\n" +
		"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: lunch on friday\r\n" +
		"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\nMessage-ID: <lunch-1@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body)
}

var (
	ham  = message("Hi Bob,\r\n\r\nshall we have lunch on Friday at the usual place?\r\n\r\nAlice\r\n")
	spam = message("Hi Bob,\r\n\r\n" + gtube + "\r\n")
)

func session(msg []byte) *verdict.Session {
	return &verdict.Session{
		IP: netip.MustParseAddr("192.0.2.10"), HELO: "mail.example.org",
		MailFrom: "alice@example.org", Rcpts: []string{"bob@example.net"}, Message: msg,
		Results: []verdict.Result{{Check: "fcrdns", Status: verdict.Pass, Domain: "mail.example.org"}},
	}
}

// rspamcAction runs rspamc on msg with the session's facts and returns
// the action it reports.
func rspamcAction(t *testing.T, srv *rspamdServer, msg []byte, s *verdict.Session, queueID string) string {
	t.Helper()
	path := daemontest.Look(t, "rspamc")
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-h", srv.addr, "-j", "-t", "30", "-i", s.IP.String(), "--helo", s.HELO,
		"--hostname", "mail.example.org", "-F", s.MailFrom, "--header", "Queue-Id: " + queueID}
	for _, r := range s.Rcpts {
		args = append(args, "-r", r)
	}
	out, err := exec.Command(path, append(args, "symbols", file)...).Output()
	if err != nil {
		t.Fatalf("rspamc: %v: %s", err, out)
	}
	var reply struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal(out, &reply); err != nil || reply.Action == "" {
		t.Fatalf("rspamc output %q: %v", out, err)
	}
	return reply.Action
}

func TestDaemon(t *testing.T) {
	srv := sharedRspamd(t)
	t.Logf("rspamd ready after %v", srv.startedFor)
	var replies atomic.Int32
	var last atomic.Pointer[Reply]
	c := New(srv.url, &Options{
		QueueID: func(*verdict.Session) string { return "Q4711" },
		OnReply: func(s *verdict.Session, r *Reply) { replies.Add(1); last.Store(r) },
	})
	tests := []struct {
		name   string
		msg    []byte
		action string
		status verdict.Status
		demand verdict.Action
		code   int
	}{
		{"gtube", spam, "reject", verdict.Fail, verdict.Reject, 554},
		{"clean", ham, "no action", verdict.Pass, verdict.Accept, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s := session(tt.msg)
			r := c.Check(ctx, s)
			if r.Check != Name || r.Status != tt.status || r.Action != tt.demand || r.Code != tt.code {
				t.Fatalf("got %+v", r)
			}
			reply := last.Load()
			if reply == nil || reply.Action != tt.action {
				t.Fatalf("reply %+v, want action %q", reply, tt.action)
			}
			if !strings.HasPrefix(r.Reason, tt.action+", score ") {
				t.Errorf("reason %q", r.Reason)
			}
			if got := rspamcAction(t, srv, tt.msg, s, "Q4711"); got != reply.Action {
				t.Errorf("rspamc reports %q, the Checker %q", got, reply.Action)
			}
		})
	}
	if replies.Load() != 2 {
		t.Errorf("OnReply called %d times", replies.Load())
	}
	// The clean message's reply carries the X-Spam-Status field the test
	// configuration asks rspamd to add.
	found := false
	for _, h := range last.Load().AddHeaders {
		found = found || h.Name == "X-Spam-Status" && strings.HasPrefix(h.Value, "No, score=")
	}
	if !found {
		t.Errorf("no X-Spam-Status in %+v", last.Load().AddHeaders)
	}

	// The caller's mapping: rspamd's reject only quarantines.
	m := maps.Clone(DefaultMapping)
	m["reject"] = Outcome{Status: verdict.Fail, Action: verdict.Quarantine}
	qc := New(srv.url, &Options{Mapping: m})
	m["reject"] = Outcome{Action: verdict.TempFail} // New copied the mapping
	if r := qc.Evaluate(context.Background(), Facts{IP: netip.MustParseAddr("192.0.2.10")}, spam); r.Action != verdict.Quarantine || r.Status != verdict.Fail || r.Score < 15 {
		t.Errorf("mapped reject: %+v", r)
	}
}

func TestBroken(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }},
		{"error field", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"error":"bad message"}`)) }},
		{"no action", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"score":1}`)) }},
		{"not json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`<html>`)) }},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(500 * time.Millisecond):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			r := New(srv.URL, nil).Check(ctx, session(ham))
			if r.Status != verdict.TempError || r.Action != verdict.TempFail || r.Code != 451 || r.Enhanced != "4.7.0" || r.Err == nil {
				t.Errorf("got %+v", r)
			}
			if strings.Contains(r.Reason, "127.0.0.1") {
				t.Errorf("reason shows the address: %q", r.Reason)
			}
			r = New(srv.URL, &Options{FailOpen: true}).Check(ctx, session(ham))
			if r.Status != verdict.TempError || r.Action != verdict.Accept {
				t.Errorf("FailOpen: got %+v", r)
			}
		})
	}
}

// TestFacts checks the request headers, with hostile client text.
func TestFacts(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Write([]byte(`{"action":"no action","score":0.5,"required_score":15}`))
	}))
	defer srv.Close()
	s := session(ham)
	s.HELO = "evil\r\nX-Injected: 1"
	s.MailFrom = ""
	s.Rcpts = []string{"a@example.net", "b@example.net"}
	s.AuthUser = "alice"
	r := New(srv.URL, &Options{QueueID: func(*verdict.Session) string { return "Q1" }}).Check(context.Background(), s)
	if r.Status != verdict.Pass || r.Score != 0.5 {
		t.Fatalf("got %+v", r)
	}
	want := map[string][]string{
		"Ip": {"192.0.2.10"}, "Helo": {"evilX-Injected: 1"}, "Hostname": {"mail.example.org"},
		"From": {"<>"}, "Rcpt": {"a@example.net", "b@example.net"}, "User": {"alice"}, "Queue-Id": {"Q1"},
	}
	for k, v := range want {
		if strings.Join(got.Values(k), "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q", k, got.Values(k), v)
		}
	}
	if got.Get("X-Injected") != "" {
		t.Error("header injected")
	}
}

func TestParseMilter(t *testing.T) {
	body := `{"action":"add header","score":7,"required_score":15,
	  "symbols":{"A":{"name":"A","score":5},"B":{"score":2,"options":["x"]}},
	  "milter":{"add_headers":{"X-Spam":"Yes","X-Spam-Level":{"value":"*******","order":1},
	    "X-Multi":[{"value":"one","order":0},"two"],"X-Evil":"a\r\nBcc: x"},
	  "remove_headers":{"X-Spam":0}}}`
	r, err := ParseReply([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var add []string
	for _, h := range r.AddHeaders {
		add = append(add, h.Name+"="+h.Value)
	}
	if got := strings.Join(add, ";"); got != "X-Evil=a  Bcc: x;X-Multi=one;X-Multi=two;X-Spam=Yes;X-Spam-Level=*******" {
		t.Errorf("add headers %q", got)
	}
	if len(r.RemoveHeaders) != 1 || r.RemoveHeaders[0] != (HeaderRemoval{Name: "X-Spam", Index: 0}) {
		t.Errorf("remove headers %+v", r.RemoveHeaders)
	}
	res := New("http://127.0.0.1:1", nil).Result(r)
	if res.Action != verdict.Quarantine || res.Reason != "add header, score 7.00 of 15.00 (A,B)" {
		t.Errorf("result %+v", res)
	}
}
