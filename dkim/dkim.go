// Package dkim verifies the DKIM signatures of a message (RFC 6376), with
// the algorithm rules of RFC 8301 (no rsa-sha1, no RSA key under 1024 bits)
// and Ed25519 keys (RFC 8463), on top of github.com/emersion/go-msgauth/dkim.
//
// Check verifies with the defaults; New returns a verdict.Check for the Data
// stage with Options. Both read the body as a stream: memory stays bounded
// by the header section (at most MaxHeaderBytes) plus a constant, whatever
// the size of the message.
//
// By default DKIM only scores: a message whose signatures all fail is not
// refused unless Options.Reject says so, as in Haraka and rspamd, because
// mailing lists and forwarders break signatures all the time. DMARC (package
// dmarc) is what turns a missing aligned signature into a policy.
package dkim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver looks up DKIM key records (RFC 6376 §3.6.2.2). *net.Resolver
// satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Defaults of Options.
const (
	// DefaultMaxSignatures is how many signatures are verified at most.
	// Each costs a DNS lookup and a pass over the body, and a sender
	// can add as many as it likes; rspamd stops at 5.
	DefaultMaxSignatures = 10
	// DefaultMaxHeaderBytes bounds the header section read into memory.
	DefaultMaxHeaderBytes = 1 << 20
)

// Scores are the scores of a result by its Status.
type Scores struct {
	Pass      float64 // at least one signature verifies
	Fail      float64 // signatures present, none verifies
	Neutral   float64 // only rsa-sha1 signatures, with Options.ScoreSHA1
	TempError float64 // a key lookup failed temporarily and nothing passed
	PermError float64 // every signature is unusable (syntax, no key, ...)
	None      float64 // no signature
}

// DefaultScores are the scores used when Options.Scores is nil: a valid
// signature is a weak sign of trust (anyone can sign their own mail), a
// broken one a weak sign of forgery (lists and forwarders break them
// too), in line with rspamd's R_DKIM_ALLOW and R_DKIM_REJECT.
var DefaultScores = Scores{
	Pass:      -0.5,
	Fail:      1,
	Neutral:   0.5,
	PermError: 0.5,
}

// Options change how messages are verified. A nil *Options means the
// defaults.
type Options struct {
	// MaxSignatures is how many signatures are verified, from the top of
	// the header; more are counted in the reason but not verified and get
	// no Authentication-Results entry (the header field would otherwise
	// grow with a number the sender chooses). 0 means
	// DefaultMaxSignatures.
	MaxSignatures int

	// MaxHeaderBytes bounds the header section; a longer one gives a
	// PermError without verifying anything. 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// Reject makes a message that has signatures but no valid one
	// (Status Fail or PermError) demand Reject, with the reply 550 5.7.20
	// (RFC 7372 §3.1). TempError and None never demand anything.
	Reject bool

	// ScoreSHA1 reports rsa-sha1 signatures as "policy" (RFC 8601
	// §2.7.1) instead of "fail": they still never verify (RFC 8301 §3.1),
	// but they no longer make the message's Status Fail, and a message
	// with nothing else gets Status Neutral and Scores.Neutral.
	ScoreSHA1 bool

	// Scores replaces DefaultScores.
	Scores *Scores
}

// Check verifies the DKIM signatures of message with the default options,
// looking keys up through r. See Checker.Verify.
func Check(ctx context.Context, r Resolver, message io.Reader) verdict.Result {
	return New(r, nil).Verify(ctx, message)
}

// Checker is the DKIM check of the Data stage: a verdict.Check.
type Checker struct {
	r Resolver
	o Options
}

// New returns a Checker that looks keys up through r. o may be nil.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r}
	if o != nil {
		c.o = *o
	}
	if c.o.MaxSignatures <= 0 {
		c.o.MaxSignatures = DefaultMaxSignatures
	}
	if c.o.MaxHeaderBytes <= 0 {
		c.o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.o.Scores == nil {
		sc := DefaultScores
		c.o.Scores = &sc
	}
	return c
}

// Name returns "dkim".
func (c *Checker) Name() string { return "dkim" }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// Check verifies the signatures of s.Message.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Verify(ctx, bytes.NewReader(s.Message))
}

// Verify verifies the DKIM signatures of message (RFC 6376 §6) and returns
// a result with one *authres.DKIMResult per verified signature in Auth
// (Domain d=, Identifier i=, and s= in the reason, since go-msgauth's
// authres has no header.s) and this Status:
//
//   - Pass if at least one signature verifies;
//   - TempError if none does and a key lookup failed temporarily;
//   - Fail if a signature failed to verify (body hash, signature, or a
//     rule: rsa-sha1 or an RSA key under 1024 bits (RFC 8301), From not
//     signed (RFC 6376 §5.4), x= in the past, or an l= body length tag,
//     which go-msgauth refuses because it lets anyone append text);
//   - PermError if every signature is unusable (bad syntax, no key, revoked
//     key, unknown algorithm);
//   - Neutral if the only signatures are rsa-sha1 ones and
//     Options.ScoreSHA1 is set;
//   - None if there is no signature.
//
// go-msgauth checks x= against the wall clock; it offers no way to pass the
// time in.
func (c *Checker) Verify(ctx context.Context, message io.Reader) verdict.Result {
	res := verdict.Result{Check: "dkim"}
	if err := ctx.Err(); err != nil {
		return c.score(tempError(res, "verification not started", err))
	}
	br := bufio.NewReader(message)
	h, err := readHeader(br, c.o.MaxHeaderBytes)
	if err == errHeaderTooLarge {
		res.Status = verdict.PermError
		res.Reason = "header section larger than " + strconv.Itoa(c.o.MaxHeaderBytes) + " bytes, signatures not verified"
		res.Err = err
		return c.score(res)
	}
	if err != nil {
		return c.score(tempError(res, "reading the message failed", err))
	}
	sigs := signatures(h)
	if len(sigs) == 0 {
		res.Status = verdict.None
		res.Reason = "no DKIM signature"
		return c.score(res)
	}

	keys := &keyLookup{ctx: ctx, r: c.r}
	body := &bodyReader{ctx: ctx, r: br}
	verifs, err := msgdkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(h), body), &msgdkim.VerifyOptions{
		LookupTXT:        keys.lookupTXT,
		MaxVerifications: c.o.MaxSignatures,
	})
	switch {
	case body.err == errBlankRun:
		res.Status = verdict.PermError
		res.Reason = "body has more than " + strconv.Itoa(maxLineBreaks) + " line breaks in a row, signatures not verified"
		res.Err = body.err
		return c.score(res)
	case body.err != nil:
		return c.score(tempError(res, "verification interrupted", body.err))
	case err != nil && err != msgdkim.ErrTooManySignatures:
		res.Status = verdict.PermError
		res.Reason = verdict.Printable(trimPrefix(err))
		res.Err = err
		return c.score(res)
	}

	// go-msgauth returns one Verification per signature, in header order,
	// for the first MaxSignatures signatures: the same ones found above.
	skipped := 0
	if err == msgdkim.ErrTooManySignatures {
		skipped = len(sigs) - len(verifs)
	}
	res = c.summarize(res, sigs, verifs, keys)
	if skipped > 0 {
		res.Reason = verdict.Printable(strconv.Itoa(len(sigs)) + " signatures, " + strconv.Itoa(skipped) +
			" not verified (limit " + strconv.Itoa(c.o.MaxSignatures) + "); " + res.Reason)
	}
	if c.o.Reject && (res.Status == verdict.Fail || res.Status == verdict.PermError) {
		res.Action = verdict.Reject
		res.Code, res.Enhanced = 550, "5.7.20"
	}
	return c.score(res)
}

// summarize fills in res from the verification of each signature: one
// Auth entry per signature, the Status of the whole, the reason and the
// error behind it.
func (c *Checker) summarize(res verdict.Result, sigs []signature, verifs []*msgdkim.Verification, keys *keyLookup) verdict.Result {
	var (
		n        = map[authres.ResultValue]int{}
		firstErr = map[authres.ResultValue]error{}
		why      []string           // distinct descriptions, in order
		count    []int              // how many signatures each describes
		seen     = map[string]int{} // index in why
	)
	for i, v := range verifs {
		var sig signature
		if i < len(sigs) {
			sig = sigs[i]
		}
		value, detail := c.classify(sig, v.Err)
		domain, id := strings.ToLower(v.Domain), v.Identifier
		if domain == "" {
			domain = sig.domain
		}
		if id == "" {
			id = sig.identifier
		}
		n[value]++
		if value == authres.ResultPass && res.Domain == "" {
			res.Domain = domain
		}
		if v.Err != nil && firstErr[value] == nil {
			// The DNS error is more use to the caller than
			// go-msgauth's text about it.
			if firstErr[value] = keys.err(sig); firstErr[value] == nil {
				firstErr[value] = v.Err
			}
		}

		reason, line := "s="+sig.selector, "d="+domain+" s="+sig.selector+" "+string(value)
		if detail != "" {
			reason += ": " + detail
			line += " (" + detail + ")"
		}
		res.Auth = append(res.Auth, &authres.DKIMResult{
			Value:      value,
			Reason:     verdict.Printable(reason),
			Domain:     domain,
			Identifier: id,
		})
		if j, ok := seen[line]; ok {
			count[j]++
		} else {
			seen[line] = len(why)
			why = append(why, line)
			count = append(count, 1)
		}
	}

	for _, o := range []struct {
		value  authres.ResultValue
		status verdict.Status
	}{
		{authres.ResultPass, verdict.Pass},
		{authres.ResultTempError, verdict.TempError},
		{authres.ResultFail, verdict.Fail},
		{authres.ResultPermError, verdict.PermError},
		{authres.ResultPolicy, verdict.Neutral},
	} {
		if n[o.value] > 0 {
			res.Status, res.Err = o.status, firstErr[o.value]
			break
		}
	}

	// The reason names a few signatures: it has to fit in an SMTP reply.
	for i, k := range count {
		if k > 1 {
			why[i] += " x" + strconv.Itoa(k)
		}
	}
	if len(why) > maxListed {
		why = append(why[:maxListed], strconv.Itoa(len(why)-maxListed)+" more")
	}
	res.Reason = verdict.Printable(strings.Join(why, "; "))
	return res
}

// maxListed is how many signatures a reason describes.
const maxListed = 3

// classify turns go-msgauth's verdict on one signature into an RFC 8601
// result word and a reason.
//
// go-msgauth has three error classes: temporary (key lookup), permanent,
// and a hidden one for crypto failures (body hash, signature) and l=. Its
// permanent class mixes unusable signatures (permerror) with signatures
// refused by rule, which RFC 8301 and RFC 6376 §5.4 make plain failures;
// those are told apart by the error text of the pinned go-msgauth version
// (the tests fail if it changes).
func (c *Checker) classify(sig signature, err error) (authres.ResultValue, string) {
	switch {
	case err == nil:
		return authres.ResultPass, ""
	case msgdkim.IsTempFail(err):
		return authres.ResultTempError, trimPrefix(err)
	case !msgdkim.IsPermFail(err):
		if sig.bodyLength {
			return authres.ResultFail, "l= body length tag not accepted, it leaves text unsigned"
		}
		return authres.ResultFail, trimPrefix(err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "hash algorithm too weak"):
		if c.o.ScoreSHA1 {
			return authres.ResultPolicy, "rsa-sha1 not accepted (RFC 8301)"
		}
		return authres.ResultFail, "rsa-sha1 not accepted (RFC 8301)"
	case strings.Contains(msg, "key is too short"):
		return authres.ResultFail, "RSA key shorter than 1024 bits (RFC 8301)"
	case strings.Contains(msg, "From field not signed"):
		return authres.ResultFail, "From field not signed (RFC 6376 section 5.4)"
	case strings.Contains(msg, "signature has expired"):
		return authres.ResultFail, "signature expired (x=)"
	}
	return authres.ResultPermError, trimPrefix(err)
}

func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "dkim: ")
}

func tempError(res verdict.Result, reason string, err error) verdict.Result {
	res.Status = verdict.TempError
	res.Reason = reason
	res.Err = err
	return res
}

func (c *Checker) score(res verdict.Result) verdict.Result {
	sc := c.o.Scores
	switch res.Status {
	case verdict.Pass:
		res.Score = sc.Pass
	case verdict.Fail:
		res.Score = sc.Fail
	case verdict.Neutral:
		res.Score = sc.Neutral
	case verdict.TempError:
		res.Score = sc.TempError
	case verdict.PermError:
		res.Score = sc.PermError
	default:
		res.Score = sc.None
	}
	return res
}

// keyLookup adapts a Resolver to go-msgauth's LookupTXT, which takes no
// context: ctx is bound here. go-msgauth tells a temporary failure from a
// permanent one only by asserting net.Error on the error itself, so a
// *net.DNSError goes back unwrapped (taken out of any wrapping), and any
// other error (from a resolver that is no *net.Resolver, or a cancelled
// ctx) becomes a temporary *net.DNSError:
// a failure to ask is never evidence against the signer. The errors are
// kept so that a TempError result can carry the DNS error behind it.
type keyLookup struct {
	ctx context.Context
	r   Resolver

	mu   sync.Mutex
	errs map[string]error // by query name
}

func (k *keyLookup) lookupTXT(name string) ([]string, error) {
	txts, err := k.r.LookupTXT(k.ctx, name)
	if err == nil {
		return txts, nil
	}
	var de *net.DNSError
	if !errors.As(err, &de) {
		de = &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
		if k.ctx.Err() != nil {
			de.IsTimeout = true
		}
	}
	k.mu.Lock()
	if k.errs == nil {
		k.errs = make(map[string]error)
	}
	k.errs[strings.ToLower(name)] = de
	k.mu.Unlock()
	return nil, de
}

// err returns the DNS error of the key lookup for sig, if there was one.
func (k *keyLookup) err(sig signature) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.errs[strings.ToLower(sig.selector+"._domainkey."+sig.domain)]
}
