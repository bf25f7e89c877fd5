// Package verdict holds what every mtaguard check shares: the facts of an
// SMTP session (Session), the outcome of one check (Result), the interface a
// check implements (Check), and the Policy that runs the checks of a stage
// and turns all results so far into one Decision: accept, quarantine,
// temporary failure or rejection, with the SMTP reply and an
// Authentication-Results header field (RFC 8601).
//
// verdict imports no check package; the check packages (fcrdns, helo, relay,
// greylist, dnsbl, spf, dkim, dmarc) import verdict. Package gosmtp runs a
// Policy inside a server built on github.com/emersion/go-smtp.
//
// The decision follows two rules, in the spirit of rspamd's actions and
// postscreen's weighted scores:
//
//   - Every result may demand an Action whatever the score (a relay denial
//     demands Reject, a first greylist sighting demands TempFail).
//   - The weighted sum of all scores is compared with the policy's
//     Quarantine and Reject thresholds.
//
// The most severe of the two wins. A DNS failure is never evidence: checks
// report it as TempError and never demand Reject for it.
package verdict
