// Command policyd is a Postfix policy delegation service (Postfix
// SMTPD_POLICY_README) that answers with the decisions of an mtaguard
// policy. Point Postfix at it with check_policy_service:
//
//	smtpd_recipient_restrictions =
//	    permit_mynetworks, reject_unauth_destination,
//	    check_policy_service inet:127.0.0.1:10040
//
// and run it:
//
//	go run ./examples/policyd -listen 127.0.0.1:10040 -local example.net
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

	"github.com/mtaguard/mtaguard/examples/internal/flagpolicy"
	"github.com/mtaguard/mtaguard/examples/internal/socket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "policyd:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx is done and calls ready, if set,
// with the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(net.Addr)) error {
	fl := flag.NewFlagSet("policyd", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "127.0.0.1:10040", "`address` to listen on: host:port (inet:host:port) or unix:/path")
	mode := fl.String("socket-mode", "0660", "permissions of a unix socket, in `octal`")
	authres := fl.Bool("authres", true, "prepend Authentication-Results (authserv-id: -hostname) once per message")
	deferNow := fl.Bool("defer-now", false, "answer temporary failures 451 at once instead of DEFER_IF_PERMIT")
	hold := fl.Bool("hold", false, "quarantine into Postfix's hold queue instead of prepending X-Spam-Flag: YES")
	verbose := fl.Bool("v", false, "log every decision")
	pc := flagpolicy.Register(fl)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	// Postfix's policy protocol carries no message text, so a check of
	// the message would never run: say so rather than take the flag.
	if pc.MessageCheck || pc.Clamd != "" || pc.Rspamd != "" || pc.Spamd != "" {
		return fmt.Errorf("-message-check, -clamd, -rspamd and -spamd read the message, which a policy service never sees: use examples/milter for them")
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
	srv := &Server{
		Policy:   policy,
		DeferNow: *deferNow,
		Hold:     *hold,
		Logger:   logger,
	}
	if *authres {
		srv.AuthservID = pc.Hostname
	}
	ln, err := socket.Listen(*listen, *mode)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if ready != nil {
		ready(ln.Addr())
	}
	if err := srv.Serve(ln); err != ErrServerClosed {
		return err
	}
	return nil
}
