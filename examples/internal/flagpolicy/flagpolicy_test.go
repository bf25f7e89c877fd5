package flagpolicy

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/message"
	"github.com/mtaguard/mtaguard/scan/clamd"
	"github.com/mtaguard/mtaguard/scan/rspamd"
	"github.com/mtaguard/mtaguard/scan/spamd"
)

// build parses args as a program would and returns the names of the
// policy's checks, or the error of Parse or Build.
func build(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := Register(fs)
	if err := fs.Parse(append([]string{"-zone", "../../testdata/demo.zone"}, args...)); err != nil {
		return nil, err
	}
	p, _, closer, err := c.Build(context.Background())
	if err != nil {
		return nil, err
	}
	defer closer()
	var names []string
	for _, ch := range p.Checks {
		names = append(names, ch.Name())
	}
	return names, nil
}

func TestDataStageFlags(t *testing.T) {
	scanners := []string{message.Name, clamd.Name, rspamd.Name, spamd.Name}
	for _, tc := range []struct {
		args []string
		want []string // of scanners, those present
	}{
		{nil, nil},
		{[]string{"-message-check"}, []string{message.Name}},
		{[]string{"-clamd", "127.0.0.1:3310"}, []string{clamd.Name}},
		{[]string{"-clamd", "/run/clamav/clamd.ctl"}, []string{clamd.Name}},
		{[]string{"-rspamd", "http://127.0.0.1:11333"}, []string{rspamd.Name}},
		{[]string{"-spamd", "127.0.0.1:783"}, []string{spamd.Name}},
		{[]string{"-spamd", "unix:/run/spamd.sock"}, []string{spamd.Name}},
		{[]string{"-message-check", "-clamd", "127.0.0.1:3310", "-rspamd", "http://127.0.0.1:11333", "-spamd", "127.0.0.1:783", "-monitor", "-verify-sender"},
			[]string{message.Name, clamd.Name, rspamd.Name, spamd.Name}},
	} {
		names, err := build(t, tc.args...)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		for _, s := range scanners {
			if got, want := slices.Contains(names, s), slices.Contains(tc.want, s); got != want {
				t.Errorf("%q: check %s present %v, want %v (checks %q)", tc.args, s, got, want, names)
			}
		}
		// The checks that run without flags are always there.
		for _, s := range []string{"fcrdns", "helo", "spf", "relay", "dkim", "dmarc"} {
			if !slices.Contains(names, s) {
				t.Errorf("%q: check %s missing (checks %q)", tc.args, s, names)
			}
		}
	}
}

func TestDataStageFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-clamd", "localhost"},
		{"-spamd", "127.0.0.1"},
		{"-rspamd", "127.0.0.1:11333"},
		{"-rspamd", "ftp://127.0.0.1/"},
	} {
		_, err := build(t, args...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%q: error %v, want one naming %s", args, err, args[0])
		}
	}
}

// TestMonitorFlag keeps -monitor working next to the new flags.
func TestMonitorFlag(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := Register(fs)
	if err := fs.Parse([]string{"-zone", "../../testdata/demo.zone", "-monitor", "-message-check"}); err != nil {
		t.Fatal(err)
	}
	p, _, closer, err := c.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if !p.Monitor {
		t.Error("policy not in monitor mode")
	}
}
