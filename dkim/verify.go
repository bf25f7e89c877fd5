package dkim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/verdict"
)

// verify is Evaluate.
func (c *Checker) verify(ctx context.Context, message io.Reader) verdict.Result {
	res := verdict.Result{Check: Name}
	if err := ctx.Err(); err != nil {
		return c.weigh(tempError(res, "verification not started", err), verdict.TempError)
	}
	br := bufio.NewReader(message)
	h, sigs, err := readHeader(br, c.o.MaxHeaderBytes)
	switch {
	case err == errHeaderTooLarge:
		res.Status = verdict.PermError
		res.Reason = "header section larger than " + strconv.Itoa(c.o.MaxHeaderBytes) + " bytes or " +
			strconv.Itoa(header.MaxFields) + " fields, signatures not verified"
		res.Err = err
		return c.weigh(res, res.Status)
	case err == errBareCR:
		// RFC 5322 §2.2 allows CR only in CRLF; a reader ends a line at a
		// bare CR and go-msgauth does not, so what it would verify is not
		// what the recipient reads.
		res.Status = verdict.PermError
		res.Reason = "header section has a bare CR, which readers and verifiers split differently: signatures not verified"
		res.Err = err
		return c.weigh(res, res.Status)
	case err != nil:
		return c.weigh(tempError(res, "reading the message failed", err), verdict.TempError)
	}
	if len(sigs) == 0 {
		res.Status = verdict.None
		res.Reason = "no DKIM signature"
		return c.weigh(res, res.Status)
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
		return c.weigh(res, res.Status)
	case body.err != nil:
		return c.weigh(tempError(res, "verification interrupted", body.err), verdict.TempError)
	case err != nil && err != msgdkim.ErrTooManySignatures:
		res.Status = verdict.PermError
		res.Reason = verdict.Printable(trimPrefix(err))
		res.Err = err
		return c.weigh(res, res.Status)
	}

	// go-msgauth returns one Verification per signature, in header order,
	// for the first MaxSignatures signatures: the same ones found above.
	skipped := 0
	if err == msgdkim.ErrTooManySignatures {
		skipped = len(sigs) - len(verifs)
	}
	res, weight := c.summarize(res, sigs, verifs, keys)
	if skipped > 0 {
		res.Reason = verdict.Printable(strconv.Itoa(len(sigs)) + " signatures, " + strconv.Itoa(skipped) +
			" not verified (limit " + strconv.Itoa(c.o.MaxSignatures) + "); " + res.Reason)
	}
	if c.o.Reject && (weight == verdict.Fail || weight == verdict.PermError) {
		res.Action = verdict.Reject
		res.Code, res.Enhanced = 550, "5.7.20"
	}
	return c.weigh(res, weight)
}

// errStrictKey is the Err of a PermError result whose signature verified
// but has an i= below d= under a key with the flag t=s.
var errStrictKey = errors.New("dkim: i= domain below d= under a key with t=s")

// statusOrder is how the results of several signatures make one Status:
// the first value that any signature has decides.
var statusOrder = []struct {
	value  authres.ResultValue
	status verdict.Status
}{
	{authres.ResultPass, verdict.Pass},
	{authres.ResultTempError, verdict.TempError},
	{authres.ResultFail, verdict.Fail},
	{authres.ResultPermError, verdict.PermError},
	{authres.ResultPolicy, verdict.Neutral},
}

// summarize fills in res from the verification of each signature: one
// Auth entry per signature, the Status of the whole, the reason and the
// error behind it. It also returns the Status the message weighs as: the
// Status the signatures make without the ones that do not verify under a
// key in testing mode (RFC 6376 §3.6.1 t=y: "Verifiers MUST NOT treat
// messages from Signers in testing mode differently from unsigned email,
// even should the signature fail to verify"); None if only those are left.
func (c *Checker) summarize(res verdict.Result, sigs []signature, verifs []*msgdkim.Verification, keys *keyLookup) (verdict.Result, verdict.Status) {
	var (
		n        = map[authres.ResultValue]int{} // every signature
		counted  = map[authres.ResultValue]int{} // all but failures under a testing key
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
		flags := keys.flags(sig)
		value, detail := c.classify(sig, v, flags)
		domain, id := strings.ToLower(v.Domain), v.Identifier
		if domain == "" {
			domain = sig.domain
		}
		if id == "" {
			id = sig.identifier
		}
		if value != authres.ResultPass && firstErr[value] == nil {
			// The DNS error is more use to the caller than
			// go-msgauth's text about it.
			switch {
			case keys.err(sig) != nil:
				firstErr[value] = keys.err(sig)
			case v.Err != nil:
				firstErr[value] = v.Err
			default: // verified, but refused by the key's flags
				firstErr[value] = errStrictKey
			}
		}
		testKey := false
		if value != authres.ResultPass && value != authres.ResultTempError {
			keys.fetch(sig) // the key of a signature refused before its lookup
			if flags = keys.flags(sig); flags.testing {
				testKey = true
				if detail != "" {
					detail += "; "
				}
				detail += "testing key (t=y)"
			}
		}
		n[value]++
		if !testKey {
			counted[value]++
		}
		if value == authres.ResultPass && res.Domain == "" {
			res.Domain = domain
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

	weight := verdict.None
	for _, o := range statusOrder {
		if n[o.value] > 0 && res.Status == verdict.None {
			res.Status, res.Err = o.status, firstErr[o.value]
		}
		if counted[o.value] > 0 && weight == verdict.None {
			weight = o.status
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
	return res, weight
}

// maxListed is how many signatures a reason describes.
const maxListed = 3

// classify turns go-msgauth's verdict on one signature, and the flags of
// its key, into an RFC 8601 result word and a reason.
//
// go-msgauth has three error classes: temporary (key lookup), permanent,
// and a hidden one for crypto failures (body hash, signature) and l=. Its
// permanent class mixes unusable signatures (permerror) with signatures
// refused by rule, which RFC 8301 and RFC 6376 §5.4 make plain failures;
// those are told apart by the error text of the pinned go-msgauth version
// (the tests fail if it changes).
func (c *Checker) classify(sig signature, v *msgdkim.Verification, flags keyFlags) (authres.ResultValue, string) {
	err := v.Err
	if flags.strict && !msgdkim.IsTempFail(err) && !msgdkim.IsPermFail(err) {
		// The key was read and accepted: go-msgauth's checks of the
		// key record (RFC 6376 §6.1.2) passed, so the signature was
		// verified or failed only on its hashes. t=s is a restriction of
		// the key record on the signature, like the service type s= that
		// go-msgauth reports as a permanent failure, and RFC 6376 §6.1.1
		// makes an i= outside d= a PERMFAIL: an i= below d= under t=s is
		// the same kind of unusable signature, whatever its hashes say.
		iDomain := v.Identifier[strings.LastIndexByte(v.Identifier, '@')+1:]
		if v.Identifier != "" && !strings.EqualFold(iDomain, v.Domain) {
			return authres.ResultPermError, "i= domain is below d=, which the key's flag t=s forbids (RFC 6376 section 3.6.1)"
		}
	}
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

// weigh sets the score of res to the score of status.
func (c *Checker) weigh(res verdict.Result, status verdict.Status) verdict.Result {
	sc := &c.scores
	switch status {
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
