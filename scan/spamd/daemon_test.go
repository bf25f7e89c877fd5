package spamd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/scan/internal/daemontest"
)

// spamdServer is a spamd of the test's own: shipped rules, no network
// tests (-L), no user preferences, no Bayes, on a loopback port.
type spamdServer struct {
	dir        string
	addr       string
	proc       *daemontest.Process
	startedFor time.Duration
}

func startSpamd(path, base string) (*spamdServer, error) {
	dir, err := os.MkdirTemp(base, "spamd")
	if err != nil {
		return nil, err
	}
	// spamd started as root reads its configuration as nobody.
	for _, d := range []string{base, dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	// The site configuration: Debian's .pre files (they load the Check
	// plugin, without which spamd scans nothing) and a local.cf of ours.
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			return nil, err
		}
	}
	local := "use_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n"
	if err := os.WriteFile(filepath.Join(dir, "local.cf"), []byte(local), 0o644); err != nil {
		return nil, err
	}
	s := &spamdServer{dir: dir}
	var last error
	for try := 0; try < 3; try++ {
		port, err := daemontest.FreePort()
		if err != nil {
			return nil, err
		}
		s.addr = "127.0.0.1:" + strconv.Itoa(port)
		start := time.Now()
		s.proc, last = daemontest.Start(dir, 90*time.Second, daemontest.Dial("tcp", s.addr), path,
			"-L", "-x", "--listen="+s.addr, "--siteconfigpath="+dir,
			"--pidfile="+filepath.Join(dir, "spamd.pid"), "--syslog=stderr",
			"--max-children=2", "--min-children=1", "--min-spare=1", "--max-spare=1")
		if last == nil {
			s.startedFor = time.Since(start)
			return s, nil
		}
	}
	return nil, fmt.Errorf("spamd: %w", last)
}

var shared struct {
	once sync.Once
	srv  *spamdServer
	err  error
	base string
}

// sharedSpamd returns the package's spamd, started once: loading the
// rules takes seconds.
func sharedSpamd(t testing.TB) *spamdServer {
	t.Helper()
	path := daemontest.Look(t, "spamd")
	shared.once.Do(func() {
		shared.base, shared.err = os.MkdirTemp("", "mtaguard-spamd-test")
		if shared.err == nil {
			shared.srv, shared.err = startSpamd(path, shared.base)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.proc.Stop()
	}
	if shared.base != "" {
		os.RemoveAll(shared.base)
	}
	os.Exit(code)
}
