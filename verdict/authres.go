package verdict

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// AuthenticationResults renders the value of an Authentication-Results
// header field (RFC 8601) from the Auth entries of the decision's results,
// with authservID (normally the receiving host's name) as the authserv-id.
// The caller writes "Authentication-Results: " before it.
//
// Property values come from clients (a HELO name, a MAIL FROM address, a
// DKIM d= tag) and go-msgauth's authres.Format quotes but does not escape
// them, so every value is first reduced to printable ASCII without
// backslashes or double quotes, and with '?' for ';', '(' and ')':
// nothing a client sent can end the field, open a new one, close a quoted
// string early, or add a result or comment for a reader that splits at
// ';' without honouring quotes, as go-msgauth's own parser does.
func (d Decision) AuthenticationResults(authservID string) string {
	var rs []authres.Result
	for _, r := range d.Results {
		for _, a := range r.Auth {
			if a = cleanAuth(a); a != nil {
				rs = append(rs, a)
			}
		}
	}
	id := token(authservID)
	if id == "" {
		id = "localhost"
	}
	return authres.Format(id, rs)
}

// headerValue keeps the printable ASCII of s that is safe inside a quoted
// string or a pvalue: no controls, no backslash, no double quote, and no
// ';', '(' or ')', which become '?'.
func headerValue(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || strings.IndexByte(`\";()`, c) >= 0 {
			ok = false
			break
		}
	}
	if ok && len(s) <= MaxReason {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '\\', '"':
			return -1
		case ';', '(', ')':
			return '?'
		}
		return r
	}, Printable(s))
}

// resultValue accepts only the result words RFC 8601 §2.7 defines, so a
// check cannot put arbitrary text into the method=result position.
func resultValue(v authres.ResultValue) authres.ResultValue {
	switch v {
	case authres.ResultNone, authres.ResultPass, authres.ResultFail,
		authres.ResultPolicy, authres.ResultNeutral, authres.ResultTempError,
		authres.ResultPermError, authres.ResultSoftFail, authres.ResultHardFail:
		return v
	}
	return authres.ResultNone
}

func cleanAuth(a authres.Result) authres.Result {
	h := headerValue
	switch a := a.(type) {
	case *authres.SPFResult:
		return &authres.SPFResult{Value: resultValue(a.Value), Reason: h(a.Reason), From: h(a.From), Helo: h(a.Helo)}
	case *authres.DKIMResult:
		return &authres.DKIMResult{Value: resultValue(a.Value), Reason: h(a.Reason), Domain: h(a.Domain), Identifier: h(a.Identifier)}
	case *authres.DMARCResult:
		return &authres.DMARCResult{Value: resultValue(a.Value), Reason: h(a.Reason), From: h(a.From)}
	case *authres.IPRevResult:
		return &authres.IPRevResult{Value: resultValue(a.Value), Reason: h(a.Reason), IP: h(a.IP)}
	case *authres.AuthResult:
		return &authres.AuthResult{Value: resultValue(a.Value), Reason: h(a.Reason), Auth: h(a.Auth)}
	case *authres.GenericResult:
		method := token(a.Method)
		if method == "" {
			return nil
		}
		params := make(map[string]string, len(a.Params))
		for k, v := range a.Params {
			if k = token(k); k != "" {
				params[k] = h(v)
			}
		}
		return &authres.GenericResult{Method: method, Value: resultValue(a.Value), Params: params}
	}
	return nil
}

// token keeps the letters, digits, '-', '_' and '.' of a method or
// property name (RFC 8601 §2.2: Keyword, ptype.property).
func token(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return -1
	}, s)
}
