package clamd

import (
	"strings"
	"testing"
)

// FuzzParseReply: any reply line gives either a signature name, an error
// or a clean answer, never two; names and error texts are printable.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"stream: OK", "1: stream: OK", "stream: Eicar-Test-Signature FOUND",
		"12: stream: Win.Test.EICAR_HDB-1 FOUND", "INSTREAM size limit exceeded. ERROR",
		"2: INSTREAM size limit exceeded. ERROR", "stream:  FOUND", "0: stream: OK",
		"UNKNOWN COMMAND", "stream: a\x00b FOUND", "3: stream: x FOUND ERROR",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		id, virus, err := ParseReply(line)
		if id < 0 {
			t.Fatalf("id %d", id)
		}
		if err != nil && virus != "" {
			t.Fatalf("both a virus %q and an error %v", virus, err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\r\n") {
			t.Fatalf("error not printable: %q", err)
		}
		if virus != "" && !strings.Contains(line, virus) {
			t.Fatalf("virus %q not from the line", virus)
		}
		if err == nil && virus == "" && !strings.HasSuffix(line, "stream: OK") {
			t.Fatalf("clean without stream: OK: %q", line)
		}
	})
}
