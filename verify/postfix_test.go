package verify

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postfix is a private Postfix instance of a test: its own main.cf,
// master.cf, queue and log under a temporary directory, its smtpd on a
// loopback address and port of the test's choice, so a system Postfix is
// left alone. Starting one needs root (as Postfix's master does).
type postfix struct {
	t    testing.TB
	dir  string
	addr string
	bin  string
}

// masterCF is the smallest master.cf that receives, verifies and delivers
// (locally or by SMTP); %s is the smtpd's address. Nothing is chrooted:
// the instance lives in a temporary directory.
const masterCF = `%s inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
`

// startPostfix starts a private Postfix whose smtpd listens on ip and a
// free port, with mainCF appended to the basic settings. It skips the test
// when Postfix is not installed or we are not root (fails it when
// MTAGUARD_REQUIRE_TOOLS=1), and stops the instance when the test ends.
func startPostfix(t testing.TB, ip, name, mainCF string) *postfix {
	t.Helper()
	bin := need(t, "postfix", "/usr/sbin")
	skip := func(why string) {
		if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
			t.Fatalf("private Postfix: %s (MTAGUARD_REQUIRE_TOOLS=1)", why)
		}
		t.Skipf("private Postfix: %s", why)
	}
	if os.Geteuid() != 0 {
		skip("must be started as root")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		skip("no postfix user")
	}
	dir, err := os.MkdirTemp("", "mtaguard-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	p := &postfix{t: t, dir: dir, bin: bin}
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if u, err := user.Lookup("postfix"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		os.Chown(filepath.Join(dir, "data"), uid, -1)
	}
	l := listen(t, ip)
	p.addr = l.Addr().String()
	l.Close()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("master.cf", fmt.Sprintf(masterCF, p.addr))
	write("main.cf", fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = %[2]s
mydomain = %[2]s
myorigin = %[2]s
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
`, dir, name)+mainCF)
	if out, err := p.postfix("check"); err != nil {
		p.remove()
		skip("postfix check failed: " + lastLine(out))
	}
	if out, err := p.postfix("start"); err != nil {
		p.remove()
		skip("postfix did not start: " + lastLine(out))
	}
	t.Cleanup(p.stop)
	if !waitListening(p.addr, nil) {
		t.Fatalf("private Postfix not listening on %s:\n%s", p.addr, p.log())
	}
	return p
}

func (p *postfix) postfix(args ...string) (string, error) {
	cmd := exec.Command(p.bin, append([]string{"-c", filepath.Join(p.dir, "etc")}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *postfix) stop() {
	b, _ := os.ReadFile(filepath.Join(p.dir, "spool", "pid", "master.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	p.postfix("stop")
	// Wait for the master to let its children go and exit, so the
	// directory can be removed.
	for i := 0; pid > 0 && i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.t.Failed() {
		p.t.Logf("Postfix %s log:\n%s", p.addr, p.log())
	}
	p.remove()
}

func (p *postfix) remove() { os.RemoveAll(p.dir) }

func (p *postfix) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	s := string(b)
	if len(s) > 6000 {
		s = "..." + s[len(s)-6000:]
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// targetPostfix is the inside server of example.test: a Postfix whose
// local_recipient_maps knows alice only, so others get 550 5.1.1.
func targetPostfix(t testing.TB) *postfix {
	return startPostfix(t, "127.0.0.8", "target.test", `mydestination = example.test
local_recipient_maps = inline:{alice@example.test=ok, alice=ok}
mynetworks = 127.0.0.0/8
`)
}
