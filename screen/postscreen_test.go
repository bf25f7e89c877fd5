package screen

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The side-by-side test: the same scripted clients against a private
// Postfix postscreen (all deep tests on) and against this package, with
// the same verdicts, and the differences that are on purpose written
// down in the test.

const postfixMaster = "/usr/lib/postfix/sbin/master"

// missing skips t, or fails it when MTAGUARD_REQUIRE_TOOLS=1.
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s (MTAGUARD_REQUIRE_TOOLS=1)", what)
	}
	t.Skip(what)
}

// startPostscreen runs a private Postfix master with a postscreen service
// on a loopback port, in a temporary directory, and stops it at the end
// of the test. It returns the service's address and the path of its log.
func startPostscreen(t *testing.T) (addr, logFile string) {
	t.Helper()
	if _, err := os.Stat(postfixMaster); err != nil {
		missing(t, "postfix not installed ("+postfixMaster+")")
	}
	if os.Geteuid() != 0 {
		missing(t, "a private postfix master needs root")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		missing(t, "no postfix user")
	}
	// The postfix user must reach the directory: not t.TempDir (0700).
	dir, err := os.MkdirTemp("", "mtaguard-postscreen-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, d := range []string{"etc", "queue/pid", "queue/private", "queue/public", "data"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	pf, _ := user.Lookup("postfix")
	var uid int
	fmt.Sscan(pf.Uid, &uid)
	for _, d := range []string{"queue/private", "queue/public", "data"} {
		os.Chown(filepath.Join(dir, d), uid, -1)
	}
	os.Chmod(filepath.Join(dir, "queue/private"), 0o700)
	port := freePort(t)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	logFile = filepath.Join(dir, "maillog")
	mainCF := strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + dir + "/queue",
		"data_directory = " + dir + "/data",
		"mail_owner = postfix",
		"myhostname = mx.test",
		"mydomain = test",
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"mynetworks = 192.0.2.0/24", // the clients are not exempt
		"postscreen_access_list =",
		"postscreen_greet_wait = 1s",
		"postscreen_pipelining_enable = yes",
		"postscreen_non_smtp_command_enable = yes",
		"postscreen_bare_newline_enable = yes",
		"postscreen_cache_map = btree:$data_directory/psc_cache",
		"smtpd_banner = $myhostname ESMTP",
		"maillog_file = " + logFile,
		"maillog_file_prefixes = " + dir,
		"alias_maps =",
		"alias_database =",
		"",
	}, "\n")
	masterCF := strings.Join([]string{
		addr + " inet n - n - 1 postscreen",
		"smtpd pass - - n - - smtpd",
		"postlog unix-dgram n - n - 1 postlogd",
		"anvil unix - - n - 1 anvil",
		"proxymap unix - - n - - proxymap",
		"",
	}, "\n")
	os.WriteFile(filepath.Join(dir, "etc/main.cf"), []byte(mainCF), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/master.cf"), []byte(masterCF), 0o644)
	cmd := exec.Command(postfixMaster, "-c", filepath.Join(dir, "etc"), "-d")
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // master stops its children
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, logFile
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("postfix master exited: %s %s", out.String(), b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("postscreen did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// realSMTP is the stand-in for the server behind our screen: it offers
// PIPELINING, as Postfix's smtpd does behind postscreen, which tells a
// client it reached the real server.
func realSMTP(t *testing.T, o *Options) string {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(raw, o)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("220 mx.test ESMTP\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.ToUpper(strings.TrimSpace(line)) {
					case "QUIT":
						c.Write([]byte("221 2.0.0 Bye\r\n"))
						return
					default:
						c.Write([]byte("250-mx.test\r\n250 PIPELINING\r\n"))
					}
				}
			}()
		}
	}()
	return raw.Addr().String()
}

// transcript is what a scripted client saw, in short: reply codes (and
// enhanced codes), "220-" for the teaser, "+P" when PIPELINING was
// offered (the real server), "closed" when the server hung up.
type transcript struct {
	t   *testing.T
	c   net.Conn
	r   *bufio.Reader
	out []string
}

func dialFrom(t *testing.T, addr, from string) *transcript {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	return &transcript{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one reply and records it.
func (s *transcript) reply() {
	var first string
	pipelining := false
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.out = append(s.out, "closed")
			return
		}
		l = strings.TrimRight(l, "\r\n")
		if first == "" {
			first = l
		}
		if len(l) > 4 && l[4:] == "PIPELINING" {
			pipelining = true
		}
		if len(l) < 4 || l[3] != '-' {
			break
		}
		if l[:3] == "220" {
			s.out = append(s.out, "220-")
			first = ""
		}
	}
	code := first
	if f := strings.Fields(first); len(f) > 1 && len(f[1]) > 2 && f[1][1] == '.' {
		code = f[0] + " " + f[1]
	} else if len(f) > 0 {
		code = f[0]
	}
	if pipelining {
		code += " +P"
	}
	s.out = append(s.out, code)
}

func (s *transcript) send(cmd string) { s.c.Write([]byte(cmd)) }

func (s *transcript) cmd(cmd string) {
	s.send(cmd)
	s.reply()
}

// closed records whether the server hung up (rather than waiting).
func (s *transcript) closed() {
	s.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := s.r.ReadByte(); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			s.out = append(s.out, "open")
			return
		}
		s.out = append(s.out, "closed")
	}
}

func (s *transcript) String() string { return strings.Join(s.out, ",") }

type scenario struct {
	name string
	run  func(t *testing.T, addr, from string) string
	// ours is what this package does where it differs from postscreen on
	// purpose ("" = the same as postscreen).
	ours string
}

var scenarios = []scenario{
	{name: "patient MTA", run: func(t *testing.T, addr, from string) string {
		s := dialFrom(t, addr, from)
		s.reply()
		s.cmd("EHLO client.test\r\n")
		s.cmd("MAIL FROM:<a@client.test>\r\n")
		s.cmd("RCPT TO:<b@mx.test>\r\n")
		s.cmd("QUIT\r\n")
		s2 := dialFrom(t, addr, from) // the retry: straight to the server
		s2.reply()
		s2.cmd("EHLO client.test\r\n")
		s2.cmd("QUIT\r\n")
		return s.String() + " | " + s2.String()
	}},
	{name: "pregreet", run: func(t *testing.T, addr, from string) string {
		s := dialFrom(t, addr, from)
		s.send("EHLO early.test\r\n")
		s.reply()
		s.reply()
		s.cmd("MAIL FROM:<a@early.test>\r\n")
		s.cmd("RCPT TO:<b@mx.test>\r\n")
		s.cmd("QUIT\r\n")
		s2 := dialFrom(t, addr, from) // not allowed: the pause again
		s2.reply()
		s2.cmd("QUIT\r\n")
		return s.String() + " | " + s2.String()
	}},
	{name: "pipelining", run: func(t *testing.T, addr, from string) string {
		s := dialFrom(t, addr, from)
		s.reply()
		s.send("EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\n")
		s.reply()
		s.reply()
		s.reply()
		s.cmd("QUIT\r\n")
		s2 := dialFrom(t, addr, from)
		s2.reply()
		s2.cmd("QUIT\r\n")
		return s.String() + " | " + s2.String()
	}},
	{name: "HTTP request", run: nonSMTPScript("GET / HTTP/1.1\r\n")},
	{name: "proxy CONNECT", run: nonSMTPScript("CONNECT mx.test:25 HTTP/1.0\r\n")},
	{name: "TLS hello", run: nonSMTPScript("\x16\x03\x01\x02\x00\r\n")},
	// Postfix's default forbidden commands (CONNECT, GET, POST and lines
	// not beginning with a letter) leave POP3's USER to "502 command not
	// recognized"; this package treats it as the non-SMTP command it is.
	{name: "POP3 USER", run: nonSMTPScript("USER alice\r\n"),
		ours: "220-,220,521 5.7.0,closed | 220-,220,221 2.0.0"},
	{name: "bare LF", run: func(t *testing.T, addr, from string) string {
		s := dialFrom(t, addr, from)
		s.reply()
		s.cmd("EHLO client.test\n")
		s.cmd("MAIL FROM:<a@client.test>\n")
		s.cmd("RCPT TO:<b@mx.test>\n")
		s.cmd("QUIT\n")
		s2 := dialFrom(t, addr, from) // ignored by default: passed
		s2.reply()
		s2.cmd("EHLO client.test\r\n")
		s2.cmd("QUIT\r\n")
		return s.String() + " | " + s2.String()
	}},
	{name: "leaves before RCPT", run: func(t *testing.T, addr, from string) string {
		s := dialFrom(t, addr, from)
		s.reply()
		s.cmd("EHLO client.test\r\n")
		s.cmd("QUIT\r\n")
		s2 := dialFrom(t, addr, from) // the pause passed, the deep tests not
		s2.reply()
		s2.cmd("EHLO client.test\r\n")
		s2.cmd("QUIT\r\n")
		return s.String() + " | " + s2.String()
	}},
}

func nonSMTPScript(cmd string) func(t *testing.T, addr, from string) string {
	return func(t *testing.T, addr, from string) string {
		s := dialFrom(t, addr, from)
		s.reply()
		s.cmd(cmd)
		s.closed()
		s2 := dialFrom(t, addr, from)
		s2.reply()
		s2.cmd("QUIT\r\n")
		return s.String() + " | " + s2.String()
	}
}

func TestSideBySidePostscreen(t *testing.T) {
	psAddr, logFile := startPostscreen(t)
	ourAddr := realSMTP(t, &Options{Hostname: "mx.test", GreetWait: 500 * time.Millisecond})
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			from := fmt.Sprintf("127.0.0.%d", 10+i)
			theirs, ours := make(chan string, 1), make(chan string, 1)
			go func() { theirs <- sc.run(t, psAddr, from) }()
			go func() { ours <- sc.run(t, ourAddr, from) }()
			p, o := <-theirs, <-ours
			want := p
			if sc.ours != "" {
				want = sc.ours
			}
			t.Logf("postscreen: %s", p)
			if o != want {
				t.Errorf("ours:       %s\nwant:       %s", o, want)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("postfix log:\n%s", b)
		}
	})
}
