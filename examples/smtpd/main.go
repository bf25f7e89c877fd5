// Command smtpd is a border MTA built on github.com/emersion/go-smtp and
// package gosmtp, which asks an mtaguard policy at every stage of the SMTP
// dialogue: connect (before the banner), HELO, MAIL, each RCPT and the end
// of DATA. It answers with the decision's SMTP reply and files accepted
// messages, with an Authentication-Results field added and forged ones
// removed, into a Maildir; quarantined messages go to its .Junk folder.
//
//	go run ./examples/smtpd -zone examples/testdata/demo.zone -local example.net
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mtaguard/mtaguard/examples/internal/flagpolicy"
	"github.com/mtaguard/mtaguard/gosmtp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "smtpd:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx is done and calls ready, if set,
// with the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("smtpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:2525", "`address` to accept SMTP connections on")
	maildir := fs.String("maildir", "mail", "Maildir `directory` for accepted mail (quarantine: its .Junk folder)")
	maxSize := fs.Int64("max-size", 10<<20, "largest message accepted, in `bytes`")
	timeout := fs.Duration("io-timeout", 5*time.Minute, "read and write timeout of the SMTP dialogue")
	verbose := fs.Bool("v", false, "log each refusal and each message's decision")
	var o gosmtp.Options
	fs.IntVar(&o.MaxConns, "max-conns", 1000, "connections at once; more get 421 4.7.0 (-1: no cap)")
	fs.IntVar(&o.MaxConnsPerClient, "max-conns-per-client", 20, "connections at once from one client network (-1: no cap)")
	fs.IntVar(&o.ClientBits4, "client-bits4", 32, "prefix `length` that makes one IPv4 client network for -max-conns-per-client (24: a /24)")
	fs.IntVar(&o.ClientBits6, "client-bits6", 64, "prefix `length` that makes one IPv6 client network for -max-conns-per-client")
	fs.Int64Var(&o.MemoryBudget, "memory-budget", 256<<20, "`bytes` of messages held in memory at once; over it a message gets 452 4.3.1")
	fs.Int64Var(&o.SpoolBytes, "spool-bytes", 1<<20, "messages larger than this many `bytes` are spooled to disk while they arrive")
	fs.StringVar(&o.SpoolDir, "spool-dir", "", "`directory` for spooled messages (default: the system's temporary directory)")
	fs.BoolVar(&o.Chunking, "chunking", false, "offer CHUNKING (BDAT); off by default: go-smtp v0.25 races on broken-off BDAT")
	submission := fs.String("submission", "", "`address` of a submission listener (e.g. 127.0.0.1:587): STARTTLS, then AUTH against -users; only authenticated clients may send, as themselves")
	tlsCert := fs.String("tls-cert", "", "PEM certificate `file` for STARTTLS on -submission (default: a self-signed one, for tests)")
	tlsKey := fs.String("tls-key", "", "PEM key `file` of -tls-cert")
	usersFile := fs.String("users", "", "`file` of user:bcrypt-hash lines (htpasswd -B) for AUTH on -submission")
	relayCerts := fs.String("relay-certs", "", "`file` of TLS client certificate fingerprints (SHA-256, one a line) whose holders may relay on -submission without AUTH (Postfix's permit_tls_clientcerts)")
	clientCA := fs.String("client-ca", "", "PEM `file` of CAs that must have signed a client certificate on -submission (default: any certificate, pinned by -relay-certs)")
	var b border
	b.register(fs)
	pc := flagpolicy.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	policy, _, closePolicy, err := pc.Build(ctx)
	if err != nil {
		return err
	}
	defer closePolicy()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	wrap, closeBorder, err := b.build(policy, pc.Hostname, logger)
	if err != nil {
		return err
	}
	defer closeBorder()
	srv := &Server{
		Policy:          policy,
		Hostname:        pc.Hostname,
		Maildir:         *maildir,
		Logger:          logger,
		MaxMessageBytes: *maxSize,
		Timeout:         *timeout,
		Options:         o,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	s := srv.SMTP()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	if pc.MetricsAddr != nil {
		logger.Info("metrics", "url", "http://"+pc.MetricsAddr.String()+"/metrics")
	}
	if *submission != "" {
		if *usersFile == "" {
			return fmt.Errorf("-submission needs -users")
		}
		users, err := loadUsers(*usersFile)
		if err != nil {
			return err
		}
		tc, selfSigned, err := tlsConfig(*tlsCert, *tlsKey, pc.Hostname)
		if err != nil {
			return err
		}
		var fps []string
		if *relayCerts != "" {
			if fps, err = loadFingerprints(*relayCerts); err != nil {
				return err
			}
			if err := requestClientCerts(tc, *clientCA); err != nil {
				return err
			}
		}
		if selfSigned {
			logger.Warn("submission: no -tls-cert given, using a self-signed certificate that clients cannot verify")
		}
		authLimit, err := b.authLimit()
		if err != nil {
			return err
		}
		sub := *srv
		sub.Policy, sub.Users, sub.AuthLimit = submissionPolicy(policy, fps), users, authLimit
		sl, err := net.Listen("tcp", *submission)
		if err != nil {
			ln.Close()
			return err
		}
		ss := sub.SMTP()
		ss.TLSConfig = tc
		ss.AllowInsecureAuth = false // RFC 4954 §4: no credentials in the clear
		go func() {
			<-ctx.Done()
			ss.Close()
		}()
		go ss.Serve(sub.Listen(sl))
		logger.Info("submission", "addr", sl.Addr().String())
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.Serve(srv.Listen(wrap(ln)))
}
