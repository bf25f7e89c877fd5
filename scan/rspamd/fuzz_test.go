package rspamd

import (
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// FuzzParseReply: any body is an error or a Reply whose header changes
// are safe to write (valid names, no line end that starts a new field),
// and whose Result follows DefaultMapping with a printable reason.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		`{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0}},"messages":{"smtp_message":"Gtube pattern"}}`,
		`{"score":6.3,"required_score":15,"action":"add header","milter":{"add_headers":{"X-Spam":"Yes","X-Spam-Status":{"value":"Yes, score=6.30\r\n\tfolded","order":0},"X-L":[{"value":"a"},"b"]},"remove_headers":{"X-Spam":0}}}`,
		`{"action":"soft reject","score":4,"messages":{"smtp_message":"Try again later"}}`,
		`{"action":"greylist"}`, `{"action":"custom one","score":-1}`, `{"error":"x"}`, `{"action":""}`,
		`{"action":"no action","milter":{"add_headers":{"Bad Name":"x"}}}`,
		`{"action":"no action","milter":{"add_headers":{"X":"a\r\nBcc: eve@example.com"}}}`,
	} {
		f.Add([]byte(s))
	}
	c := New("http://127.0.0.1:1", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseReply(body)
		if err != nil {
			if r != nil {
				t.Fatal("a reply and an error")
			}
			return
		}
		if r.Action == "" {
			t.Fatal("empty action")
		}
		for _, h := range r.AddHeaders {
			if !fieldName(h.Name) {
				t.Fatalf("field name %q", h.Name)
			}
			v := strings.ReplaceAll(strings.ReplaceAll(h.Value, "\r\n ", ""), "\r\n\t", "")
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("field value %q", h.Value)
			}
		}
		for _, h := range r.RemoveHeaders {
			if !fieldName(h.Name) {
				t.Fatalf("field name %q", h.Name)
			}
		}
		res := c.Result(r)
		want := DefaultMapping.outcome(r.Action)
		if res.Status != want.Status || res.Action != want.Action || res.Code != want.Code {
			t.Fatalf("action %q: %+v", r.Action, res)
		}
		if res.Check != Name || verdict.Printable(res.Reason) != res.Reason {
			t.Fatalf("reason %q", res.Reason)
		}
	})
}
