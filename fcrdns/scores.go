package fcrdns

// Scores are the points the check adds to a session's score, on the scale
// of verdict.Policy (a strong single signal is about 3 to 6, a trust signal
// is negative).
type Scores struct {
	Pass      float64 // a PTR name resolves back to the client
	Fail      float64 // PTR names exist, none resolves back
	PermError float64 // no PTR record at all
	TempError float64 // a DNS failure prevented the answer; keep it 0 or tiny
	Generic   float64 // added when the name looks like an access provider's (see Generic)
}

// DefaultScores are the scores Check uses. They follow rspamd's weights:
// no PTR record at all (RDNS_NONE plus HFILTER_HOSTNAME_UNKNOWN) weighs
// more than a name that does not confirm, since every large sender
// publishes one; a confirmed name is a weak trust signal, since spammers'
// hosting has one too; and a DNS failure is no evidence (rspamd's
// RDNS_DNSFAIL weighs 0).
//
// DefaultScores is read, never written, by this package. To change the
// scores, copy it, change the copy, and pass it in Options.Scores.
var DefaultScores = Scores{
	Pass:      -0.5,
	Fail:      2,
	PermError: 3,
	TempError: 0,
	Generic:   1.5,
}
