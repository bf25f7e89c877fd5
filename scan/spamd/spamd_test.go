package spamd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// gtube is SpamAssassin's test string: a message carrying it scores 1000.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func message(body string) []byte {
	return []byte("Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n" +
		"\tby mx.example.net with ESMTPS id 4Q1; Sat, 05 Dec 2026 12:00:01 +0000\r\n" +
		"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: lunch on friday\r\n" +
		"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\nMessage-ID: <lunch-1@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body)
}

func TestDaemon(t *testing.T) {
	srv := sharedSpamd(t)
	t.Logf("spamd ready after %v", srv.startedFor)
	defer func() {
		if t.Failed() {
			t.Log(srv.proc.Output())
		}
	}()
	ham := message("Hi Bob,\r\n\r\nshall we have lunch on Friday at the usual place? I can book a table for\r\ntwelve thirty if that suits you.\r\n\r\nAlice\r\n")
	spam := message("Hi Bob,\r\n\r\n" + gtube + "\r\n")
	for _, cmd := range []Command{Check, Symbols, Report} {
		c := New("tcp", srv.addr, &Options{Command: cmd})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		r := c.Evaluate(ctx, spam)
		if r.Check != Name || r.Status != verdict.Fail || r.Score < 1000 || r.Action != verdict.Accept {
			t.Errorf("%s GTUBE: %+v", cmd, r)
		}
		if cmd == Symbols && !strings.Contains(r.Reason, "GTUBE") {
			t.Errorf("%s GTUBE: reason %q lacks the rule", cmd, r.Reason)
		}
		r = c.Evaluate(ctx, ham)
		if r.Status != verdict.Pass || r.Score >= 5 || r.Action != verdict.Accept {
			t.Errorf("%s ham: %+v", cmd, r)
		}
		cancel()
	}
	c := New("tcp", srv.addr, &Options{Command: Report, RejectScore: 15})
	resp, err := c.Scan(context.Background(), spam)
	if err != nil || !resp.Spam || resp.Required != 5 || !strings.Contains(resp.Report, "GTUBE") {
		t.Fatalf("REPORT: %+v, %v", resp, err)
	}
	if r := c.Evaluate(context.Background(), spam); r.Action != verdict.Reject || r.Code != 550 || r.Enhanced != "5.7.1" {
		t.Errorf("RejectScore 15, GTUBE: %+v", r)
	}
}

// fakeSpamd answers every connection with reply (after reading the
// request), or never if reply is "".
func fakeSpamd(t *testing.T, reply string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				if reply == "" {
					io.Copy(io.Discard, nc)
					time.Sleep(time.Second)
					return
				}
				br := bufio.NewReader(nc)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				nc.Write([]byte(reply))
			}()
		}
	}()
	return l.Addr().String()
}

func TestBrokenSpamd(t *testing.T) {
	tests := []struct{ name, reply string }{
		{"silent", ""},
		{"error code", "SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n\r\n"},
		{"not spamd", "HTTP/1.1 400 Bad Request\r\n\r\n"},
		{"no spam header", "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n"},
		{"bad score", "SPAMD/1.1 0 EX_OK\r\nSpam: True ; NaN / 5.0\r\n\r\n"},
		{"short body", "SPAMD/1.1 0 EX_OK\r\nContent-length: 50\r\nSpam: False ; 0.1 / 5.0\r\n\r\nA,B"},
		{"closed", "SPAMD/1.1 0 EX_OK\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeSpamd(t, tt.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			r := New("tcp", addr, nil).Evaluate(ctx, message("hi\r\n"))
			if r.Status != verdict.TempError || r.Action != verdict.TempFail || r.Code != 451 || r.Err == nil {
				t.Errorf("got %+v", r)
			}
			r = New("tcp", addr, &Options{FailOpen: true}).Evaluate(ctx, message("hi\r\n"))
			if r.Status != verdict.TempError || r.Action != verdict.Accept {
				t.Errorf("FailOpen: got %+v", r)
			}
		})
	}
	var er *ErrorResponse
	_, err := New("tcp", fakeSpamd(t, tests[1].reply), nil).Scan(context.Background(), nil)
	if !errors.As(err, &er) || er.Code != 76 {
		t.Errorf("error response: %v", err)
	}
}

func TestOverMaxSize(t *testing.T) {
	r := New("tcp", "127.0.0.1:1", &Options{MaxSize: 10}).Evaluate(context.Background(), message("x"))
	if r.Status != verdict.None || r.Action != verdict.Accept {
		t.Errorf("got %+v", r)
	}
}

// rawScan is the SYMBOLS exchange written by hand, for the benchmark's
// baseline.
func rawScan(addr string, msg []byte) (string, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("SYMBOLS SPAMC/1.5\r\nContent-length: " + strconv.Itoa(len(msg)) + "\r\n\r\n")); err != nil {
		return "", err
	}
	nc.Write(msg)
	nc.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(nc)
	return string(b), err
}
