package helo

// Scores are the points each sub-check adds when it fires, on the scale of
// verdict.Policy (a strong single signal is about 3 to 6, a weak one about
// 0.5 to 1, a trust signal negative). The field comments name the
// sub-check as it appears in a Reason.
type Scores struct {
	Invalid         float64 // "invalid": not a domain or address literal (Postfix reject_invalid_helo_hostname)
	BareIP          float64 // "bare-ip": an address without brackets
	LiteralMismatch float64 // "literal-mismatch": an address literal that is not the client's address
	Localhost       float64 // "localhost": localhost, localhost.localdomain or a name under .localhost
	ForgedLocal     float64 // "forged-local": one of Options.LocalNames from a client not in Options.TrustedNets
	NotFQDN         float64 // "not-fqdn": a name without a dot (Postfix reject_non_fqdn_helo_hostname)
	PrivateTLD      float64 // "private-tld": a name under a private or special-use top-level domain (.local, .lan, .test, ...)
	UnknownTLD      float64 // "unknown-tld": a top-level domain the public suffix list does not know
	NoDNS           float64 // "no-dns": the name has no A, AAAA or MX record (Postfix reject_unknown_helo_hostname)
	Inconsistent    float64 // "inconsistent": the name resolves, but neither to the client nor to its rDNS domain
	Consistent      float64 // "consistent": the name resolves to the client or shares its rDNS domain
}

// DefaultScores are the scores Check uses, chosen after rspamd's hfilter
// weights: a HELO no mail server would send (invalid, bare address,
// localhost, no dot) weighs about 3; claiming one of our own names from
// outside weighs 6, enough to quarantine alone under the example policy,
// since an internal name from an external address must authenticate; a
// name that does not exist weighs 1.5; a mismatch with the client only 0.5,
// as RFC 5321 §4.1.4 forbids refusing mail for it and large senders'
// HELO names often do not match (maddy removed its strict check for that
// reason); a consistent HELO earns a little trust.
//
// DefaultScores is read, never written, by this package. To change the
// scores, copy it, change the copy, and pass it in Options.Scores.
var DefaultScores = Scores{
	Invalid:         3,
	BareIP:          3,
	LiteralMismatch: 2,
	Localhost:       3,
	ForgedLocal:     6,
	NotFQDN:         2.5,
	PrivateTLD:      1,
	UnknownTLD:      2,
	NoDNS:           1.5,
	Inconsistent:    0.5,
	Consistent:      -0.5,
}
