package acceptance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// hostile are client-controlled strings made to break header fields and
// replies: line breaks, NUL, the separators and quotes of
// Authentication-Results and Received-SPF, comments, non-ASCII, length.
var hostile = []string{
	"evil\r\nX-Injected: yes",
	"evil\nAuthentication-Results: mx.example.net; spf=pass",
	"evil\rX-Injected: yes",
	"evil\x00nul",
	"a;b=c; dkim=pass header.d=example.org",
	`"quoted" \"esc\`,
	"(comment) spf=pass (x",
	") dmarc=pass (",
	`x" smtp.mailfrom="example.org`,
	"é☃\xff\xfe",
	strings.Repeat("A;\"()\\\r\n", 300),
}

// quoteLocal returns s as an RFC 5321 quoted local part, escaping quotes
// and backslashes (and keeping every other byte, valid or not).
func quoteLocal(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// hostileDKIM returns a DKIM-Signature field with d= and i= set to h. It
// cannot verify; what matters is where d= and i= end up.
func hostileDKIM(h string) string {
	return "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=" + h + "; s=sel; i=x@" + h +
		"; h=from:to; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n"
}

// hostileSessions are sessions with h in each client-controlled place.
func hostileSessions(t testing.TB, h string) map[string]*verdict.Session {
	good := signedMessage(t)
	hNoSemi := strings.ReplaceAll(h, ";", "")
	return map[string]*verdict.Session{
		helo.Name:          {IP: clientIP, HELO: h, MailFrom: mailFrom, Rcpt: rcptTo, Message: good},
		"mailfrom":         {IP: clientIP, HELO: heloName, MailFrom: h + "@example.org", Rcpt: rcptTo, Message: good},
		"mailfrom-quoted":  {IP: clientIP, HELO: heloName, MailFrom: quoteLocal(h) + "@example.org", Rcpt: rcptTo, Message: good},
		"rcpt":             {IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: quoteLocal(h) + "@example.net", Message: good},
		"from-display":     {IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: rcptTo, Message: message(quoteLocal(h)+" <alice@example.org>", "Hi.\r\n")},
		"from-comment":     {IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: rcptTo, Message: message("alice@example.org ("+h+")", "Hi.\r\n")},
		"from-local":       {IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: rcptTo, Message: message(quoteLocal(h)+"@example.org", "Hi.\r\n")},
		"dkim-d-i":         {IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: rcptTo, Message: withHeader(good, hostileDKIM(h))},
		"dkim-d-i-no-semi": {IP: clientIP, HELO: heloName, MailFrom: mailFrom, Rcpt: rcptTo, Message: withHeader(good, hostileDKIM(hNoSemi))},
		// An outsider, so that SPF fails and the explanation is used.
		"spf-exp":        {IP: outsideIP, HELO: h, MailFrom: mailFrom, Rcpt: rcptTo, Message: good},
		"spf-exp-sender": {IP: outsideIP, HELO: heloName, MailFrom: quoteLocal(h) + "@example.org", Rcpt: rcptTo, Message: good},
	}
}

// expZone makes example.org's SPF record fail with an explanation that
// holds separators, quotes, a backslash and the client's HELO and sender
// (%{h}, %{s}, %{l}): the macros carry the hostile strings. (An
// explanation with control bytes is no valid explain-string, RFC 7208
// §6.2, and is not used at all.)
const expZone = `example.org.      TXT "v=spf1 include:_spf.example.org -all exp=exp.example.org"
example.org.      MX  10 mail.example.org.
exp.example.org.  TXT "Go away; \"q\" (p) \\ <a@b> helo=%{h} sender=%{s} local=%{l}"
`

// checkReply fails t unless line is one printable ASCII reply line that
// fits RFC 5321's 512 octets with its CRLF.
func checkReply(t *testing.T, what, line string) {
	t.Helper()
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c > 0x7e {
			t.Errorf("%s: byte %#x at %d in %q", what, c, i, line)
			return
		}
	}
	if len(line)+2 > 512 {
		t.Errorf("%s: reply of %d octets", what, len(line)+2)
	}
}

// checkAR renders the decision's Authentication-Results, parses it back,
// and fails t unless it holds exactly the decision's entries, in order,
// with their result words, under our authserv-id.
func checkAR(t *testing.T, what string, d verdict.Decision) {
	t.Helper()
	ar := d.AuthenticationResults("mx.example.net")
	checkReply(t, what+": Authentication-Results", strings.ReplaceAll(ar, "\t", " "))
	// go-msgauth's parser splits at every ';', quoted or not, as naive
	// readers do (TestARSemicolon): it must read exactly what was written.
	id, got, err := authres.Parse(ar)
	if err != nil {
		t.Errorf("%s: Authentication-Results does not parse: %v\n%s", what, err, ar)
		return
	}
	if id != "mx.example.net" {
		t.Errorf("%s: authserv-id %q", what, id)
	}
	var want []authres.Result
	for _, r := range d.Results {
		want = append(want, r.Auth...)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d results parsed back, %d given:\n%s", what, len(got), len(want), ar)
		return
	}
	for i := range got {
		gm, gv := methodValue(got[i])
		wm, wv := methodValue(want[i])
		if gm != wm || gv != wv {
			t.Errorf("%s: result %d parsed back as %s=%s, given %s=%s:\n%s", what, i, gm, gv, wm, wv, ar)
		}
	}
}

func methodValue(r authres.Result) (string, authres.ResultValue) {
	switch r := r.(type) {
	case *authres.SPFResult:
		return "spf", r.Value
	case *authres.DKIMResult:
		return "dkim", r.Value
	case *authres.DMARCResult:
		return "dmarc", r.Value
	case *authres.IPRevResult:
		return "iprev", r.Value
	case *authres.AuthResult:
		return "auth", r.Value
	case *authres.GenericResult:
		return r.Method, r.Value
	}
	return fmt.Sprintf("%T", r), ""
}

// parseReceivedSPF reads a Received-SPF value (RFC 7208 §9.1): result,
// comment, and key=value pairs, each value a dot-atom or a quoted string.
// It returns the pairs, or an error saying where the value breaks the
// grammar.
func parseReceivedSPF(v string) (result string, pairs map[string][]string, err error) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return "", nil, fmt.Errorf("byte %#x at %d", c, i)
		}
	}
	result, rest, ok := strings.Cut(v, " ")
	if !ok {
		return "", nil, fmt.Errorf("no result word")
	}
	switch result {
	case "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror":
	default:
		return "", nil, fmt.Errorf("result %q", result)
	}
	if strings.HasPrefix(rest, "(") {
		depth, i := 0, 0
		for ; i < len(rest); i++ {
			switch rest[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if depth != 0 || i >= len(rest) {
			return "", nil, fmt.Errorf("unbalanced comment")
		}
		rest = strings.TrimLeft(rest[i+1:], " ")
	}
	pairs = map[string][]string{}
	for rest != "" {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyz-") != "" {
			return "", nil, fmt.Errorf("bad key at %q", rest)
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' {
					i++
				}
			}
			if i >= len(after) {
				return "", nil, fmt.Errorf("unterminated quoted string at %q", after)
			}
			val, rest = after[:i+1], after[i+1:]
		} else {
			i := 0
			for ; i < len(after) && after[i] != ';'; i++ {
				if strings.IndexByte("()<>[]:,@\\\" ", after[i]) >= 0 {
					return "", nil, fmt.Errorf("%q in a dot-atom at %q", after[i], after)
				}
			}
			val, rest = after[:i], after[i:]
		}
		pairs[key] = append(pairs[key], val)
		if rest == "" {
			break
		}
		if !strings.HasPrefix(rest, "; ") {
			return "", nil, fmt.Errorf("no separator at %q", rest)
		}
		rest = rest[2:]
	}
	return result, pairs, nil
}

// TestHeaderSafety puts each hostile string in each client-controlled
// place of a session (HELO, MAIL FROM, RCPT TO, the From field, DKIM d=
// and i=, and through SPF macros into an exp= explanation), runs the whole
// policy stage by stage and with EvaluateAll, and checks every reply line,
// every reason, the Authentication-Results field (parsed back with
// go-msgauth: exactly the entries given, under our authserv-id) and the
// Received-SPF field (parsed back: one client-ip, ours, and nothing but
// the grammar of RFC 7208 §9.1).
func TestHeaderSafety(t *testing.T) {
	t.Parallel()
	for hi, h := range hostile {
		for place, s := range hostileSessions(t, h) {
			t.Run(fmt.Sprintf("%d/%s", hi, place), func(t *testing.T) {
				r, err := resolvertest.New(worldZoneWithout("example.org") + expZone + "example.org. SOA ns.example.org. h.example.org. 1 2 3 4 5\n")
				if err != nil {
					t.Fatal(err)
				}
				r.SetTimeoutAfter(50 * time.Millisecond)
				c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
				p := fullPolicy(r, greylist.NewMemory(), c, deadline)
				for i, ch := range p.Checks {
					if ch.Name() == spf.Name {
						p.Checks[i] = spf.New(r, &spf.Options{Reject: true, Receiver: "mx.example.net"})
					}
				}
				all := *s
				ds := stageDecisions(context.Background(), p, s)
				ds = append(ds, p.EvaluateAll(context.Background(), &all))
				for i, d := range ds {
					what := fmt.Sprintf("decision %d (%s)", i, d)
					checkReply(t, what+": reply", d.String())
					checkAR(t, what, d)
					for _, res := range d.Results {
						if res.Reason != verdict.Printable(res.Reason) {
							t.Errorf("%s: %s reason %q is not printable", what, res.Check, res.Reason)
						}
					}
				}
				spfRes, ok := s.Result(spf.Name)
				if !ok {
					t.Fatal("no spf result")
				}
				if place == "spf-exp" || place == "spf-exp-sender" {
					if spfRes.Status != verdict.Fail || !strings.Contains(spfRes.Reason, "Go away") && place == "spf-exp" {
						t.Errorf("spf: %v %s, want fail with the explanation", spfRes.Status, spfRes.Reason)
					}
					t.Logf("spf: %s", spfRes.Reason)
				}
				rs := spf.ReceivedSPF(spfRes, s.IP, s.HELO, s.MailFrom, "mx.example.net")
				_, pairs, err := parseReceivedSPF(rs)
				if err != nil {
					t.Errorf("Received-SPF breaks the grammar: %v:\n%s", err, rs)
					return
				}
				for k, vs := range pairs {
					if len(vs) > 1 {
						t.Errorf("Received-SPF: key %s %d times:\n%s", k, len(vs), rs)
					}
				}
				if got := pairs["client-ip"]; len(got) != 1 || got[0] != s.IP.String() {
					t.Errorf("Received-SPF: client-ip %q, want %s:\n%s", got, s.IP, rs)
				}
			})
		}
	}
}

// TestReceivedSPFHostile calls ReceivedSPF directly with hostile HELO
// names, senders, receivers and results whose Domain and Err hold hostile
// text.
func TestReceivedSPFHostile(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("192.0.2.10")
	for _, h := range hostile {
		for _, st := range []verdict.Status{verdict.Pass, verdict.Fail, verdict.TempError, verdict.PermError, verdict.None} {
			res := verdict.Result{Check: spf.Name, Status: st, Domain: h, Err: fmt.Errorf("%s", h), Auth: spfAuth(string(st.String()), h)}
			rs := spf.ReceivedSPF(res, ip, h, h+"@"+h, h)
			_, pairs, err := parseReceivedSPF(rs)
			if err != nil {
				t.Errorf("%q, %v: Received-SPF breaks the grammar: %v:\n%s", h, st, err, rs)
				continue
			}
			for k, vs := range pairs {
				if len(vs) > 1 {
					t.Errorf("%q: key %s %d times:\n%s", h, k, len(vs), rs)
				}
			}
			if got := pairs["client-ip"]; len(got) != 1 || got[0] != ip.String() {
				t.Errorf("%q: client-ip %q:\n%s", h, got, rs)
			}
		}
	}
}

// forgedAR are Authentication-Results fields a client sends claiming to
// be us (mx.example.net), in every spelling RFC 8601 §2.2 and header
// syntax allow, and fields of others that must stay.
var (
	forgedAR = []string{
		"Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=bank.example\r\n",
		"Authentication-Results: MX.Example.NET; dkim=pass header.d=bank.example\r\n",
		"Authentication-Results: mx.example.net.; dmarc=pass header.from=bank.example\r\n",
		"Authentication-Results: mx.example.net 1; spf=pass\r\n",
		"Authentication-Results: \"mx.example.net\"; spf=pass\r\n",
		"Authentication-Results: (our filter) mx.example.net; spf=pass\r\n",
		"Authentication-Results:mx.example.net;spf=pass\r\n",
		"Authentication-Results :  mx.example.net ; spf=pass\r\n",
		"authentication-results: mx.example.net; spf=pass\r\n",
		"AUTHENTICATION-RESULTS: mx.example.net; spf=pass\r\n",
		"Authentication-Results:\r\n mx.example.net;\r\n\tspf=pass\r\n",
		"Authentication-Results: \r\n (c)\r\n mx.example.net; dkim=pass\r\n",
		"Authentication-Results: mx.example.net; none\r\n",
		"Authentication-Results: mx.example.net\n\t; spf=pass\n",
		"Authentication-Results: mx.example.net\v1; dkim=pass header.d=bank.example\r\n",
		"Authentication-Results: mx.example.net\f1; dkim=pass header.d=bank.example\r\n",
		"Authentication-Results: mx.example.net\u00a01; dkim=pass header.d=bank.example\r\n",
		"Authentication-Results: \u00a0mx.example.net; dkim=pass header.d=bank.example\r\n",
		"X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass header.d=bank.example\r\n",
		"X-Foo: bar\r\nAuthentication-Results: mx.example.net; spf=pass\rX-Bar: baz\r\n",
	}
	othersAR = []string{
		"Authentication-Results: mx.example.com; spf=pass\r\n",
		"Authentication-Results: mx.example.net.evil.example; spf=pass\r\n",
		"Authentication-Results: xmx.example.net; spf=pass\r\n",
		"Authentication-Results: example.net; spf=pass\r\n",
		"ARC-Authentication-Results: i=1; mx.example.net; spf=pass\r\n",
		"X-Authentication-Results: mx.example.net; spf=pass\r\n",
	}
)

// readerARs returns the Authentication-Results values of msg as mail
// readers read them: lines split at CRLF, bare LF and bare CR, then the
// header parsed by net/mail and by go-message's textproto.
func readerARs(t *testing.T, msg []byte) []string {
	t.Helper()
	lines := strings.ReplaceAll(strings.ReplaceAll(string(msg), "\r\n", "\n"), "\r", "\n")
	b := []byte(strings.ReplaceAll(lines, "\n", "\r\n"))
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("net/mail: %v\n%q", err, b)
	}
	values := m.Header["Authentication-Results"]
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("go-message: %v\n%q", err, b)
	}
	for f := h.FieldsByKey("Authentication-Results"); f.Next(); {
		values = append(values, f.Value())
	}
	return values
}

// leadingComment matches the comments and white space RFC 8601 allows
// before the authserv-id, which go-msgauth's parser does not skip.
var leadingComment = regexp.MustCompile(`^(\s*\([^)]*\))*\s*`)

// readsAsOurs reports whether a reader takes an Authentication-Results
// value for ours: go-msgauth's authres.Parse gives our authserv-id, case
// and a trailing dot aside, also once comments before it and quotes around
// it are removed, as a reader following RFC 8601 §2.2 would.
func readsAsOurs(value string) bool {
	for _, v := range []string{value, strings.ReplaceAll(leadingComment.ReplaceAllString(value, ""), `"`, "")} {
		if id, _, _ := authres.Parse(v); strings.EqualFold(strings.TrimRight(id, "."), "mx.example.net") {
			return true
		}
	}
	return false
}

// TestForgedAuthenticationResults: a server that removes the fields
// claiming our authserv-id (verdict.RemoveAuthenticationResults, RFC 8601
// §5) and adds its own passes on exactly one field in our name, ours; the
// fields of other hosts and the body stay as they were, even a body line
// that looks like a field.
func TestForgedAuthenticationResults(t *testing.T) {
	t.Parallel()
	body := "Authentication-Results: mx.example.net; spf=pass\r\n"
	for i, forged := range forgedAR {
		for _, other := range othersAR {
			msg := withHeader(message("alice@example.org", body), forged+other+forged)
			clean := verdict.RemoveAuthenticationResults(msg, "mx.example.net")
			if !strings.HasSuffix(string(clean), body) || !strings.Contains(string(clean), other) {
				t.Errorf("forgery %d with %q: lost the body or another host's field:\n%s", i, other, clean)
			}
			d := verdict.Decision{Results: []verdict.Result{{Check: spf.Name, Auth: spfAuth("fail", "bank.example")}}}
			final := append([]byte("Authentication-Results: "+d.AuthenticationResults("mx.example.net")+"\r\n"), clean...)
			// Read by both parsers: ours, once each.
			ours := 0
			for _, v := range readerARs(t, final) {
				if readsAsOurs(v) {
					ours++
					if _, rs, err := authres.Parse(v); err != nil || len(rs) != 1 {
						t.Errorf("forgery %d %q with %q: our field reads %q", i, forged, other, v)
					}
				}
			}
			if ours != 2 {
				t.Errorf("forgery %d %q with %q: %d fields read in our name after removal, want ours alone:\n%q", i, forged, other, ours/2, final)
			}
		}
	}
}
