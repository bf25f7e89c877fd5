package socket

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListen(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "inet:127.0.0.1:0"} {
		ln, err := Listen(addr, "0660")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		ln.Close()
	}

	path := filepath.Join(t.TempDir(), "policy.sock")
	ln, err := Listen("unix:"+path, "0600")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	// A live server keeps its socket.
	if _, err := Listen("unix:"+path, "0600"); err == nil {
		t.Error("took over the socket of a running server")
	}
	// A stale socket (its server gone) is replaced. Closing a unix
	// listener removes its file, so make a stale one by hand.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln, err = Listen("unix:"+path, "0600")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
	if _, err := Listen("unix:"+path, "999"); err == nil {
		t.Error("bad mode accepted")
	}
}
