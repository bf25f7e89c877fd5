package acceptance

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/relay"
)

// Our hops: the border MTA mx-in (10.0.0.2) hands mail to the mail store.
// The trusted Received field on top is the store's; the one below it is
// the border's, naming the real client.
const (
	storeField  = "Received: from mx-in.example.net (mx-in.example.net [10.0.0.2])\r\n\tby store.example.net (Postfix) with ESMTP id A1; Mon, 2 Mar 2026 10:00:01 +0000\r\n"
	borderField = "Received: from %s (mail.example.org [192.0.2.10])\r\n\tby mx-in.example.net (Postfix) with ESMTPS id B2; Mon, 2 Mar 2026 10:00:00 +0000\r\n"
)

// forgeries are Received fields (and other lines) a client can put at the
// top of what it sends, below our border's field: claims of trusted and
// loopback hops, unreadable fields, folding tricks, and junk.
var forgeries = []string{
	"Received: from trusted.example.net (trusted.example.net [10.9.9.9]) by mx-in.example.net; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from localhost (localhost [127.0.0.1]) by mx-in.example.net; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from evil.example (evil.example [203.0.113.99]) by relay.example.com; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from [IPv6:::1] by x; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from x ([::ffff:10.1.1.1]:25 helo=trusted) by mx-in.example.net with esmtp; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from unreadable junk ((( [[[ by ; \r\n",
	"Received: garbage without from\r\n",
	"Received:\r\n",
	"received: from lower.example ([10.2.2.2]) by x; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"RECEIVED : from spaced.example ([10.3.3.3]) by x; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from a (b [10.4.4.4])\r\n (c [10.5.5.5]) by d; Mon, 2 Mar 2026 09:00:00 +0000\r\n",
	"Received: from \x00\xff\xfe ([10.6.6.6]) by x\r\n",
	"Received: from very.long.example (" + strings.Repeat("x", 5000) + " [10.7.7.7]) by x\r\n",
	"X-Originating-IP: [10.8.8.8]\r\n",
	"Authentication-Results: mx-in.example.net; spf=pass smtp.mailfrom=example.org\r\n",
	"No-colon line that is no header field\r\n",
	": empty name\r\n",
	"\r\n",                                   // an empty line: the client's header ends here
	"Received: from x (y [10.1.2.3]) by z\n", // bare LF
	"Received: from x (y [10.1.2.4]) by z\r", // bare CR
	" (continuation [10.1.2.5]) of nothing\r\n",
	"\tfrom folded.example ([10.1.2.6])\r\n",
}

// borderMessage builds a message through our two hops whose client said
// helo and sent the forged lines given at the top of its data.
func borderMessage(helo string, forged []string) []byte {
	var b bytes.Buffer
	b.WriteString(storeField)
	fmt.Fprintf(&b, borderField, helo)
	for _, f := range forged {
		b.WriteString(f)
	}
	b.Write(message("alice@example.org", "Hi.\r\n"))
	return b.Bytes()
}

// TestBorderForgery: whatever the client writes below our border's
// Received field, Border names the client our border saw.
func TestBorderForgery(t *testing.T) {
	t.Parallel()
	want := relay.Hop{IP: netip.MustParseAddr("192.0.2.10"), HELO: "mail.example.org"}
	check := func(name string, forged []string) {
		t.Helper()
		hop, err := relay.Border(bytes.NewReader(borderMessage("mail.example.org", forged)), trusted)
		if err != nil || hop != want {
			t.Errorf("%s: %+v %v, want %+v", name, hop, err, want)
		}
	}
	check("nothing forged", nil)
	for i, f := range forgeries {
		check(fmt.Sprintf("forgery %d %q", i, f), []string{f})
	}
	// Random stacks of forgeries and random bytes.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var forged []string
		for j := rng.IntN(8); j > 0; j-- {
			if rng.IntN(4) == 0 {
				junk := make([]byte, rng.IntN(200))
				for k := range junk {
					junk[k] = byte(rng.IntN(256))
				}
				forged = append(forged, string(junk))
			} else {
				forged = append(forged, forgeries[rng.IntN(len(forgeries))])
			}
		}
		check(fmt.Sprintf("random stack %d", i), forged)
	}
}

// TestBorderHostileHELO: the client chooses the HELO name that our border
// writes into its own Received field. Names that look like the rest of a
// field (an address in brackets, a "from" or "by", a semicolon) must not
// make Border read another address than the one our MTA recorded. Border
// may refuse to read such a field (an error: the caller keeps the
// session's address), but it must never name an address the client chose,
// nor walk on into the fields the client wrote.
//
// The names are written as they are, and as Postfix writes them (it keeps
// spaces and brackets but replaces parentheses with '?').
func TestBorderHostileHELO(t *testing.T) {
	t.Parallel()
	helos := []string{
		"[10.1.2.3]",
		"[127.0.0.1]",
		"[203.0.113.99]",
		"10.1.2.3",
		"[127.0.0.1] by x",
		"x from y [10.1.2.3]",
		"x by y; from z [203.0.113.99]",
		"evil (trusted.example.net [10.1.2.3])",
		"evil (evil [203.0.113.99])",
		"a) (b [10.1.2.3]",
		"a) (b [203.0.113.99]",
		"[IPv6:::1]",
		"(",
		")",
		"[",
		"]",
		"x;y",
		"helo=[10.1.2.3]",
		// A bare CR ends a line for mail readers: written verbatim, it
		// would cut our border's field short.
		"x (x [10.1.2.3])\rX-A: b",
		"x (x [203.0.113.99])\r",
		"x\rReceived: from y (y [10.1.2.3]) by z; Mon, 2 Mar 2026 09:00:00 +0000",
		// Dialects of other MTAs, written into a Postfix field.
		"[203.0.113.99] (HELO x)",
		"x (account a HELO [10.1.2.3])",
		"x [203.0.113.99] by",
		"x ([203.0.113.99:25] helo=y)",
	}
	real := netip.MustParseAddr("192.0.2.10")
	below := []string{"Received: from spoof.example (spoof.example [198.51.100.77]) by x; Mon, 2 Mar 2026 09:00:00 +0000\r\n"}
	for _, helo := range helos {
		postfix := strings.NewReplacer("(", "?", ")", "?").Replace(helo)
		for _, written := range []string{helo, postfix} {
			for _, forged := range [][]string{nil, below} {
				hop, err := relay.Border(bytes.NewReader(borderMessage(written, forged)), trusted)
				if err == nil && hop.IP != real {
					t.Errorf("HELO %q, %d forged fields: Border names %v, want %v (or an error)", written, len(forged), hop.IP, real)
				}
			}
		}
	}
}
