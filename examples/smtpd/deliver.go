package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/verdict"
)

// stamp returns the message as we file it: forged Authentication-Results
// fields removed, and our trace fields on top (RFC 5321 §4.4, RFC 8601 §5):
// Return-Path, Received, Authentication-Results and, for quarantine,
// X-Spam-Flag and X-Spam-Status.
func (s *Server) stamp(vs *verdict.Session, rcpts []string, d verdict.Decision, junk bool) []byte {
	var h bytes.Buffer
	fmt.Fprintf(&h, "Return-Path: <%s>\r\n", headerSafe(vs.MailFrom))
	remote := "unknown"
	if r, ok := vs.Result(fcrdns.Name); ok && r.Status == verdict.Pass && r.Domain != "" {
		remote = headerSafe(r.Domain)
	}
	with := "ESMTP"
	if vs.TLS {
		with = "ESMTPS"
	}
	fmt.Fprintf(&h, "Received: from %s (%s [%s])\r\n\tby %s (mtaguard) with %s", headerSafe(vs.HELO), remote, vs.IP, headerSafe(s.Hostname), with)
	if len(rcpts) == 1 {
		fmt.Fprintf(&h, "\r\n\tfor <%s>", headerSafe(rcpts[0]))
	}
	fmt.Fprintf(&h, ";\r\n\t%s\r\n", time.Now().Format(time.RFC1123Z))
	h.WriteString(fold("Authentication-Results: " + d.AuthenticationResults(s.Hostname)))
	if junk {
		fmt.Fprintf(&h, "X-Spam-Flag: YES\r\n")
		h.WriteString(fold(fmt.Sprintf("X-Spam-Status: Yes, score=%.1f; %s", d.Score, d.Message)))
	}
	h.Write(verdict.RemoveAuthenticationResults(vs.Message, s.Hostname))
	return h.Bytes()
}

// fold breaks a header field after its "; " separators so that lines stay
// near 78 characters (RFC 5322 §2.1.1), and ends it with CRLF.
func fold(field string) string {
	parts := strings.Split(field, "; ")
	var b strings.Builder
	n := 0
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case i == 0:
		case n+2+len(p) > 78:
			b.WriteString(";\r\n\t")
			n = 8
		default:
			b.WriteString("; ")
			n += 2
		}
		b.WriteString(p)
		n += len(p)
	}
	b.WriteString("\r\n")
	return b.String()
}

// headerSafe keeps the characters of a client-supplied name or address
// that cannot end a header field or a comment in it.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == '(' || r == ')' || r == '<' || r == '>' || r == ';' || r == '\\' {
			return -1
		}
		return r
	}, verdict.Printable(s))
}

// deliver files msg into the Maildir: written under tmp/, synced, then
// renamed into new/ so that a reader never sees half a message. Quarantined
// mail goes to the ".Junk" folder (Maildir++).
func (s *Server) deliver(msg []byte, junk bool) error {
	dir := s.Maildir
	if junk {
		dir = filepath.Join(dir, ".Junk")
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	host := strings.NewReplacer("/", "_", ":", "_").Replace(headerSafe(s.Hostname))
	name := fmt.Sprintf("%d.R%s.%s", time.Now().UnixNano(), hex.EncodeToString(rnd[:]), host)
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(msg)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, "new", name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
