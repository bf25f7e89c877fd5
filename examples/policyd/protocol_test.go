package main

import (
	"bufio"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

func newReader(s string) *bufio.Reader {
	return bufio.NewReaderSize(strings.NewReader(s), maxRequestBytes)
}

func TestReadRequest(t *testing.T) {
	type result struct {
		attrs map[string]string
		err   string // "" ok, "malformed", or an error text
	}
	for _, tc := range []struct {
		name string
		in   string
		want []result // the requests read in turn, then io.EOF
	}{
		{"one", "request=smtpd_access_policy\nprotocol_state=RCPT\n\n",
			[]result{{attrs: map[string]string{"request": "smtpd_access_policy", "protocol_state": "RCPT"}}}},
		{"two on one connection", "a=1\n\nb=2\n\n",
			[]result{{attrs: map[string]string{"a": "1"}}, {attrs: map[string]string{"b": "2"}}}},
		{"CRLF", "a=1\r\nb=\r\n\r\n",
			[]result{{attrs: map[string]string{"a": "1", "b": ""}}}},
		{"value with =", "ccert_subject=CN=x=y\n\n",
			[]result{{attrs: map[string]string{"ccert_subject": "CN=x=y"}}}},
		{"blank lines before", "\n\n\na=1\n\n",
			[]result{{attrs: map[string]string{"a": "1"}}}},
		{"no '=' then usable", "a=1\ngarbage\nb=2\n\nc=3\n\n",
			[]result{{err: "malformed"}, {attrs: map[string]string{"c": "3"}}}},
		{"empty name", "=x\n\n", []result{{err: "malformed"}}},
		{"repeated", "a=1\na=2\n\n", []result{{err: "malformed"}}},
		{"truncated", "a=1\nb=2", []result{{err: io.ErrUnexpectedEOF.Error()}}},
		{"truncated after line", "a=1\n", []result{{err: io.ErrUnexpectedEOF.Error()}}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReader(tc.in)
			for i, want := range tc.want {
				attrs, err := readRequest(r)
				var bad *malformedError
				switch {
				case want.err == "malformed":
					if !errors.As(err, &bad) {
						t.Fatalf("request %d: err %v, want malformed", i, err)
					}
					continue
				case want.err != "":
					if err == nil || err.Error() != want.err {
						t.Fatalf("request %d: err %v, want %s", i, err, want.err)
					}
					return
				case err != nil:
					t.Fatalf("request %d: %v", i, err)
				}
				if !maps.Equal(attrs, want.attrs) {
					t.Fatalf("request %d: %v, want %v", i, attrs, want.attrs)
				}
			}
			if _, err := readRequest(r); err != io.EOF {
				t.Fatalf("after the requests: %v, want EOF", err)
			}
		})
	}
}

func TestReadRequestLimits(t *testing.T) {
	var b strings.Builder
	for i := range maxAttributes + 1 {
		b.WriteString("a" + strings.Repeat("x", i%7) + "_" + string(rune('a'+i%26)) + "_" + itoa(i) + "=v\n")
	}
	b.WriteString("\nok=1\n\n")
	r := newReader(b.String())
	var bad *malformedError
	if _, err := readRequest(r); !errors.As(err, &bad) || !strings.Contains(err.Error(), "attributes") {
		t.Fatalf("too many attributes: %v", err)
	}
	if attrs, err := readRequest(r); err != nil || attrs["ok"] != "1" {
		t.Fatalf("request after a refused one: %v %v", attrs, err)
	}

	for name, in := range map[string]string{
		"long line":     "a=" + strings.Repeat("x", maxRequestBytes) + "\n\n",
		"long request":  strings.Repeat("a=1\n", maxRequestBytes/4+1) + "\n",
		"endless lines": strings.Repeat("x\n", maxRequestBytes),
	} {
		if _, err := readRequest(newReader(in)); err != errTooLarge {
			t.Errorf("%s: %v, want errTooLarge", name, err)
		}
	}
	// Exactly at the limit is fine.
	in := "a=" + strings.Repeat("x", maxRequestBytes-4) + "\n\n"
	if attrs, err := readRequest(newReader(in)); err != nil || len(attrs["a"]) != maxRequestBytes-4 {
		t.Errorf("request of %d bytes: %v", len(in), err)
	}
}

func itoa(i int) string {
	return strings.TrimLeft(string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)}), "0")
}

// FuzzReadRequest reads a stream of requests: it must end in io.EOF or an
// error, never loop or panic, keep within the limits, and what it returns
// must encode back to a request that reads the same.
func FuzzReadRequest(f *testing.F) {
	f.Add("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n\n")
	f.Add("a=1\n\n\nb=2\r\n\r\n")
	f.Add("garbage\n\na=b=c\n\n")
	f.Add("=\n\n")
	f.Add("a=1\na=2\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		r := newReader(in)
		for n := 0; ; n++ {
			if n > len(in) {
				t.Fatalf("more requests than bytes")
			}
			attrs, err := readRequest(r)
			var bad *malformedError
			if errors.As(err, &bad) {
				continue
			}
			if err != nil {
				return
			}
			if len(attrs) == 0 || len(attrs) > maxAttributes {
				t.Fatalf("%d attributes", len(attrs))
			}
			// Encode with CRLF: the reader drops exactly one CR before
			// the LF, so a value ending in CR survives the round trip.
			var enc strings.Builder
			for _, k := range slices.Sorted(maps.Keys(attrs)) {
				if k == "" || strings.ContainsAny(k, "=\n") || strings.Contains(attrs[k], "\n") {
					t.Fatalf("bad attribute %q=%q", k, attrs[k])
				}
				enc.WriteString(k + "=" + attrs[k] + "\r\n")
			}
			enc.WriteString("\n")
			again, err := readRequest(newReader(enc.String()))
			if err == errTooLarge && enc.Len() > maxRequestBytes {
				continue // the CRs made it longer than the limit
			}
			if err != nil || !maps.Equal(again, attrs) {
				t.Fatalf("re-read %q: %v %v, want %v", enc.String(), again, err, attrs)
			}
		}
	})
}

func BenchmarkReadRequest(b *testing.B) {
	req := "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n" +
		"client_address=192.0.2.10\nclient_name=mail.example.org\nreverse_client_name=mail.example.org\n" +
		"helo_name=mail.example.org\nsender=alice@example.org\nrecipient=bob@example.net\n" +
		"recipient_count=0\nqueue_id=\ninstance=123.456.7\nsize=0\netrn_domain=\nstress=\n" +
		"sasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\nccert_issuer=\n" +
		"ccert_fingerprint=\nencryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\n" +
		"encryption_keysize=256\n\n"
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	sr := strings.NewReader(req)
	r := bufio.NewReaderSize(sr, maxRequestBytes)
	for b.Loop() {
		sr.Reset(req)
		r.Reset(sr)
		if _, err := readRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}
