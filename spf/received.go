package spf

import (
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

// maxReceivedValue bounds each value of a Received-SPF field, so that the
// whole field stays within a header line (RFC 5322 §2.1.1: 998 octets).
const maxReceivedValue = 100

// ReceivedSPF returns the value of a Received-SPF header field (RFC 7208
// §9.1) that records res, a result of Check, CheckHelo or a Checker, for
// the client at ip that said helo and gave the envelope sender mailFrom;
// receiver is the host name of the MTA adding the field. The caller
// writes "Received-SPF: " before it. The value is one line, not folded.
//
// The HELO name and the sender come from the client. They are written as
// quoted strings when they are not dot-atoms, with control bytes dropped
// and double quotes, backslashes and semicolons replaced by '?', so that
// nothing a client sends can end the field, the quoted string or the
// key-value pair. The keys this package vouches for (client-ip, receiver,
// identity) come before them, for parsers that take the first match, and
// the comment holds no client text but the checked domain name.
func ReceivedSPF(res verdict.Result, ip netip.Addr, helo, mailFrom, receiver string) string {
	identity := "mailfrom"
	for _, a := range res.Auth {
		if r, ok := a.(*authres.SPFResult); ok && r.From == "" {
			identity = "helo"
		}
	}
	result := res.Status.String()
	if res.Status > verdict.PermError {
		result = "none"
	}
	ip = ip.Unmap().WithZone("")
	addr := "unknown"
	if ip.IsValid() {
		addr = ip.String()
	}
	if receiver == "" {
		receiver = "unknown"
	}

	var b strings.Builder
	b.WriteString(result)
	b.WriteString(" (")
	b.WriteString(commentText(receiver))
	b.WriteString(": ")
	b.WriteString(receivedComment(res.Status, commentText(res.Domain), addr))
	b.WriteString(") client-ip=")
	b.WriteString(receivedValue(addr))
	b.WriteString("; receiver=")
	b.WriteString(receivedValue(receiver))
	b.WriteString("; identity=")
	b.WriteString(identity)
	if mailFrom != "" {
		b.WriteString("; envelope-from=")
		b.WriteString(receivedValue(mailFrom))
	}
	if helo != "" {
		b.WriteString("; helo=")
		b.WriteString(receivedValue(helo))
	}
	if res.Err != nil && (res.Status == verdict.TempError || res.Status == verdict.PermError) {
		b.WriteString("; problem=")
		b.WriteString(receivedValue(res.Err.Error()))
	}
	return b.String()
}

// receivedComment is the comment's text for a status, in the words of
// RFC 7208 §9.1's example.
func receivedComment(st verdict.Status, domain, addr string) string {
	if domain == "" {
		return "no domain to check"
	}
	switch st {
	case verdict.Pass:
		return "domain of " + domain + " designates " + addr + " as permitted sender"
	case verdict.Fail:
		return "domain of " + domain + " does not designate " + addr + " as permitted sender"
	case verdict.SoftFail:
		return "domain of " + domain + " does not designate " + addr + " as permitted sender (softfail)"
	case verdict.Neutral:
		return "domain of " + domain + " neither permits nor denies " + addr
	case verdict.TempError:
		return "temporary error checking " + domain
	case verdict.PermError:
		return "permanent error in the SPF record of " + domain
	}
	return domain + " publishes no SPF record"
}

// commentText keeps s fit for a comment: printable, without the
// characters that end or nest one, and bounded.
func commentText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '(', ')', '\\', '"', ';':
			return '?'
		}
		return r
	}, verdict.Printable(s))
	return verdict.PrintableN(s, maxReceivedValue)
}

// receivedValue writes s as a dot-atom if it is one, else as a quoted
// string without the characters that could end it or the pair.
func receivedValue(s string) string {
	s = verdict.Printable(s)
	if isDotAtom(s) && len(s) <= maxReceivedValue {
		return s
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case '"', '\\', ';':
			return '?'
		}
		return r
	}, s)
	return `"` + verdict.PrintableN(s, maxReceivedValue) + `"`
}

// isDotAtom: dot-atom-text = 1*atext *( "." 1*atext ) (RFC 5322 §3.2.3).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}
