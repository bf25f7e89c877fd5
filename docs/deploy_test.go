// Package docs_test checks that the configurations in deploy.md work: the
// systemd units pass systemd-analyze verify, their command lines start the
// programs, and the Postfix settings are ones postconf knows.
package docs_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// block is a fenced block of deploy.md whose first line names its file.
type block struct {
	file string // "/etc/systemd/system/mtaguard-smtpd.service"
	text string
}

func blocks(t *testing.T, prefix string) []block {
	t.Helper()
	b, err := os.ReadFile("deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	parts := strings.Split(string(b), "```")
	for i := 1; i < len(parts); i += 2 {
		_, body, _ := strings.Cut(parts[i], "\n") // drop the info string
		first, rest, _ := strings.Cut(body, "\n")
		if name, ok := strings.CutPrefix(first, "# "); ok && strings.HasPrefix(name, prefix) {
			name, _, _ = strings.Cut(name, " ")
			out = append(out, block{file: name, text: rest})
		}
	}
	if len(out) == 0 {
		t.Fatalf("deploy.md has no block for %s", prefix)
	}
	return out
}

// needTool skips t when tool is missing, unless MTAGUARD_REQUIRE_TOOLS=1.
func needTool(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is not installed (MTAGUARD_REQUIRE_TOOLS=1)", tool)
	}
	fmt.Fprintf(os.Stderr, "SKIPPED: %s: %s is not installed\n", t.Name(), tool)
	t.Skipf("%s is not installed", tool)
	return ""
}

// programs builds the examples the units start, once per test binary.
func programs(t *testing.T) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the example programs: not in -short mode")
	}
	dir := t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"smtpd", "policyd", "milter"} {
		bin := filepath.Join(dir, "mtaguard-"+name)
		cmd := exec.Command("go", "build", "-o", bin, "./examples/"+name)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
		bins["/usr/local/bin/mtaguard-"+name] = bin
	}
	return bins
}

// execStart returns the command line of a unit.
func execStart(t *testing.T, unit string) []string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("unit without ExecStart")
	return nil
}

func TestSystemdUnits(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	bins := programs(t)
	dir := t.TempDir()
	for _, u := range blocks(t, "/etc/systemd/system/") {
		t.Run(filepath.Base(u.file), func(t *testing.T) {
			args := execStart(t, u.text)
			bin, ok := bins[args[0]]
			if !ok {
				t.Fatalf("unit starts %s, which is not one of the examples", args[0])
			}
			path := filepath.Join(dir, filepath.Base(u.file))
			if err := os.WriteFile(path, []byte(strings.Replace(u.text, args[0], bin, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
			// Outside a booted systemd (containers, CI) verify also
			// reports that it cannot reach the system manager or load
			// the units it names: only lines about this unit count.
			var problems []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, filepath.Base(u.file)) {
					problems = append(problems, l)
				}
			}
			if len(problems) > 0 {
				t.Errorf("systemd-analyze verify (%v):\n%s", err, strings.Join(problems, "\n"))
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCommandLines starts each unit's program with the unit's flags, its
// addresses, DNS server and directories replaced by test ones, and checks
// that it serves.
func TestCommandLines(t *testing.T) {
	bins := programs(t)
	dns := resolvertest.MustNewServer(resolvertest.MustNew("example.org. 300 IN TXT \"v=spf1 -all\"\n"))
	t.Cleanup(dns.Close)
	for _, u := range blocks(t, "/etc/systemd/system/") {
		t.Run(filepath.Base(u.file), func(t *testing.T) {
			args := execStart(t, u.text)
			listen := freeAddr(t)
			for i := 1; i+1 < len(args); i++ {
				switch args[i] {
				case "-listen":
					args[i+1] = listen
				case "-metrics":
					args[i+1] = freeAddr(t)
				case "-dns":
					args[i+1] = dns.Addr
				case "-maildir", "-spool-dir":
					args[i+1] = t.TempDir()
				}
			}
			cmd := exec.Command(bins[args[0]], args[1:]...)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
				if t.Failed() {
					t.Logf("output:\n%s", out.String())
				}
			}()
			var c net.Conn
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if c, err = net.Dial("tcp", listen); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s does not listen on %s with the unit's flags", filepath.Base(args[0]), listen)
				}
			}
			defer c.Close()
			if strings.HasSuffix(args[0], "smtpd") {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if l, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(l, "220 mx.example.net ") {
					t.Errorf("banner %q", l)
				}
			}
		})
	}
}

func TestPostfixSettings(t *testing.T) {
	postconf := needTool(t, "postconf")
	for i, b := range blocks(t, "/etc/postfix/main.cf") {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dir := t.TempDir()
			master, err := os.ReadFile("/etc/postfix/master.cf")
			if err != nil {
				master = nil // postconf does without
			}
			os.WriteFile(filepath.Join(dir, "master.cf"), master, 0o644)
			if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(postconf, "-c", dir, "-n").CombinedOutput()
			if err != nil || strings.Contains(string(out), "warning") {
				t.Errorf("postconf -n (%v):\n%s", err, out)
			}
			for _, line := range strings.Split(b.text, "\n") {
				name, _, ok := strings.Cut(line, "=")
				if !ok || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "#") {
					continue
				}
				if name = strings.TrimSpace(name); !strings.Contains(string(out), name+" =") {
					t.Errorf("postconf does not show %s", name)
				}
			}
		})
	}
}
