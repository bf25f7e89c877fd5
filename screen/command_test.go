package screen

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestReadCommand(t *testing.T) {
	long := strings.Repeat("a", MaxLine+1)
	r := bufio.NewReaderSize(strings.NewReader("EHLO x\r\nMAIL\nRCPT\r\r\n"+long+"\r\n"+strings.Repeat("b", MaxLine)+"\r\nlast"), 16)
	for _, want := range []struct {
		line string
		lf   bool
		err  error
	}{
		{"EHLO x", false, nil}, {"MAIL", true, nil}, {"RCPT\r", false, nil},
		{long[:MaxLine], false, errLineTooLong}, {strings.Repeat("b", MaxLine), false, nil},
		{"last", false, io.EOF},
	} {
		line, lf, err := readCommand(r)
		if string(line) != want.line || lf != want.lf || err != want.err {
			t.Errorf("got %q %v %v, want %q %v %v", line, lf, err, want.line, want.lf, want.err)
		}
	}
}

func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\r\r\n"))
	f.Add([]byte(strings.Repeat("x", 3000) + "\r\nQUIT\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 64)
		var lines [][]byte
		var seen int
		for range len(in) + 1 {
			line, lf, err := readCommand(r)
			if len(line) > MaxLine {
				t.Fatalf("line of %d bytes", len(line))
			}
			if err == io.EOF {
				seen += len(line)
				break
			}
			if err != nil && err != errLineTooLong {
				t.Fatal(err)
			}
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line holds LF: %q", line)
			}
			if err == nil {
				lines = append(lines, line)
				seen += len(line) + 2
				if lf {
					seen--
				}
			}
			nonSMTP(line) // must not panic
		}
		// Lines that were kept re-assemble into the input.
		if bytes.Count(in, []byte("\n")) < len(lines) {
			t.Fatalf("%d lines from %d LFs", len(lines), bytes.Count(in, []byte("\n")))
		}
		if !bytes.Contains(in, []byte("\n")) && seen != len(in) && len(in) <= MaxLine {
			t.Fatalf("saw %d of %d bytes", seen, len(in))
		}
	})
}
