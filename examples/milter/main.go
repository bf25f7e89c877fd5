// Command milter is a mail filter (the Sendmail milter protocol, spoken by
// Postfix and Sendmail) built on github.com/emersion/go-milter: at the end
// of each message it evaluates an mtaguard policy on the whole transaction,
// adds an Authentication-Results field (removing forged ones that claim our
// authserv-id), and accepts, quarantines, or refuses with the decision's
// SMTP reply. For Postfix:
//
//	smtpd_milters = inet:127.0.0.1:8895
//	milter_default_action = tempfail
//
// and run it:
//
//	go run ./examples/milter -listen 127.0.0.1:8895 -hostname mx.example.net
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/emersion/go-milter"

	"github.com/mtaguard/mtaguard/examples/internal/flagpolicy"
	"github.com/mtaguard/mtaguard/examples/internal/socket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "milter:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx is done and calls ready, if set,
// with the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(net.Addr)) error {
	fl := flag.NewFlagSet("milter", flag.ContinueOnError)
	fl.SetOutput(stderr)
	listen := fl.String("listen", "127.0.0.1:8895", "`address` to listen on: host:port (inet:host:port) or unix:/path")
	mode := fl.String("socket-mode", "0660", "permissions of a unix socket, in `octal`")
	hold := fl.Bool("hold", false, "quarantine through the milter protocol (Postfix: hold queue) instead of X-Spam-Flag")
	maxSize := fl.Int64("max-size", 32<<20, "largest message accepted, in `bytes`: a larger one cannot be judged whole and is refused (552 5.3.4)")
	verbose := fl.Bool("v", false, "log every decision")
	pc := flagpolicy.Register(fl)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
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
	f := &Filter{
		Policy:          policy,
		AuthservID:      pc.Hostname,
		Hold:            *hold,
		MaxMessageBytes: *maxSize,
		Logger:          logger,
	}
	ln, err := socket.Listen(*listen, *mode)
	if err != nil {
		return err
	}
	srv := f.Server()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if ready != nil {
		ready(ln.Addr())
	}
	if err := srv.Serve(ln); !errors.Is(err, milter.ErrServerClosed) {
		return err
	}
	return nil
}
