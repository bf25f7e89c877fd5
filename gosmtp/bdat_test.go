package gosmtp_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/verdict"
)

// TestBDATHammer sends BDAT transactions broken off in every way (RSET,
// EHLO, QUIT, a dropped connection, between and inside chunks), pipelined,
// from several clients at once. Under -race it must show no data race
// between Data, which go-smtp runs in a goroutine of its own for BDAT, and
// Reset or HELO; and go-smtp must log no panic. MTAGUARD_BDAT_HAMMER sets
// the duration (default 2s).
func TestBDATHammer(t *testing.T) {
	srv := hammer(t, nil)
	if log := srv.log.String(); strings.Contains(log, "panic") {
		t.Errorf("go-smtp logged panics:\n%.3000s", log)
	}
}

// hammer runs the BDAT hammer against a server with options o.
func hammer(t *testing.T, o *gosmtp.Options) *server {
	dur := 2 * time.Second
	if v := os.Getenv("MTAGUARD_BDAT_HAMMER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	srv := start(t, &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}, o)
	msg := []byte(cleanMessage)
	var sessions sync.WaitGroup
	stop := time.Now().Add(dur)
	var count int64
	var mu sync.Mutex
	for w := range 8 {
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for time.Now().Before(stop) {
				c, err := net.Dial("tcp", srv.addr)
				if err != nil {
					t.Error(err)
					return
				}
				go io.Copy(io.Discard, c)
				var b strings.Builder
				b.WriteString("EHLO mail.example.org\r\n")
				for range 1 + rng.IntN(4) {
					b.WriteString("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n")
					split := rng.IntN(len(msg))
					fmt.Fprintf(&b, "BDAT %d\r\n%s", split, msg[:split])
					switch rng.IntN(6) {
					case 0:
						b.WriteString("RSET\r\n")
					case 1:
						b.WriteString("EHLO other.example.org\r\n")
					case 2:
						b.WriteString("QUIT\r\n")
					case 3:
						fmt.Fprintf(&b, "BDAT %d\r\n%s", len(msg)-split, msg[split:]) // no LAST
						b.WriteString("MAIL FROM:<carol@example.org>\r\n")
					case 4:
						// A chunk shorter than announced, then a command.
						fmt.Fprintf(&b, "BDAT %d LAST\r\n%s", len(msg)-split+10, msg[split:])
						b.WriteString("RSET\r\n")
					default:
						fmt.Fprintf(&b, "BDAT %d LAST\r\n%s", len(msg)-split, msg[split:])
					}
				}
				s := b.String()
				if rng.IntN(3) == 0 {
					s = s[:rng.IntN(len(s))] // dropped mid-way
				}
				c.Write([]byte(s))
				if rng.IntN(2) == 0 {
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				}
				c.Close()
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	sessions.Wait()
	// Let the server finish what is in flight before reading its log.
	time.Sleep(200 * time.Millisecond)
	t.Logf("%d connections, %d messages handed on", count, len(srv.box.messages()))
	return srv
}

// TestBDATRefused: CHUNKING is not offered, and BDAT is refused with its
// chunk discarded, so the session goes on with the next command.
func TestBDATRefused(t *testing.T) {
	srv := start(t, &verdict.Policy{}, nil)
	d, _ := dial(t, srv.addr)
	if _, err := d.c.Write([]byte("EHLO mail.example.org\r\n")); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := d.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(l, "CHUNKING") {
			t.Errorf("EHLO offers %q", l)
		}
		if l[3] == ' ' {
			break
		}
	}
	d.expect("MAIL FROM:<alice@example.org>\r\n", "250 ")
	d.expect("RCPT TO:<bob@example.net>\r\n", "250 ")
	chunk := "RSET\r\nQUIT\r\n" + cleanMessage
	d.expect(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk), "502 5.5.1")
	// Message text that looks like BDAT is not a command.
	d.expect("DATA\r\n", "354 ")
	d.expect(cleanMessage+"BDAT 5\r\n.\r\n", "250 ")
	d.expect("NOOP\r\n", "250 ")
	if got := srv.box.messages(); len(got) != 1 || !strings.HasSuffix(got[0], "BDAT 5\r\n") {
		t.Errorf("delivered %q", got)
	}
}
