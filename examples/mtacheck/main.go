// Command mtacheck explains the admission decision for one SMTP session:
// it runs every mtaguard check on the facts given as flags, stage by stage
// as an SMTP server would, and prints each check's status, score and
// reason, the decision with its SMTP reply, and the Authentication-Results
// header field.
//
//	go run ./examples/mtacheck -zone examples/testdata/demo.zone \
//		-hostname mx.example.net -local example.net -dnsbl bl.example:6 \
//		-ip 192.0.2.10 -helo mail.example.org -from alice@example.org \
//		-rcpt bob@example.net -message examples/testdata/signed.eml
//
// With -zone, DNS is answered from a zone file (offline); without it, from
// the system's resolvers. -json prints the same as JSON.
//
// Exit status: 0 accept, 1 quarantine, 2 tempfail, 3 reject, 4 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/mtaguard/mtaguard/examples/internal/flagpolicy"
	"github.com/mtaguard/mtaguard/verdict"
)

// Exit statuses.
const (
	exitAccept     = 0
	exitQuarantine = 1
	exitTempFail   = 2
	exitReject     = 3
	exitUsage      = 4
)

// maxMessage bounds the message file read with -message.
const maxMessage = 64 << 20

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// facts are the session's facts given on the command line.
type facts struct {
	ip       string
	helo     string
	from     string
	rcpts    rcptList
	message  string
	authUser string
	tls      bool
	json     bool
}

type rcptList []string

func (l *rcptList) String() string     { return fmt.Sprint([]string(*l)) }
func (l *rcptList) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mtacheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f facts
	fs.StringVar(&f.ip, "ip", "", "client IP `address` (required)")
	fs.StringVar(&f.helo, "helo", "", "HELO/EHLO `name` the client gave")
	fs.StringVar(&f.from, "from", "", "MAIL FROM `address` (empty: the null sender <>)")
	fs.Var(&f.rcpts, "rcpt", "RCPT TO `address` (repeat for several)")
	fs.StringVar(&f.message, "message", "", "message `file` (RFC 5322) for the data stage")
	fs.StringVar(&f.authUser, "auth", "", "SMTP AUTH `user`, if the client authenticated")
	fs.BoolVar(&f.tls, "tls", false, "the client used TLS")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	cfg := flagpolicy.Register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mtacheck -ip ADDR [-helo NAME] [-from ADDR] [-rcpt ADDR]... [-message FILE] [policy flags]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexit status: 0 accept, 1 quarantine, 2 tempfail, 3 reject, 4 usage error\n")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mtacheck: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	ip, err := netip.ParseAddr(f.ip)
	if err != nil {
		return usage("-ip: want an IP address, got %q", f.ip)
	}
	var msg []byte
	if f.message != "" {
		if msg, err = readMessage(f.message); err != nil {
			return usage("-message: %v", err)
		}
	}
	policy, _, closePolicy, err := cfg.Build(ctx)
	if err != nil {
		return usage("%v", err)
	}
	defer closePolicy()

	s := &verdict.Session{IP: ip, HELO: f.helo, MailFrom: f.from, AuthUser: f.authUser, TLS: f.tls, Message: msg}
	rep := explain(ctx, policy, s, f.rcpts, cfg.Hostname)
	if f.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mtacheck: %v\n", err)
	}
	return []int{exitAccept, exitQuarantine, exitTempFail, exitReject}[rep.Final.Action]
}

func readMessage(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMessage+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMessage {
		return nil, errors.New("message larger than 64 MiB")
	}
	return b, nil
}
