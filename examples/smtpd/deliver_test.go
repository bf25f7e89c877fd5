package main

import (
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	long := "Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=alice@example.org; dkim=pass header.d=example.org header.s=mail2026; dmarc=pass header.from=example.org"
	got := fold(long)
	for _, line := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78: %q", line)
		}
	}
	if unfolded := strings.ReplaceAll(strings.ReplaceAll(got, ";\r\n\t", "; "), "\r\n", ""); unfolded != long {
		t.Errorf("fold changed the content:\n%q\n%q", unfolded, long)
	}
	if got := fold("X: a"); got != "X: a\r\n" {
		t.Errorf("fold short = %q", got)
	}
}

func TestHeaderSafe(t *testing.T) {
	if got := headerSafe("evil\r\nX-Injected: 1 (a) <b>;c\\"); got != "evilX-Injected:1abc" {
		t.Errorf("headerSafe = %q", got)
	}
}
