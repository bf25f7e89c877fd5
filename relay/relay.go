// Package relay decides who may send mail through us and to whom, and,
// behind a border MTA, which Received: hop was the real client.
//
// Check applies the open-relay rules of a border MTA and the rules that
// stop outsiders from using our own domains as senders: Postfix's default
// relay restrictions (permit_mynetworks, permit_tls_clientcerts,
// permit_sasl_authenticated, reject_unauth_destination) and its sender
// rules (reject_sender_login_mismatch), with the address handling of
// Postfix's trivial-rewrite resolver: an address whose local part still
// routes elsewhere (user%remote@local, remote!user@local,
// "user@remote"@local) is never a local destination. Its results carry
// demands, not scores: every reference system treats relay control as a
// yes-or-no rule, and trust in authenticated or internal clients belongs in
// verdict.Policy.Exempt, not in a score.
//
// Border reads the Received: fields of a message the way SpamAssassin's
// trust path does, to find the first hop outside our own networks, whose IP
// address and HELO name the IP-based checks must use.
package relay

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/internal/netset"
	"github.com/mtaguard/mtaguard/verdict"
)

// Policy says which destinations are ours and which clients may relay.
//
// Domains are compared after normalisation: case-insensitive, without one
// trailing dot, and with U-labels and A-labels (RFC 5891) as the same name.
// An entry matches that domain only, so "example.org" does not match
// "evilexample.org" nor "mail.example.org"; an entry with a leading dot
// (".example.org") matches the domain and every name below it. (Postfix's
// relay_domains matches subdomains unless parent_domain_matches_subdomains
// says otherwise; here a subdomain is ours only when said so.) An entry
// that is an address literal ("[192.0.2.10]", "[IPv6:2001:db8::25]")
// makes recipients at that literal ours, as Postfix does for its own
// interface addresses. Entries that are not valid names are ignored.
type Policy struct {
	LocalDomains []string       // we are the final destination
	RelayDomains []string       // we accept mail to forward there (backup MX, inbound gateway)
	TrustedNets  []netip.Prefix // clients that may relay anywhere (as may an Envelope with Trusted set)

	// ClientCerts are the TLS client certificates whose holders may relay
	// anywhere, like a client in TrustedNets (Postfix's
	// permit_tls_clientcerts with relay_clientcerts): SHA-256 fingerprints
	// of the certificates' DER encoding, in hexadecimal, with or without
	// colons, in either case (the form of Fingerprint and of
	// "openssl x509 -noout -fingerprint -sha256"). Entries that are not
	// such fingerprints are ignored.
	ClientCerts []string

	// RequireAuth is submission mode (RFC 6409 §4.3): a client that is
	// neither authenticated nor in TrustedNets is refused with 530 5.7.0
	// whatever the recipient.
	RequireAuth bool

	// TLSAuthOnly counts SMTP AUTH only on a TLS session, like Postfix's
	// smtpd_tls_auth_only: credentials sent in the clear do not earn the
	// right to relay. Without TLS an authenticated client is treated as
	// anonymous (and, in submission mode, told to start TLS first).
	TLSAuthOnly bool

	// SenderLogin, if set, says whether the authenticated user may use
	// sender as its MAIL FROM (Postfix's smtpd_sender_login_maps with
	// reject_authenticated_sender_login_mismatch). sender is the address as
	// the client wrote it, less any source route, with its domain
	// normalised: lower-case, A-labels, no trailing dot. The null sender is
	// not passed: a user may always send a bounce.
	SenderLogin func(user, sender string) bool
}

// Envelope is what the relay rules decide from: the client and one
// recipient of its transaction.
type Envelope struct {
	IP       netip.Addr
	AuthUser string // SMTP AUTH identity; "" when not authenticated
	TLS      bool   // TLS in effect
	MailFrom string // envelope sender; "" or "<>" is the null sender
	Rcpt     string // the recipient being decided

	// SMTPUTF8 says that the client gave the SMTPUTF8 parameter on MAIL
	// FROM (RFC 6531). Without it an address with a byte above 127 is
	// refused; with it, UTF-8 addresses are read and their domains mapped
	// as IDNA2008 lookups do (UTS #46, non-transitional).
	SMTPUTF8 bool

	// ClientCert is the SHA-256 fingerprint of the certificate the client
	// presented in the TLS handshake, as Fingerprint returns it; "" for
	// none. It counts only when TLS is set. crypto/tls has checked that
	// the client holds the certificate's private key whatever its
	// ClientAuth setting, so the fingerprint pins the client without a
	// chain to a trusted root, as Postfix's fingerprint matching does.
	ClientCert string

	// Trusted says that the client is one of our own by the caller's
	// knowledge (verdict.Session.Trusted, which verdict.Policy sets from
	// its TrustedNets): it may relay as a client in Policy.TrustedNets
	// may. Either is enough.
	Trusted bool
}

// Fingerprint returns the fingerprint of cert for Envelope.ClientCert and
// Policy.ClientCerts: the SHA-256 digest of its DER encoding, in lower-case
// hexadecimal without separators. On a server, the client's certificate
// is tls.ConnectionState.PeerCertificates[0].
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Check decides whether the client in e may send to e.Rcpt, and use
// e.MailFrom as sender, under p. The rules, in Postfix's order for a
// RCPT TO with smtpd_delay_reject (client, sender, then relay):
//
//  1. Without e.SMTPUTF8, a sender or recipient with a byte above 127 is
//     refused to everyone with 553 5.6.7, as Postfix's smtpd does ("Must
//     declare SMTPUTF8 to send unicode address"; the code RFC 6531 §3.5
//     and RFC 5248 give for non-ASCII addresses): such an address has no
//     meaning in SMTP, and the look-alikes an MTA down the line could fold
//     into one of our domains (a soft hyphen, full-width letters, an
//     ideographic full stop, a zero-width space) must not count as ours.
//  2. Submission mode (p.RequireAuth): a client neither authenticated nor
//     trusted is refused, 530 5.7.0.
//  3. A client neither authenticated nor trusted that uses one of our
//     LocalDomains as sender is spoofing us: 550 5.7.1. The null sender is
//     exempt. A sender address we cannot parse is refused from such a
//     client (501 5.1.7): an MTA behind us might read it as ours.
//  4. An authenticated client whose sender p.SenderLogin refuses:
//     553 5.7.1.
//  5. A recipient we cannot parse is refused (501 5.1.3).
//  6. A recipient in LocalDomains or RelayDomains whose local part does not
//     route elsewhere, or a bare "postmaster", may be sent to by anyone.
//  7. Any other recipient is relaying, allowed only to an authenticated
//     client, one in TrustedNets, or one whose TLS client certificate is
//     in ClientCerts; anyone else is refused with 554 5.7.1 "Relay access
//     denied".
//
// A client is trusted when e.Trusted is set, when its address is in
// TrustedNets (an IPv4-mapped IPv6 client matches IPv4 TrustedNets) or, on
// a TLS session, when its certificate's fingerprint is in ClientCerts.
// Refusals are Reject demands with Status Fail; allowed recipients give
// Status Pass. Scores are always 0.
//
// With e.SMTPUTF8 a domain in U-labels is mapped to A-labels by UTS #46
// non-transitional processing, as golang.org/x/net/idna's Lookup profile
// and Postfix (IDNA2008, no IDNA2003 compatibility) do: case and width are
// folded, ideographic full stops are dots, and ignored code points such as
// the soft hyphen vanish. The domain is ours when that mapping, which is
// what an MTA behind us resolves, gives one of our domains.
//
// Where the reference MTAs disagree, Check takes the side that cannot make
// an open relay:
//
//   - A local part that still routes (user%remote@local, remote!user@local,
//     "user@remote"@local) makes the address remote, as Postfix flags it
//     RESOLVE_FLAG_ROUTED, even for a relay domain (allow_untrusted_routing
//     = no); Haraka delivers it as a literal local mailbox, which is safe
//     only if nothing behind us honours the percent hack or bang paths.
//   - An unquoted second '@' (user@remote@local) is malformed, as in
//     Haraka, where Postfix would resolve it to the remote domain: both
//     refuse it.
//   - One trailing dot is accepted (Postfix), not refused (Haraka).
//   - Address literals and all-numeric domains are refused unless listed
//     (Exim's allow_domain_literals = false, Postfix's
//     resolve_numeric_domain = no).
//   - The relay refusal is 554 5.7.1, Postfix's reject_unauth_destination,
//     not its default defer_unauth_destination (454): a client that is not
//     allowed to relay will not be allowed later either.
func Check(p *Policy, e Envelope) verdict.Result {
	return compile(p).check(e)
}

// ErrNoHop is the error of Border for a message whose Received: fields name
// no client outside the trusted networks: there is no Received: field, or
// every one that records a client records one of ours (the message was
// submitted or generated inside).
var ErrNoHop = errors.New("relay: no Received field names an untrusted client")

var errMalformed = errors.New("relay: malformed header section")

// Hop is the first untrusted hop, read from Received: fields.
type Hop struct {
	IP   netip.Addr
	HELO string // the HELO/EHLO/LHLO name the field records ("" if it records none)

	// Auth reports that the field records an authenticated submission
	// (a with-protocol of RFC 3848: ESMTPA, ESMTPSA, LMTPA, ...). A caller
	// will usually not run IP-based checks against such a client.
	Auth bool
}

// Border reads the header section of message and walks its Received:
// fields from the top (the newest) down. A field whose client address is
// in trusted was written when one of our own hops handed the message on,
// so the walk goes on below it; the first field whose client address is
// outside trusted names the client that handed the message to our border,
// and Border returns it. Fields below that one were written by hosts we do
// not control and decide nothing.
//
// Border follows SpamAssassin's trust path (Mail::SpamAssassin::Message::
// Metadata::Received) with these choices, made where its rules would let a
// forged field in:
//
//   - Loopback addresses (127.0.0.0/8, ::1) are always trusted, as in
//     SpamAssassin: no outside client connects from them, and they are
//     where content filters re-inject mail. Nothing else is inferred:
//     private addresses are trusted only when listed.
//   - A field that records a client Border cannot read ends the walk with
//     an error, where SpamAssassin skips it: skipping could step past the
//     real client onto a field the client wrote. A field records a client
//     when it has a "from" clause, or, without one, a comment before "by"
//     that holds an address or opens with "from" ("(from NAME [192.0.2.1])
//     by host"; Sendmail's "(from root@localhost) by host" records none).
//   - A field without either records a step inside one host (Postfix
//     pickup "by host (Postfix, from userid 1000)", qmail "(qmail 1 invoked
//     from network)", Gmail's internal "by 2002:..."), not a hand-over,
//     and is passed over.
//   - An authenticated submission does not extend trust, as
//     SpamAssassin's "auth" token does: the authenticated client is
//     returned, with Hop.Auth set, and the caller decides.
//   - Only an address the receiving host wrote counts. A field holds text
//     its client chose (the HELO name, which some MTAs write verbatim,
//     parentheses included; a certificate name; recipient and sender;
//     lines of its data that continue the field), and that text can look
//     like the address the receiving host wrote. Border never picks one
//     reading: the walk goes on only if every address the field could be
//     read as recording is trusted, the client is named only if it is the
//     one untrusted address among them and the field's shape shows the
//     host wrote it, and otherwise the field is an error. Text the host
//     marks as the client's (after the "HELO", "EHLO" or "LHLO" that opens
//     a comment, as in qmail's "(HELO name)" and CommuniGate Pro's
//     "(account user HELO name)", and a helo= item) never counts as an
//     address. Hop.Auth is set only if every "with" protocol in the field
//     says so.
//   - Lines end where mail readers end them (package header: CRLF, LF,
//     or a bare CR), but a bare CR in a field down to the hop is an
//     error: our hops do not write one, and a client's text written
//     verbatim with one would cut the host's field in two.
//
// Border reads the formats of Postfix, Sendmail, OpenSMTPD and Gmail
// ("from helo (name [ip])"), Exim ("from name ([ip]:port helo=helo)",
// "from [ip] (helo=helo)", Exim 3's "[ip.port]"), Momentum
// ("([ip:port] helo=helo)"), Exchange and Microsoft SMTPSVC ("from helo
// (ip)", "from helo ([ip])", "from ([ip])"), qmail ("from name (HELO helo)
// (ip)", "(HELO )" for an empty HELO), CommuniGate Pro ("from [ip] (HELO
// helo)", "(account user HELO helo)"), XMail ("(ip:port)"), GMX ("(EHLO
// helo) [ip]"), QMQP and fetchmail ("from name [ip] by"), a bare "from ip
// by", and comment-only fields "(from name [ip]) by", IPv6 with or without
// the "IPv6:" tag, with and without a reverse DNS name. It reads the
// header section with the bounds of a mail reader, at most 1 MiB and 1000
// fields; a larger section is an error, even when the hop comes first.
//
// The error is ErrNoHop when no field names an untrusted client, and
// another error when the header cannot be read before one is found; the
// caller then keeps the session's own IP address.
func Border(message io.Reader, trusted []netip.Prefix) (Hop, error) {
	nets := netset.New(trusted)
	ours := func(ip netip.Addr) bool { return ip.IsLoopback() || nets.Contains(ip) }
	sec, err := header.Read(message)
	if err != nil {
		return Hop{}, fmt.Errorf("relay: %w", err)
	}
	for n, fld := range sec.Fields {
		if !validFieldName(fld.Name) {
			if n == 0 && strings.HasPrefix(string(fld.Raw), "From ") {
				continue // an mbox "From " line, as in a message saved from a mailbox file
			}
			return Hop{}, fmt.Errorf("relay: header field %d: %w", n+1, errMalformed)
		}
		if bareCR(fld.Raw) {
			// Mail readers end a line at a bare CR, and so does package
			// header; but in a field of our own hops it can only be the
			// client's text written verbatim (a HELO name, a recipient),
			// which then cut the host's field short.
			return Hop{}, fmt.Errorf("relay: header field %d: %w", n+1, errMalformed)
		}
		if !fld.Is("Received") {
			continue
		}
		// The raw value keeps its line ends, which tell the receiving
		// host's text from lines of the client's data (see hostPart).
		_, value, _ := strings.Cut(string(fld.Raw), ":")
		f, err := parseReceived(value, ours)
		if err != nil {
			return Hop{}, fmt.Errorf("relay: header field %d: %w", n+1, err)
		}
		if !f.hasFrom || f.trusted {
			continue
		}
		return Hop{IP: f.ip, HELO: f.helo, Auth: f.auth}, nil
	}
	return Hop{}, ErrNoHop
}

// bareCR reports whether b holds a CR not followed by LF.
func bareCR(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
	}
	return false
}

// validFieldName reports whether name is an RFC 5322 §3.6.8 field-name:
// printable ASCII other than ':'.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
