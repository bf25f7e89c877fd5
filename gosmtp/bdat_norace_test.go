//go:build !race

package gosmtp_test

import (
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/gosmtp"
)

// TestBDATHammerChunking runs the hammer with CHUNKING on, where go-smtp
// v0.25 itself races (so not under -race) and panics: no panic may come
// from package gosmtp's code, and the sessions must keep working.
func TestBDATHammerChunking(t *testing.T) {
	srv := hammer(t, &gosmtp.Options{Chunking: true})
	log := srv.log.String()
	for _, p := range strings.Split(log, "panic serving")[1:] {
		if strings.Contains(p, "mtaguard/gosmtp.") {
			t.Errorf("a panic in gosmtp:\n%.3000s", p)
		}
	}
	if n := len(srv.box.messages()); n == 0 {
		t.Errorf("no BDAT message handed on with Chunking")
	}
	t.Logf("go-smtp's own recovered panics: %d", strings.Count(log, "panic serving"))
}
