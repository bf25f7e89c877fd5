package gosmtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// discardWriter is where the filter writes its own replies in the tests.
type discardWriter struct{ n int }

func (d *discardWriter) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}

// FuzzChunkFilter feeds a client's byte stream through the BDAT filter,
// read in pieces of a fuzzed size: it must not panic or loop, and a stream
// without a BDAT command must come out unchanged.
func FuzzChunkFilter(f *testing.F) {
	f.Add([]byte("EHLO a\r\nMAIL FROM:<a@b>\r\nBDAT 5 LAST\r\nhelloQUIT\r\n"), uint8(7), false)
	f.Add([]byte("DATA\r\nBDAT 3\r\n.\r\nNOOP\r\n"), uint8(1), true)
	f.Add([]byte("bdat 4294967296\r\n"), uint8(64), false)
	f.Add([]byte(strings.Repeat("x", 5000)+"\nBDAT 1\r\nx"), uint8(200), false)
	f.Fuzz(func(t *testing.T, in []byte, size uint8, data bool) {
		w := &discardWriter{}
		fl := &chunkFilter{r: bufio.NewReaderSize(bytes.NewReader(in), maxCommandLine), w: w, data: data}
		var out []byte
		buf := make([]byte, int(size)+1)
		for range len(in) + 10 {
			n, err := fl.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		if len(out) > len(in) {
			t.Fatalf("filter made %d bytes of %d", len(out), len(in))
		}
		if !bytes.Contains(bytes.ToUpper(in), []byte("BDAT")) && !bytes.Equal(out, in) {
			t.Fatalf("a stream without BDAT changed:\n%q\n%q", in, out)
		}
	})
}

// FuzzRead reads a message as Data does: the line-end flaws found must be
// exactly the bare CRs and bare LFs of the message.
func FuzzRead(f *testing.F) {
	f.Add([]byte("From: a@b\r\n\r\nhi\r\n"))
	f.Add([]byte("X: a\rB: c\r\n\r\n"))
	f.Add([]byte("X: a\nB: c\r\n\r\n\r"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		b := Wrap(nil, &verdict.Policy{}, &Options{SpoolBytes: 64, MemoryBudget: 1 << 20, SpoolDir: t.TempDir()}).(*backend)
		m, err := b.read(io.MultiReader(bytes.NewReader(msg[:len(msg)/2]), bytes.NewReader(msg[len(msg)/2:])), nil, nil)
		s := string(msg)
		bare := strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n")
		if bare != (err == errBareLineEnd) {
			t.Fatalf("bare line end %v, read error %v", bare, err)
		}
		if err != nil {
			return
		}
		defer m.release()
		if err := m.load(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.buf, msg) {
			t.Fatalf("read changed the message")
		}
		b.inspect(m)
	})
}
