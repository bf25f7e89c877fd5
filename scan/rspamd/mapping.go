package rspamd

import "github.com/mtaguard/mtaguard/verdict"

// Outcome is what an rspamd action becomes in a Result.
type Outcome struct {
	Status   verdict.Status
	Action   verdict.Action // the demand; Accept for none
	Code     int            // the SMTP reply of the demand; 0 for the policy's default
	Enhanced string
}

// Mapping maps rspamd's action names to outcomes. An action it does not
// name (a custom action) maps to the "" entry, or to Neutral with no
// demand without one.
type Mapping map[string]Outcome

// DefaultMapping maps the actions as rspamd's milter answers them
// (src/libserver/milter.c): reject is 554 5.7.1, soft reject 451 4.7.1,
// add header and rewrite subject accept the message marked, so they
// demand Quarantine. greylist is rspamd's threshold for greylisting, not
// a greylisting done (rspamd's greylist module turns into soft reject when
// it defers): it demands nothing, as in maddy, and leaves greylisting to
// the policy (package greylist). discard and quarantine, the two actions
// that accept and hide the message, demand Quarantine: this library
// never throws mail away unseen.
//
// DefaultMapping is read, never written, by this package. To change it,
// copy it (maps.Clone), change the copy, and pass it in Options.Mapping.
var DefaultMapping = Mapping{
	"reject":          {Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1"},
	"soft reject":     {Status: verdict.SoftFail, Action: verdict.TempFail, Code: 451, Enhanced: "4.7.1"},
	"rewrite subject": {Status: verdict.SoftFail, Action: verdict.Quarantine},
	"add header":      {Status: verdict.SoftFail, Action: verdict.Quarantine},
	"greylist":        {Status: verdict.Neutral},
	"no action":       {Status: verdict.Pass},
	"discard":         {Status: verdict.Fail, Action: verdict.Quarantine},
	"quarantine":      {Status: verdict.Fail, Action: verdict.Quarantine},
	"":                {Status: verdict.Neutral},
}

// outcome returns the mapping of action.
func (m Mapping) outcome(action string) Outcome {
	if o, ok := m[action]; ok {
		return o
	}
	if o, ok := m[""]; ok {
		return o
	}
	return Outcome{Status: verdict.Neutral}
}
