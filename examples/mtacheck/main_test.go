package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/message"
)

// demo is the README's main-job command line, without the session facts.
var demo = []string{"-zone", "../testdata/demo.zone", "-hostname", "mx.example.net", "-local", "example.net", "-dnsbl", "bl.example:6"}

func mtacheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(append([]string{}, demo...), args...), &out, &errOut)
	return code, squeeze(out.String()), errOut.String()
}

func TestDemoAccept(t *testing.T) {
	code, out, _ := mtacheck(t, "-ip", "192.0.2.10", "-helo", "mail.example.org", "-from", "alice@example.org", "-rcpt", "bob@example.net", "-message", "../testdata/signed.eml")
	if code != exitAccept {
		t.Errorf("exit %d, want %d\n%s", code, exitAccept, out)
	}
	for _, want := range []string{
		"fcrdns pass", "spf pass", "dkim pass", "dmarc pass", "relay pass", "sender-domain pass",
		"Decision: ACCEPT", "250 2.0.0",
		"Authentication-Results: mx.example.net; iprev=pass policy.iprev=192.0.2.10; spf=pass",
		"dkim=pass", "dmarc=pass header.from=example.org",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoReject(t *testing.T) {
	code, out, _ := mtacheck(t, "-ip", "203.0.113.66", "-helo", "example.org", "-from", "alice@example.org", "-rcpt", "bob@example.net", "-message", "../testdata/forged.eml")
	if code != exitReject {
		t.Errorf("exit %d, want %d\n%s", code, exitReject, out)
	}
	for _, want := range []string{
		"fcrdns fail", "dnsbl fail", "spf fail", "dkim fail", "dmarc fail",
		"Decision: REJECT at mail", "550 5.7.1",
		"550 5.7.26", // DMARC p=reject, shown for explanation
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRelayAndJSON(t *testing.T) {
	code, out, _ := mtacheck(t, "-json", "-ip", "192.0.2.10", "-helo", "mail.example.org", "-from", "alice@example.org", "-rcpt", "eve@elsewhere.example")
	if code != exitReject {
		t.Errorf("exit %d, want %d", code, exitReject)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if rep.StoppedAt != "rcpt" || rep.Final.Code != 554 || rep.Final.Enhanced != "5.7.1" || rep.Final.Message != "Relay access denied" {
		t.Errorf("final: %+v stopped at %q", rep.Final, rep.StoppedAt)
	}
	if len(rep.Stages) != 4 || rep.Stages[3].Rcpt != "eve@elsewhere.example" || rep.Stages[3].Results[0].Check != "relay" {
		t.Errorf("stages: %+v", rep.Stages)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},                                  // no -ip
		{"-ip", "not-an-ip"},                // bad -ip
		{"-ip", "192.0.2.1", "stray"},       // an argument
		{"-ip", "192.0.2.1", "-nosuchflag"}, // unknown flag
		{"-ip", "192.0.2.1", "-message", "/nonexistent"},
		{"-ip", "192.0.2.1", "-dnsbl", "nozone"},
		{"-ip", "192.0.2.1", "-greylist", "sometimes"},
	} {
		if code, _, stderr := mtacheck(t, args...); code != exitUsage || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want %d and a message", args, code, stderr, exitUsage)
		}
	}
}

func TestGreylistTempFail(t *testing.T) {
	code, out, _ := mtacheck(t, "-greylist", "memory", "-ip", "192.0.2.10", "-helo", "mail.example.org", "-from", "alice@example.org", "-rcpt", "bob@example.net")
	if code != exitTempFail || !strings.Contains(out, "451 4.7.1") {
		t.Errorf("exit %d, want %d (first sighting is greylisted)\n%s", code, exitTempFail, out)
	}
}

// squeeze folds each run of spaces into one, so that tests do not depend on
// the table's column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestMonitor: with -monitor the forged message is accepted, and mtacheck
// says what the policy would have done.
func TestMonitor(t *testing.T) {
	code, out, _ := mtacheck(t, "-monitor", "-ip", "203.0.113.66", "-helo", "example.org", "-from", "alice@example.org", "-rcpt", "bob@example.net", "-message", "../testdata/forged.eml")
	if code != exitAccept {
		t.Errorf("exit %d, want %d\n%s", code, exitAccept, out)
	}
	for _, want := range []string{"Decision: ACCEPT", "250 2.0.0 OK (monitor: would reject)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestMessageCheckTwoFrom runs the structure checks of -message-check on
// the signed demo message with a second From field added: a break that
// lets DMARC vouch for one author while the reader shows the other.
func TestMessageCheckTwoFrom(t *testing.T) {
	signed, err := os.ReadFile("../testdata/signed.eml")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(signed, []byte("From: "))
	twoFrom := append(append(append([]byte{}, signed[:i]...), "From: Mallory <ceo@example.net>\r\n"...), signed[i:]...)
	file := filepath.Join(t.TempDir(), "two-from.eml")
	if err := os.WriteFile(file, twoFrom, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-ip", "192.0.2.10", "-helo", "mail.example.org", "-from", "alice@example.org", "-rcpt", "bob@example.net", "-message", file}

	code, out, _ := mtacheck(t, append([]string{"-message-check"}, args...)...)
	if code != exitReject {
		t.Errorf("exit %d, want %d\n%s", code, exitReject, out)
	}
	for _, want := range []string{message.Name + " fail", "Decision: REJECT at data", "550 5.6.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Without the flag the structure is not looked at.
	_, out, _ = mtacheck(t, args...)
	if strings.Contains(out, "550 5.6.0") {
		t.Errorf("without -message-check the message was judged on its structure:\n%s", out)
	}
}
