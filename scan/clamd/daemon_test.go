package clamd

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/scan/internal/daemontest"
)

// The test database holds only signatures written here: clamd loads no
// shipped database and downloads nothing.

// marker is the content of the test attachment the .ndb signature
// matches; it appears in messages only base64-encoded, so a detection
// shows that clamd decoded the MIME part.
const marker = "mtaguard clamd test marker: not a virus, a signature written by the test"

// eicar is the EICAR anti-virus test file, detected by an .hdb signature
// (its MD5 and length) the test writes.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// streamMax is the StreamMaxLength of the test clamd.
const streamMax = 1 << 20

// clamdServer is a clamd of the test's own, listening on a loopback TCP
// port and on a unix socket.
type clamdServer struct {
	dir, conf  string
	tcp, unix  string
	proc       *daemontest.Process
	startedFor time.Duration
}

// startClamd writes a database and a clamd.conf into a new directory under
// base and starts clamd in the foreground.
func startClamd(path, base string) (*clamdServer, error) {
	dir, err := os.MkdirTemp(base, "clamd")
	if err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		return nil, err
	}
	sum := md5.Sum([]byte(eicar))
	files := map[string]string{
		"test.ndb": "Mtaguard.Test.Marker:0:*:" + hex.EncodeToString([]byte(marker)) + "\n",
		"test.hdb": fmt.Sprintf("%x:%d:Eicar-Test-Signature\n", sum, len(eicar)),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(db, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	s := &clamdServer{dir: dir, unix: filepath.Join(dir, "clamd.sock")}
	var last error
	for try := 0; try < 3; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.tcp = l.Addr().String()
		l.Close()
		host, port, _ := net.SplitHostPort(s.tcp)
		s.conf = filepath.Join(dir, "clamd.conf")
		conf := strings.Join([]string{
			"DatabaseDirectory " + db,
			"TCPSocket " + port,
			"TCPAddr " + host,
			"LocalSocket " + s.unix,
			"Foreground yes",
			"LogFile " + filepath.Join(dir, "clamd.log"),
			"PidFile " + filepath.Join(dir, "clamd.pid"),
			fmt.Sprintf("StreamMaxLength %d", streamMax),
			// Short, so that the pool's retry of a connection clamd
			// closed while idle is tested without a long wait.
			"IdleTimeout 2",
			"MaxThreads 4",
			"",
		}, "\n")
		if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		start := time.Now()
		s.proc, last = daemontest.Start(dir, 60*time.Second, s.ping, path, "-c", s.conf)
		if last == nil {
			s.startedFor = time.Since(start)
			return s, nil
		}
	}
	return nil, last
}

// ping sends PING and expects PONG.
func (s *clamdServer) ping() error {
	c, err := net.DialTimeout("tcp", s.tcp, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("zPING\x00")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString(0)
	if err != nil {
		return err
	}
	if line != "PONG\x00" {
		return fmt.Errorf("clamd answered %q to PING", line)
	}
	return nil
}

// shared is the clamd of this package's test run, started by the first
// test that needs it and stopped by TestMain: clamd is the slowest part of
// the tests to start.
var shared struct {
	once sync.Once
	srv  *clamdServer
	err  error
	base string
}

// sharedClamd returns the package's clamd, skipping the test when clamd
// is not installed (failing it with MTAGUARD_REQUIRE_TOOLS=1).
func sharedClamd(t testing.TB) *clamdServer {
	t.Helper()
	path := daemontest.Look(t, "clamd")
	shared.once.Do(func() {
		shared.base, shared.err = os.MkdirTemp("", "mtaguard-clamd-test")
		if shared.err == nil {
			shared.srv, shared.err = startClamd(path, shared.base)
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
