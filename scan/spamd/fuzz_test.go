package spamd

import (
	"bufio"
	"math"
	"strings"
	"testing"
)

// FuzzReadResponse: any response is an error or a Response with finite
// scores and printable symbols, and the report is bounded.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"SPAMD/1.1 0 EX_OK\r\nContent-length: 68\r\nSpam: True ; 1003.3 / 5.0\r\n\r\nGTUBE,MISSING_DATE,MISSING_MID,NO_RECEIVED,NO_RELAYS,TVD_SPACE_RATIO",
		"SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.1 / 5.0\r\n\r\n",
		"SPAMD/1.0 76 Bad header line: x\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\nSpam: yes; 1e400 / 5\n\n",
		"SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: No ; 0x10 / 5.0\r\n\r\nA,\x00B",
	} {
		for _, cmd := range []Command{Check, Symbols, Report} {
			f.Add(s, string(cmd))
		}
	}
	f.Fuzz(func(t *testing.T, s, cmd string) {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(s)), Command(cmd))
		if err != nil {
			if resp != nil {
				t.Fatal("a response and an error")
			}
			return
		}
		for _, v := range []float64{resp.Score, resp.Required} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("score %v", v)
			}
		}
		for _, sym := range resp.Symbols {
			if sym == "" || strings.ContainsAny(sym, ",\r\n\x00") {
				t.Fatalf("symbol %q", sym)
			}
		}
		if len(resp.Report) > MaxBody {
			t.Fatalf("report of %d bytes", len(resp.Report))
		}
		r := New("tcp", "127.0.0.1:1", nil).result(resp)
		if r.Reason != strings.Map(func(c rune) rune {
			if c < 0x20 || c > 0x7e {
				return -1
			}
			return c
		}, r.Reason) {
			t.Fatalf("reason %q", r.Reason)
		}
	})
}
