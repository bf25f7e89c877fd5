// Package mtaguard is a library of SMTP admission checks: the tests a
// border MTA runs on an incoming connection before it takes responsibility
// for a message. Each check is a small package with a pure function, and
// package verdict combines their scored results into one decision that any
// Go SMTP server can embed.
//
// The checks, by the stage of the SMTP dialogue at which their facts are
// known:
//
//   - fcrdns (connect): forward-confirmed reverse DNS, iprev (RFC 8601), and
//     generic / dynamic-looking host names.
//   - dnsbl (connect): DNS block and allow lists (RFC 5782).
//   - helo (helo): HELO/EHLO name syntax, honesty and DNS (RFC 5321 §4.1.4).
//   - spf (mail): Sender Policy Framework (RFC 7208) and the sender domain's
//     existence and null MX (RFC 7505).
//   - relay (rcpt): no open relay, no spoofing of our own domains, and
//     Border, which finds the real client behind our own MTAs.
//   - greylist (rcpt): greylisting (RFC 6647) with in-memory and Redis stores.
//   - dkim (data): DKIM signatures (RFC 6376, RFC 8301, RFC 8463).
//   - dmarc (data): DMARC alignment and policy (RFC 7489, RFC 9091).
//
// Package resolver is the DNS stub resolver the checks use in production
// (cache, de-duplication of in-flight queries, TCP fallback), and
// resolver/resolvertest answers from zone text for tests, in memory or as a
// real DNS server on loopback.
//
// A policy is a list of checks, weights and thresholds:
//
//	r, _ := resolver.New(resolver.Config{})
//	p := &verdict.Policy{
//		Checks: []verdict.Check{
//			fcrdns.New(r, nil),
//			dnsbl.New(r, []dnsbl.List{{Zone: "zen.spamhaus.org", Score: 8}}, nil),
//			helo.New(r, &helo.Options{LocalNames: []string{"example.net"}}),
//			spf.New(r, nil),
//			relay.New(&relay.Policy{LocalDomains: []string{"example.net"}}),
//			greylist.New(greylist.NewMemory(), nil),
//			dkim.New(r, nil),
//			dmarc.New(r, nil),
//		},
//		Quarantine: 6,
//		Reject:     15,
//	}
//
// and an SMTP server evaluates it at each stage:
//
//	s := &verdict.Session{IP: clientIP}
//	d := p.Evaluate(ctx, s, verdict.Connect)
//	if d.Action >= verdict.TempFail {
//		reply(d.Code, d.Enhanced, d.Message)
//	}
//
// See the programs under examples/ for a go-smtp server, a Postfix policy
// service, a milter, and mtacheck, which explains a decision.
package mtaguard
