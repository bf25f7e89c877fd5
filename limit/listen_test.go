package limit

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// TestListen: over a real loopback connection, the second concurrent
// connection from one address is answered 421 4.7.0 and closed; closing
// the first frees its slot.
func TestListen(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ck := New(NewMemory(0), &Options{Rules: []Rule{{Counter: Connections, Max: 1}}})
	l := Listen(raw, ck)
	defer l.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial()
	defer c1.Close()
	s1 := <-accepted
	lc, ok := s1.(*Conn)
	if !ok || lc.Result().Status != verdict.Pass || len(lc.Results()) != 1 {
		t.Fatalf("accepted %T %+v", s1, lc)
	}
	c2 := dial()
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c2).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 4.7.0 too many connections from 127.0.0.1") {
		t.Fatalf("second connection: %q %v", line, err)
	}
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("second connection left open")
	}
	s1.Close()
	c3 := dial()
	defer c3.Close()
	select {
	case s3 := <-accepted:
		s3.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("slot not freed by Close")
	}
}
