// Package scan is the home of the connectors to content scanners: the
// daemons that read a whole message and say whether it carries a virus or
// looks like junk. Each scanner is its own package, because each speaks
// its own protocol and has its own options:
//
//   - [github.com/mtaguard/mtaguard/scan/clamd]: ClamAV's clamd, the
//     INSTREAM command over TCP or a unix socket, with a pool of IDSESSION
//     connections;
//   - [github.com/mtaguard/mtaguard/scan/rspamd]: rspamd's HTTP /checkv2,
//     whose action (reject, soft reject, add header, ...) maps to a demand;
//   - [github.com/mtaguard/mtaguard/scan/spamd]: SpamAssassin's spamd
//     protocol (CHECK, SYMBOLS, REPORT).
//
// A program that runs one scanner imports one small package, and no
// package carries another's protocol code. What they share is a contract,
// not code, so it is stated here once:
//
//   - Each offers New, returning a *Checker that is a verdict.Check of the
//     Data stage, and Evaluate, to scan a message outside a Session.
//   - Time comes from the context: the scan stops when ctx is done. A
//     context without a deadline gets the package's default timeout.
//   - A scanner that cannot be reached, times out, or answers something
//     unreadable gives a TempError result, never a clean one. By default a
//     TempError demands TempFail (451 4.7.0): the sender retries later,
//     when the scanner may be back. Options.FailOpen turns that demand
//     off, for sites that prefer to accept unscanned mail over deferring
//     it; the result stays TempError, so the decision shows why.
//   - A message larger than Options.MaxSize is not sent to the scanner
//     (each scanner has its own limit, and a scan of a truncated message
//     says nothing of the rest): the result has Status None and no demand.
//     The SMTP server's own message size limit is the place to refuse
//     larger mail.
//   - No package-level state: every connection, pool and buffer belongs
//     to a Checker.
//
// FailOpen is named for the exception rather than for the default ("Defer")
// so that the zero Options, which every caller writes when filling in one
// field, is the safe choice: a scanner failure never lets mail through
// unscanned unless the caller said so.
package scan
