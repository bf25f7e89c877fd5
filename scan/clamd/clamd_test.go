package clamd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/scan/internal/daemontest"
	"github.com/mtaguard/mtaguard/verdict"
)

// mimeMessage returns a message with a text part and, if attachment is
// not nil, an attachment carrying it in base64.
func mimeMessage(attachment []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nTo: bob@example.net\r\nSubject: the report\r\n" +
		"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\nMessage-ID: <r1@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n" +
		"Here is the report.\r\n")
	if attachment != nil {
		b.WriteString("--b1\r\nContent-Type: application/octet-stream; name=\"report.bin\"\r\n" +
			"Content-Disposition: attachment; filename=\"report.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(attachment)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

func TestDaemon(t *testing.T) {
	srv := sharedClamd(t)
	t.Logf("clamd ready after %v", srv.startedFor)
	infected := mimeMessage([]byte("some bytes before\n" + marker + "\nand after\n"))
	if bytes.Contains(infected, []byte(marker)) {
		t.Fatal("the marker must only appear encoded")
	}
	tests := []struct {
		name    string
		msg     []byte
		status  verdict.Status
		action  verdict.Action
		code    int
		reason  string
		sizeErr bool
	}{
		{name: "clean", msg: mimeMessage(nil), status: verdict.Pass, reason: "no virus found"},
		{name: "clean attachment", msg: mimeMessage([]byte("just a report")), status: verdict.Pass},
		{name: "marker attachment", msg: infected, status: verdict.Fail, action: verdict.Reject, code: 554,
			reason: "virus found: Mtaguard.Test.Marker.UNOFFICIAL"},
		{name: "eicar attachment", msg: mimeMessage([]byte(eicar)), status: verdict.Fail, action: verdict.Reject, code: 554,
			reason: "virus found: Eicar-Test-Signature.UNOFFICIAL"},
		{name: "over StreamMaxLength", msg: mimeMessage(bytes.Repeat([]byte("x"), 2*streamMax)),
			status: verdict.TempError, action: verdict.TempFail, code: 451, sizeErr: true},
	}
	for _, network := range []string{"tcp", "unix"} {
		addr := srv.tcp
		if network == "unix" {
			addr = srv.unix
		}
		for _, pooled := range []bool{true, false} {
			o := &Options{MaxSize: 4 * streamMax}
			if !pooled {
				o.MaxIdle = -1
			}
			c := New(network, addr, o)
			for _, tt := range tests {
				name := network + "/" + tt.name
				if !pooled {
					name += "/unpooled"
				}
				t.Run(name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					r := c.Check(ctx, &verdict.Session{Message: tt.msg})
					if r.Check != Name || r.Status != tt.status || r.Action != tt.action || r.Code != tt.code {
						t.Fatalf("got %+v", r)
					}
					if tt.reason != "" && r.Reason != tt.reason {
						t.Errorf("reason %q, want %q", r.Reason, tt.reason)
					}
					if tt.code == 554 && r.Enhanced != "5.7.0" || tt.code == 451 && r.Enhanced != "4.7.0" {
						t.Errorf("enhanced code %q", r.Enhanced)
					}
					if tt.sizeErr && !errors.Is(r.Err, ErrSizeLimit) {
						t.Errorf("error %v, want ErrSizeLimit", r.Err)
					}
				})
			}
			c.Close()
		}
	}
}

// TestPoolReuse scans concurrently and checks that connections are reused
// and that a connection clamd closed while idle (its IdleTimeout is 2 s
// in the test) is replaced without an error.
func TestPoolReuse(t *testing.T) {
	srv := sharedClamd(t)
	c := New("tcp", srv.tcp, &Options{MaxIdle: 2, IdleTimeout: time.Minute})
	defer c.Close()
	ctx := context.Background()
	msg := mimeMessage([]byte(eicar))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				if r := c.Evaluate(ctx, msg); r.Status != verdict.Fail {
					t.Errorf("got %+v", r)
				}
			}
		}()
	}
	wg.Wait()
	c.pool.mu.Lock()
	idle := len(c.pool.idle)
	var ids []int
	for _, pc := range c.pool.idle {
		ids = append(ids, pc.id)
	}
	c.pool.mu.Unlock()
	if idle != 2 {
		t.Fatalf("%d idle connections, want 2", idle)
	}
	reused := false
	for _, id := range ids {
		reused = reused || id > 1
	}
	if !reused {
		t.Errorf("no connection served more than one scan: session ids %v", ids)
	}
	// clamd ends idle sessions after 2 s; the pool keeps them for a
	// minute here, so the next scans meet closed connections.
	time.Sleep(3 * time.Second)
	for i := 0; i < 3; i++ {
		if r := c.Evaluate(ctx, msg); r.Status != verdict.Fail {
			t.Fatalf("after clamd closed the idle sessions: %+v", r)
		}
	}
}

// TestStopped stops clamd between scans: a scan then fails with
// TempError and a TempFail demand, or none with FailOpen, never Pass.
func TestStopped(t *testing.T) {
	path := daemontest.Look(t, "clamd")
	srv, err := startClamd(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.proc.Stop()
	closed := New("tcp", srv.tcp, nil)
	defer closed.Close()
	open := New("unix", srv.unix, &Options{FailOpen: true})
	defer open.Close()
	ctx := context.Background()
	msg := mimeMessage([]byte("fine"))
	for _, c := range []*Checker{closed, open} {
		if r := c.Evaluate(ctx, msg); r.Status != verdict.Pass {
			t.Fatalf("before the stop: %+v", r)
		}
	}
	srv.proc.Stop()
	r := closed.Evaluate(ctx, msg)
	if r.Status != verdict.TempError || r.Action != verdict.TempFail || r.Code != 451 || r.Enhanced != "4.7.0" || r.Err == nil {
		t.Errorf("clamd stopped: %+v", r)
	}
	if strings.Contains(r.Reason, "127.0.0.1") {
		t.Errorf("reason shows the address: %q", r.Reason)
	}
	r = open.Evaluate(ctx, msg)
	if r.Status != verdict.TempError || r.Action != verdict.Accept || r.Code != 0 {
		t.Errorf("clamd stopped, FailOpen: %+v", r)
	}
}

// TestMidStream: clamd goes away while a message is being streamed (a
// stand-in server that reads a little and closes, then one that never
// answers): TempError, in time.
func TestMidStream(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mode := make(chan string, 4)
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				switch <-mode {
				case "close":
					io.CopyN(io.Discard, nc, 100<<10)
				case "silent":
					io.Copy(io.Discard, nc)
				case "garbage":
					io.CopyN(io.Discard, nc, 10)
					nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				}
			}()
		}
	}()
	c := New("tcp", l.Addr().String(), &Options{MaxIdle: -1})
	msg := mimeMessage(bytes.Repeat([]byte("y"), 1<<20))
	for _, m := range []string{"close", "silent", "garbage"} {
		mode <- m
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		r := c.Evaluate(ctx, msg)
		cancel()
		if r.Status != verdict.TempError || r.Action != verdict.TempFail {
			t.Errorf("%s: %+v", m, r)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", m, d)
		}
	}
}

func TestUnscanned(t *testing.T) {
	// Nothing listens: a message over MaxSize is not sent at all.
	c := New("unix", filepath.Join(t.TempDir(), "none"), &Options{MaxSize: 100})
	r := c.Evaluate(context.Background(), bytes.Repeat([]byte("z"), 101))
	if r.Status != verdict.None || r.Action != verdict.Accept || r.Err != nil {
		t.Errorf("over MaxSize: %+v", r)
	}
	r = c.Evaluate(context.Background(), bytes.Repeat([]byte("z"), 100))
	if r.Status != verdict.TempError || r.Action != verdict.TempFail {
		t.Errorf("no clamd: %+v", r)
	}
}

func TestNewCopiesOptions(t *testing.T) {
	o := &Options{Scores: &Scores{Found: 3}}
	c := New("tcp", "127.0.0.1:1", o)
	o.Scores.Found = 99
	o.Quarantine = true
	if c.scores.Found != 3 || c.opts.Quarantine {
		t.Errorf("New did not copy the options: %+v %+v", c.scores, c.opts)
	}
	if c.Name() != Name || c.Stage() != verdict.Data {
		t.Error("Name or Stage")
	}
}
