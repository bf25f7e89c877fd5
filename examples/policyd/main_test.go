package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMessageFlagsRefused: the policy protocol carries no message, so the
// flags of the checks that read one are refused rather than silently inert.
func TestMessageFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-message-check"},
		{"-clamd", "127.0.0.1:3310"},
		{"-rspamd", "http://127.0.0.1:11333"},
		{"-spamd", "127.0.0.1:783"},
	} {
		// Were the flag taken, policyd would serve until the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		listened := false
		err := run(ctx, append([]string{"-listen", "127.0.0.1:0", "-zone", "../testdata/demo.zone"}, args...), io.Discard, func(net.Addr) { listened = true })
		if err == nil || !strings.Contains(err.Error(), "examples/milter") {
			t.Errorf("%q: error %v, want one pointing to the milter", args, err)
		}
		cancel()
		if listened {
			t.Errorf("%q: policyd listened", args)
		}
	}
}
