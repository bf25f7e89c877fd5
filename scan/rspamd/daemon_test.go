package rspamd

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/scan/internal/daemontest"
)

// zone is all the DNS rspamd sees: the test's sender and client. Every
// other name (the DNS block lists, rspamd's map hosts) is NXDOMAIN, so
// nothing leaves the machine.
const zone = `
$ORIGIN example.org.
$TTL 300
@      IN MX  10 mail
@      IN TXT "v=spf1 ip4:192.0.2.10 -all"
mail   IN A   192.0.2.10
_dmarc IN TXT "v=DMARC1; p=none"
$ORIGIN example.net.
@      IN MX  10 mx
mx     IN A   198.51.100.25
$ORIGIN 2.0.192.in-addr.arpa.
10     IN PTR mail.example.org.
`

// rspamdServer is an rspamd of the test's own: Debian's configuration,
// with overrides in a temporary LOCAL_CONFDIR (its DNS is a resolvertest
// server, the normal worker on a loopback port, the controller and proxy
// off, no hyperscan compilation), run as root with -i.
type rspamdServer struct {
	dir, url, addr string
	dns            *resolvertest.Server
	proc           *daemontest.Process
	startedFor     time.Duration
	confArgs       []string
}

func startRspamd(path, base string) (*rspamdServer, error) {
	dir, err := os.MkdirTemp(base, "rspamd")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"local.d", "override.d", "db", "run", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	r, err := resolvertest.New(zone)
	if err != nil {
		return nil, err
	}
	s := &rspamdServer{dir: dir}
	s.dns, err = resolvertest.NewServer(r)
	if err != nil {
		return nil, err
	}
	var last error
	for try := 0; try < 3; try++ {
		port, err := daemontest.FreePort()
		if err != nil {
			return nil, err
		}
		s.addr = "127.0.0.1:" + strconv.Itoa(port)
		s.url = "http://" + s.addr
		files := map[string]string{
			"override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = %q;\ncount = 1;\n", s.addr),
			"override.d/worker-controller.inc": "enabled = false;\n",
			"override.d/worker-proxy.inc":      "enabled = false;\n",
			"override.d/logging.inc":           fmt.Sprintf("type = \"file\";\nfilename = %q;\nlevel = \"notice\";\n", filepath.Join(dir, "log", "rspamd.log")),
			"local.d/options.inc": fmt.Sprintf("dns { nameserver = [%q]; timeout = 1s; retransmits = 1; }\n"+
				"disable_hyperscan = true;\n", s.dns.Addr),
			// Ask for header changes, so that the milter block is tested.
			"local.d/milter_headers.conf": "use = [\"x-spam-status\"];\nskip_local = false;\nskip_authenticated = false;\n",
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				return nil, err
			}
		}
		s.confArgs = []string{"-c", "/etc/rspamd/rspamd.conf",
			"--var", "LOCAL_CONFDIR=" + dir, "--var", "DBDIR=" + filepath.Join(dir, "db"),
			"--var", "RUNDIR=" + filepath.Join(dir, "run"), "--var", "LOGDIR=" + filepath.Join(dir, "log")}
		args := append([]string{"-f", "-i"}, s.confArgs...)
		start := time.Now()
		s.proc, last = daemontest.Start(dir, 120*time.Second, s.ping, path, args...)
		if last == nil {
			s.startedFor = time.Since(start)
			return s, nil
		}
	}
	s.dns.Close()
	return nil, fmt.Errorf("rspamd: %w", last)
}

// ping asks the normal worker's /ping.
func (s *rspamdServer) ping() error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(s.url + "/ping")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping: HTTP %d", resp.StatusCode)
	}
	return nil
}

var shared struct {
	once sync.Once
	srv  *rspamdServer
	err  error
	base string
}

// sharedRspamd returns the package's rspamd, started once per test run:
// rspamd loads its Lua rules for about 20 seconds on an idle two-core
// machine, up to a minute on a busy one (hence the two-minute bound).
func sharedRspamd(t testing.TB) *rspamdServer {
	t.Helper()
	path := daemontest.Look(t, "rspamd")
	shared.once.Do(func() {
		shared.base, shared.err = os.MkdirTemp("", "mtaguard-rspamd-test")
		if shared.err == nil {
			shared.srv, shared.err = startRspamd(path, shared.base)
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
		shared.srv.dns.Close()
	}
	if shared.base != "" {
		os.RemoveAll(shared.base)
	}
	os.Exit(code)
}
