package main

import "testing"

func TestHeaderSafe(t *testing.T) {
	if got := headerSafe("evil\r\nX-Injected: 1 (a) <b>;c\\"); got != "evilX-Injected:1abc" {
		t.Errorf("headerSafe = %q", got)
	}
}
