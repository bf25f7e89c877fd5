package dnsbl

import (
	"net/netip"
	"testing"
)

// FuzzEvaluate feeds arbitrary answers (4 bytes each) and a Codes prefix to
// the answer evaluation and checks its promises: only 127.0.0.0/8 answers
// outside the error range and inside Codes list; any error or foreign
// answer makes the whole answer an error.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{127, 0, 0, 2}, []byte{127, 0, 0, 0}, uint8(8))
	f.Add([]byte{127, 0, 0, 2, 127, 0, 0, 4, 127, 0, 0, 10}, []byte{127, 0, 0, 10}, uint8(31))
	f.Add([]byte{127, 255, 255, 254}, []byte{127, 0, 0, 0}, uint8(8))
	f.Add([]byte{127, 0, 0, 2, 127, 255, 255, 255}, []byte{0, 0, 0, 0}, uint8(0))
	f.Add([]byte{10, 0, 0, 1}, []byte{}, uint8(0))
	f.Add([]byte{127, 0, 1, 255}, []byte{127, 0, 1, 2}, uint8(32))
	f.Fuzz(func(t *testing.T, raw, code []byte, bits uint8) {
		var answers []netip.Addr
		for i := 0; i+4 <= len(raw); i += 4 {
			answers = append(answers, netip.AddrFrom4([4]byte(raw[i:i+4])))
		}
		l := List{Zone: "bl.example", Errors: []netip.Prefix{netip.MustParsePrefix("127.0.1.255/32")}}
		if len(code) >= 4 {
			if p, err := netip.AddrFrom4([4]byte(code[:4])).Prefix(int(bits % 33)); err == nil {
				l.Codes = []netip.Prefix{p}
			}
		}
		codes, bad, kind := l.evaluate(answers)
		spoiled := false
		for _, a := range answers {
			b := a.As4()
			if b[0] != 127 || b[1] == 255 && b[2] == 255 || a == netip.AddrFrom4([4]byte{127, 0, 1, 255}) {
				spoiled = true
			}
		}
		switch {
		case spoiled != bad.IsValid():
			t.Fatalf("answers %v: bad %v, want an error: %v", answers, bad, spoiled)
		case spoiled && (kind != errorCode && kind != invalid || codes != nil):
			t.Fatalf("answers %v: kind %v codes %v for an error answer", answers, kind, codes)
		case !spoiled && (kind == listed) != (len(codes) > 0):
			t.Fatalf("answers %v: kind %v codes %v", answers, kind, codes)
		}
		for _, c := range codes {
			b := c.As4()
			if b[0] != 127 || b[1] == 255 && b[2] == 255 {
				t.Fatalf("answers %v: code %v counted as listed", answers, c)
			}
			if l.Codes != nil && !l.Codes[0].Contains(c) {
				t.Fatalf("answers %v: code %v outside Codes %v", answers, c, l.Codes)
			}
		}
		if kind == errorCode || kind == invalid {
			if m := errorMeaning(bad, kind); m == "" {
				t.Fatal("no meaning")
			}
		}
	})
}
