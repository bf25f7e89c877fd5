package dnserr

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestNotFoundAndReason(t *testing.T) {
	nx := &net.DNSError{Err: "no such host", Name: "x.example", IsNotFound: true}
	sf := &net.DNSError{Err: "server misbehaving\r\n", Name: "x.example", IsTemporary: true}
	if !NotFound(nx) || !NotFound(fmt.Errorf("wrapped: %w", nx)) || NotFound(sf) || NotFound(errors.New("x")) || NotFound(nil) {
		t.Error("NotFound misreads an error")
	}
	if got := Reason(sf); got != "server misbehaving" {
		t.Errorf("Reason = %q", got)
	}
	if got := Reason(errors.New("boom\n")); got != "boom" {
		t.Errorf("Reason = %q", got)
	}
}
