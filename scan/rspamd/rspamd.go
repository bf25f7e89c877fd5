// Package rspamd asks rspamd what it makes of a message, over its HTTP
// protocol (/checkv2 of the normal worker), and maps rspamd's action and
// score into a verdict.Result.
//
// rspamd decides more than a score: its action (reject, soft reject,
// rewrite subject, add header, greylist, no action) is the site's rspamd
// policy. The Checker turns each action into a demand through a Mapping
// the caller can change (maddy users asked for exactly that), by default
// as rspamd's own milter does: reject is 554 5.7.1, soft reject 451 4.7.1,
// add header and rewrite subject accept the message as junk. The score
// goes on as the result's Score: rspamd's scale (reject at 15, add header
// at 6) is the one of the other checks of this module.
//
// The session facts go to rspamd as HTTP headers (IP, Helo, Hostname,
// From, Rcpt, User, Queue-Id), so rspamd's own SPF, HELO and rDNS rules see
// the real client rather than guessing it from the Received fields. The
// header changes rspamd asks for (its "milter" block: add X-Spam-* fields,
// remove others) come back in the Reply, for the caller to apply.
package rspamd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Facts are what the SMTP server knows about the message, sent to rspamd
// with it. Empty fields are not sent.
type Facts struct {
	IP       netip.Addr
	Helo     string   // the HELO/EHLO name
	Hostname string   // the client's forward-confirmed host name
	From     string   // the envelope sender; "" is the null sender, sent as "<>"
	Rcpts    []string // the envelope recipients
	User     string   // the SMTP AUTH identity
	QueueID  string   // the server's id for the message, for rspamd's log
}

// NewRequest returns a POST request of message to the /checkv2 endpoint
// under base (as "http://127.0.0.1:11333"), the facts in its header.
func NewRequest(ctx context.Context, base string, f Facts, message []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/checkv2", bytes.NewReader(message))
	if err != nil {
		return nil, err
	}
	h := req.Header
	if f.IP.IsValid() {
		h.Set("IP", f.IP.Unmap().String())
	}
	set := func(name, v string) {
		if v = headerValue(v); v != "" {
			h.Set(name, v)
		}
	}
	set("Helo", f.Helo)
	set("Hostname", f.Hostname)
	if f.From == "" {
		// rspamd reads an absent From as unknown, "<>" as a bounce.
		h.Set("From", "<>")
	} else {
		set("From", f.From)
	}
	for _, r := range f.Rcpts {
		if r = headerValue(r); r != "" {
			h.Add("Rcpt", r)
		}
	}
	set("User", f.User)
	set("Queue-Id", f.QueueID)
	return req, nil
}

// headerValue drops the bytes an HTTP header value must not carry: the
// facts are client text.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// Reply is rspamd's answer to one message.
type Reply struct {
	Action        string  // "reject", "soft reject", "rewrite subject", "add header", "greylist", "no action", or a custom one
	Score         float64 // the message's score
	RequiredScore float64 // the score of the reject action
	Skipped       bool    // rspamd skipped its rules (settings, or a pre-result such as GTUBE)
	Symbols       []Symbol
	Message       string // the SMTP reply text rspamd suggests ("messages"/"smtp_message"), printable
	Subject       string // the new Subject, with the rewrite subject action
	// Time is how long rspamd says it took ("time_real"), 0 if it does
	// not say.
	Time time.Duration

	// AddHeaders and RemoveHeaders are the header changes rspamd asks
	// the MTA to make ("milter" block), as its milter would make them.
	AddHeaders    []HeaderField
	RemoveHeaders []HeaderRemoval
}

// Symbol is one rule that matched.
type Symbol struct {
	Name    string
	Score   float64
	Options []string
}

// HeaderField is a field to add to the message.
type HeaderField struct {
	Name, Value string
	// Order is where rspamd asks to insert it: 0 (or less) prepends,
	// n inserts before the n-th field (milter's insheader index).
	Order int
}

// HeaderRemoval is a field to remove: Index 0 removes every field of
// that name, n > 0 the n-th, n < 0 the n-th from the end.
type HeaderRemoval struct {
	Name  string
	Index int
}

// MaxReply bounds a reply body read; rspamd's replies are a few KiB.
const MaxReply = 1 << 20

// wireReply is the JSON of a /checkv2 reply.
type wireReply struct {
	Action        *string                    `json:"action"`
	Score         float64                    `json:"score"`
	RequiredScore float64                    `json:"required_score"`
	IsSkipped     bool                       `json:"is_skipped"`
	Symbols       map[string]wireSymbol      `json:"symbols"`
	Messages      map[string]json.RawMessage `json:"messages"`
	Subject       string                     `json:"subject"`
	Error         string                     `json:"error"`
	TimeReal      float64                    `json:"time_real"`
	Milter        *struct {
		AddHeaders    map[string]json.RawMessage `json:"add_headers"`
		RemoveHeaders map[string]json.RawMessage `json:"remove_headers"`
	} `json:"milter"`
}

type wireSymbol struct {
	Name    string   `json:"name"`
	Score   float64  `json:"score"`
	Options []string `json:"options"`
}

type wireHeader struct {
	Value string `json:"value"`
	Order int    `json:"order"`
}

// ParseReply reads the JSON body of a /checkv2 reply. A reply without an
// action, or with an "error", is an error.
func ParseReply(body []byte) (*Reply, error) {
	var w wireReply
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("rspamd: reading the reply: %w", err)
	}
	if w.Error != "" {
		return nil, fmt.Errorf("rspamd: %s", clean(w.Error))
	}
	if w.Action == nil || clean(*w.Action) == "" {
		return nil, errors.New("rspamd: reply without an action")
	}
	r := &Reply{
		Action:        clean(*w.Action),
		Score:         w.Score,
		RequiredScore: w.RequiredScore,
		Skipped:       w.IsSkipped,
		Subject:       w.Subject,
	}
	if w.TimeReal > 0 && w.TimeReal < 3600 {
		r.Time = time.Duration(w.TimeReal * float64(time.Second))
	}
	for name, s := range w.Symbols {
		if s.Name == "" {
			s.Name = name
		}
		r.Symbols = append(r.Symbols, Symbol{Name: clean(s.Name), Score: s.Score, Options: s.Options})
	}
	// Highest score first, then by name: the reason shows the first.
	sort.Slice(r.Symbols, func(i, j int) bool {
		a, b := r.Symbols[i], r.Symbols[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return a.Name < b.Name
	})
	if raw, ok := w.Messages["smtp_message"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			r.Message = clean(s)
		}
	}
	if w.Milter != nil {
		for name, raw := range w.Milter.AddHeaders {
			fields, err := addHeader(name, raw)
			if err != nil {
				return nil, err
			}
			r.AddHeaders = append(r.AddHeaders, fields...)
		}
		for name, raw := range w.Milter.RemoveHeaders {
			var n int
			if err := json.Unmarshal(raw, &n); err != nil {
				return nil, fmt.Errorf("rspamd: bad remove_headers entry for %q", clean(name))
			}
			if !fieldName(name) {
				return nil, fmt.Errorf("rspamd: bad header name %q", clean(name))
			}
			r.RemoveHeaders = append(r.RemoveHeaders, HeaderRemoval{Name: name, Index: n})
		}
		sort.SliceStable(r.AddHeaders, func(i, j int) bool { return r.AddHeaders[i].Name < r.AddHeaders[j].Name })
		sort.Slice(r.RemoveHeaders, func(i, j int) bool { return r.RemoveHeaders[i].Name < r.RemoveHeaders[j].Name })
	}
	return r, nil
}

// addHeader reads one add_headers entry, which rspamd writes as a string,
// an object {"value": ..., "order": ...} or a list of either.
func addHeader(name string, raw json.RawMessage) ([]HeaderField, error) {
	if !fieldName(name) {
		return nil, fmt.Errorf("rspamd: bad header name %q", clean(name))
	}
	one := func(raw json.RawMessage) (HeaderField, error) {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return HeaderField{Name: name, Value: fieldValue(s)}, nil
		}
		var h wireHeader
		if err := json.Unmarshal(raw, &h); err != nil {
			return HeaderField{}, fmt.Errorf("rspamd: bad add_headers entry for %q", clean(name))
		}
		return HeaderField{Name: name, Value: fieldValue(h.Value), Order: h.Order}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var out []HeaderField
		for _, r := range list {
			f, err := one(r)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
	f, err := one(raw)
	if err != nil {
		return nil, err
	}
	return []HeaderField{f}, nil
}

// fieldName reports whether s is a header field name (RFC 5322 §3.6.8:
// printable ASCII except colon).
func fieldName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// fieldValue makes a value safe to write into a header field: rspamd may
// fold long values with CRLF and white space, which is kept; a line end
// not followed by white space, which would start a new field, becomes a
// space, and so does any other control byte.
func fieldValue(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\r' && i+2 < len(b) && b[i+1] == '\n' && (b[i+2] == ' ' || b[i+2] == '\t'):
			i++ // a folded line: keep CRLF and the WSP after it
		case c == '\t':
		case c < 0x20 || c == 0x7f:
			b[i] = ' '
		}
	}
	return string(b)
}

// clean keeps printable ASCII of s, at most 200 bytes.
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 200; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
