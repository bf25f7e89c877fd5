// Package socket opens the listening socket of the example servers that
// Postfix talks to (policyd, milter), from an address written as in
// Postfix's main.cf: "inet:host:port", "host:port" or "unix:/path".
package socket

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
)

// Listen listens on "unix:/path" (removing a stale socket left by an
// earlier run) or on a TCP "host:port", with or without Postfix's "inet:".
func Listen(addr, mode string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", strings.TrimPrefix(addr, "inet:"))
	}
	perm, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || perm > 0o777 {
		return nil, fmt.Errorf("bad -socket-mode %q", mode)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another server is listening there", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, fs.FileMode(perm)); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
