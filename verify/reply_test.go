package verify

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		in   string
		code int
		text string
		err  error
	}{
		{"220 mx.example.org ESMTP\r\n", 220, "mx.example.org ESMTP", nil},
		{"250-mx.example.org\r\n250-PIPELINING\r\n250 STARTTLS\r\n", 250, "mx.example.org\nPIPELINING\nSTARTTLS", nil},
		{"250\r\n", 250, "", nil},
		{"550 5.1.1 no\n", 550, "5.1.1 no", nil},
		{"250-a\r\n251 b\r\n", 0, "", errReplySyntax},
		{"25 x\r\n", 0, "", errReplySyntax},
		{"abc x\r\n", 0, "", errReplySyntax},
		{"250_x\r\n", 0, "", errReplySyntax},
		{"199 x\r\n", 0, "", errReplySyntax},
		{"600 x\r\n", 0, "", errReplySyntax},
		{strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n", 0, "", errReplyLong},
		{"250 " + strings.Repeat("x", maxReplyLine) + "\r\n", 0, "", errReplyLong},
	}
	for _, tt := range tests {
		r, err := readReply(bufio.NewReaderSize(strings.NewReader(tt.in), 4096))
		if r.code != tt.code || r.text != tt.text || err != tt.err {
			t.Errorf("%.40q: %d %q %v", tt.in, r.code, r.text, err)
		}
	}
	// A reply cut short is an error, not a reply.
	if _, err := readReply(bufio.NewReader(strings.NewReader("250-a\r\n250"))); err == nil {
		t.Error("truncated reply read")
	}
	if s := (reply{550, "5.1.1 user\nunknown"}).String(); s != "550 5.1.1 user unknown" {
		t.Errorf("String: %q", s)
	}
}

// FuzzReadReply: whatever a server sends, readReply returns a reply of a
// code from 200 to 599 with bounded text, or an error; it never panics or
// reads without bound.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"220 mx.example.org ESMTP\r\n",
		"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
		"550-5.1.1 <bob@example.org>: Recipient address rejected:\r\n550 5.1.1 User unknown\r\n",
		"421 4.3.2 busy\n",
		"250-a\r\n251 b\r\n",
		"250\r\n",
		"\r\n",
		"250-\x00\xff\r\n250 \x1b[31m\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(b)), 4096)
		for i := 0; i < 10; i++ {
			rep, err := readReply(r)
			if err != nil {
				return
			}
			if rep.code < 200 || rep.code > 599 {
				t.Fatalf("code %d", rep.code)
			}
			if len(rep.text) > maxReplyLines*maxReplyLine {
				t.Fatalf("text of %d bytes", len(rep.text))
			}
		}
	})
}
