package main

import (
	"fmt"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// bombZone is a sender domain whose SPF records, of about 3 KB each,
// include as many names as fit, the first of them the same again, eleven
// levels down.
func bombZone() string {
	var z strings.Builder
	z.WriteString("$ORIGIN bomb.example.\n@ SOA ns.bomb.example. hostmaster.bomb.example. 1 7200 3600 1209600 300\n@ MX 10 mail.bomb.example.\nmail A 192.0.2.77\n")
	for level := range 11 {
		var r strings.Builder
		r.WriteString("v=spf1")
		for i := 0; r.Len() < 3000; i++ {
			fmt.Fprintf(&r, " include:l%d-%d.bomb.example", level+1, i)
		}
		r.WriteString(" -all")
		owner := "@"
		if level > 0 {
			owner = fmt.Sprintf("l%d-0", level)
		}
		z.WriteString(owner + " TXT")
		for text := r.String(); len(text) > 0; {
			n := min(len(text), 250)
			z.WriteString(` "` + text[:n] + `"`)
			text = text[n:]
		}
		z.WriteString("\n")
	}
	return z.String()
}

// TestSPFQueryBoundOverSMTP: one MAIL FROM, with no RCPT, from a sender
// domain whose SPF records are full of includes made the server ask 1,014
// DNS questions. The SPF check now asks at most the record, ten terms and
// ten lookups ahead (RFC 7208 §4.6.4), each at most twice at the server
// (UDP, then TCP for a long answer), and the other MAIL checks a few more.
func TestSPFQueryBoundOverSMTP(t *testing.T) {
	addr, _, r := startMain(t)
	if err := r.Add(bombZone()); err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mail.example.org"); err != nil {
		t.Fatal(err)
	}
	r.ResetQueries()
	// The answer may be a refusal (permerror past the limit); the
	// questions asked are what counts.
	c.Mail("alice@bomb.example")
	// Let lookups started ahead finish reaching the server.
	n := r.TotalQueries()
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		if m := r.TotalQueries(); m == n {
			break
		} else {
			n = m
		}
	}
	const spfBound = 1 + 10 + 10
	if n > 2*spfBound+10 {
		t.Errorf("MAIL FROM made the server answer %d queries, want at most %d", n, 2*spfBound+10)
	}
	t.Logf("%d queries for one MAIL FROM", n)
	c.Quit()
}
