package main

import (
	"os/exec"
	"strings"
	"testing"
)

// smtpSource runs Postfix's load generator smtp-source against addr: the
// given sessions in parallel, msgs messages in all, one per session.
func smtpSource(t *testing.T, addr, sessions, msgs string) (error, string) {
	t.Helper()
	cmd := exec.Command("/usr/sbin/smtp-source", "-s", sessions, "-m", msgs, "-M", "mail.example.org",
		"-f", "alice@example.org", "-t", "bob@example.net", addr)
	out, err := cmd.CombinedOutput()
	return err, string(out)
}

// TestBorderLimitsSmtpSource drives load with Postfix's smtp-source
// against the server as main runs it, with small limits, and finds the
// 450 and 421 at the configured onset. smtp-source stops at its first
// refusal, so the counts before it are exact.
func TestBorderLimitsSmtpSource(t *testing.T) {
	needTool(t, "/usr/sbin/smtp-source", "apt-get install postfix")

	// A message rate of 5 a minute (burst 5): five messages pass, the
	// sixth MAIL gets 450 4.7.1 (never 5xx).
	addr, maildir, _, logs := startMainLog(t, "-limit-rate", "5/1m")
	err, out := smtpSource(t, addr, "1", "12")
	if err == nil || !strings.Contains(out, "450 4.7.1 too many messages from 127.0.0.1") {
		t.Errorf("smtp-source over -limit-rate 5/1m: %v, want a refusal 450 4.7.1:\n%s", err, out)
	}
	log := logs.String()
	if n := strings.Count(log, `reply="250 2.0.0 OK"`); n != 5 {
		t.Errorf("%d messages accepted under -limit-rate 5/1m, want 5", n)
	}
	if n := strings.Count(log, `stage=mail`) - strings.Count(log, `stage=mail ip=127.0.0.1 helo=mail.example.org from=alice@example.org rcpt="" action=accept`); n != 1 || !strings.Contains(log, `reply="450 4.7.1 too many messages`) {
		t.Errorf("%d refusals at MAIL in the log, want one 450 4.7.1:\n%s", n, log)
	}
	if n := len(delivered(t, maildir)); n != 5 {
		t.Errorf("%d messages delivered, want 5", n)
	}

	// Two connections at once from one client: one session at a time
	// passes, four at once meet 421 4.7.0 at the banner.
	addr, maildir, _, _ = startMainLog(t, "-limit-conn", "2")
	if err, out := smtpSource(t, addr, "1", "4"); err != nil {
		t.Errorf("smtp-source, one session under -limit-conn 2: %v\n%s", err, out)
	}
	if n := len(delivered(t, maildir)); n != 4 {
		t.Errorf("%d messages delivered under the connection limit, want 4", n)
	}
	err, out = smtpSource(t, addr, "4", "40")
	if err == nil || !strings.Contains(out, "421 4.7.0 too many connections from 127.0.0.1") {
		t.Errorf("smtp-source, 4 sessions over -limit-conn 2: %v, want 421 4.7.0 at the banner:\n%s", err, out)
	}
}
