package message

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// FuzzInspect: for any message and envelope, the findings agree with the
// bytes (bare CR, NUL, 8-bit), the result is Pass exactly when nothing is
// found, a structural finding demands 550 5.6.0 and nothing else demands
// anything, and the reason is printable.
func FuzzInspect(f *testing.F) {
	for _, m := range malformed {
		f.Add([]byte(m.msg), m.env.MailFrom, uint8(len(m.env.Rcpts)), m.env.EightBitMIME, m.env.SMTPUTF8)
	}
	f.Add([]byte(goodHeader+"\r\n"+goodBody), "a@example.org", uint8(1), false, false)
	f.Add([]byte("From: a\r\n\r\nx\r"), "", uint8(2), true, true)
	c := New(nil)
	f.Fuzz(func(t *testing.T, msg []byte, from string, rcpts uint8, eightBit, utf8 bool) {
		env := Envelope{MailFrom: from, EightBitMIME: eightBit, SMTPUTF8: utf8}
		for i := 0; i < int(rcpts%4); i++ {
			env.Rcpts = append(env.Rcpts, "r@example.net")
		}
		found := Inspect(env, msg, arrival, nil)
		if found >= endFinding {
			t.Fatalf("unknown finding bits %b", found)
		}
		if got, want := found&BareCR != 0, bareCR(msg); got != want {
			t.Errorf("bare CR found %v, present %v", got, want)
		}
		if got, want := found&NUL != 0, bytes.IndexByte(msg, 0) >= 0; got != want {
			t.Errorf("NUL found %v, present %v", got, want)
		}
		high := bytes.IndexFunc(msg, func(r rune) bool { return r >= 0x80 }) >= 0
		if high != !ascii8(msg) {
			t.Fatal("ascii8 disagrees")
		}
		if found&(EightBitHeader|EightBitBody|NonASCIIName) != 0 && !high {
			t.Errorf("8-bit finding %q without 8-bit bytes", found)
		}
		if high && !eightBit && !utf8 && found&(EightBitHeader|EightBitBody|NonASCIIName) == 0 {
			t.Errorf("8-bit bytes without a finding: %q", found)
		}
		r := c.Evaluate(env, msg, arrival)
		if (found == 0) != (r.Status == verdict.Pass) {
			t.Errorf("found %q, status %v", found, r.Status)
		}
		switch {
		case found&Structural != 0:
			if r.Action != verdict.Reject || r.Enhanced != "5.6.0" {
				t.Errorf("structural without the demand: %+v", r)
			}
		case r.Action != verdict.Accept:
			t.Errorf("a demand without a structural finding: %+v", r)
		}
		if verdict.Printable(r.Reason) != r.Reason || !strings.HasPrefix(r.Reason, "malformed: ") && found != 0 {
			t.Errorf("reason %q", r.Reason)
		}
	})
}

// bareCR is the obvious definition: a CR not followed by LF.
func bareCR(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
	}
	return false
}
