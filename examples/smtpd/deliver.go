package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/verdict"
)

// trace returns our trace fields (RFC 5321 §4.4): Return-Path and
// Received. gosmtp has put Authentication-Results (and, for quarantine,
// X-Spam-Flag and X-Spam-Status) on the message below them.
func (s *Server) trace(vs *verdict.Session) []byte {
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
	if len(vs.Rcpts) == 1 {
		fmt.Fprintf(&h, "\r\n\tfor <%s>", headerSafe(vs.Rcpts[0]))
	}
	fmt.Fprintf(&h, ";\r\n\t%s\r\n", time.Now().Format(time.RFC1123Z))
	return h.Bytes()
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

// deliver files the message into the Maildir, our trace fields on top:
// written under tmp/, synced, then renamed into new/ so that a reader
// never sees half a message. Quarantined mail goes to the ".Junk" folder
// (Maildir++).
func (s *Server) deliver(vs *verdict.Session, msg io.Reader, junk bool) error {
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
	_, err = f.Write(s.trace(vs))
	if err == nil {
		_, err = io.Copy(f, msg)
	}
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
