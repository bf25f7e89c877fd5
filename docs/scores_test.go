package docs_test

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/limit"
	"github.com/mtaguard/mtaguard/message"
	"github.com/mtaguard/mtaguard/scan/clamd"
	"github.com/mtaguard/mtaguard/screen"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verify"
)

// scoreRow ties a row of deploy.md's score table to the fields of a
// package's DefaultScores, in the order the row's "a / b" cell lists them.
type scoreRow struct {
	check, result string
	scores        any // the package's DefaultScores value
	fields        []string
}

var scoreRows = []scoreRow{
	{fcrdns.Name, "pass", fcrdns.DefaultScores, []string{"Pass"}},
	{fcrdns.Name, "fail (PTR does not resolve back)", fcrdns.DefaultScores, []string{"Fail"}},
	{fcrdns.Name, "permerror (no PTR at all)", fcrdns.DefaultScores, []string{"PermError"}},
	{fcrdns.Name, "generic name (dynamic pool)", fcrdns.DefaultScores, []string{"Generic"}},
	{fcrdns.Name, "temperror", fcrdns.DefaultScores, []string{"TempError"}},
	{helo.Name, "invalid, bare IP, localhost", helo.DefaultScores, []string{"Invalid"}},
	{helo.Name, "not an FQDN", helo.DefaultScores, []string{"NotFQDN"}},
	{helo.Name, "address literal not the client's", helo.DefaultScores, []string{"LiteralMismatch"}},
	{helo.Name, "unknown TLD / private TLD", helo.DefaultScores, []string{"UnknownTLD", "PrivateTLD"}},
	{helo.Name, "one of our own names from outside", helo.DefaultScores, []string{"ForgedLocal"}},
	{helo.Name, "name has no DNS", helo.DefaultScores, []string{"NoDNS"}},
	{helo.Name, "dynamic-looking name", helo.DefaultScores, []string{"Dynamic"}},
	{helo.Name, "inconsistent / consistent with the client", helo.DefaultScores, []string{"Inconsistent", "Consistent"}},
	{"spf", "pass", spf.DefaultScores, []string{"Pass"}},
	{"spf", "none / neutral", spf.DefaultScores, []string{"None", "Neutral"}},
	{"spf", "softfail / fail", spf.DefaultScores, []string{"SoftFail", "Fail"}},
	{"spf", "permerror / temperror", spf.DefaultScores, []string{"PermError", "TempError"}},
	{verify.SenderDomainName, "malformed / unknown domain / null MX", verify.DefaultSenderDomainScores, []string{"Invalid", "Unknown", "NullMX"}},
	{verify.Name, "refused by the address's server / undecided", verify.DefaultScores, []string{"Fail", "TempError"}},
	{"greylist", "passed / auto-allowed", greylist.DefaultScores, []string{"Passed", "AutoAllowed"}},
	{"greylist", "deferred / store error", greylist.DefaultScores, []string{"Deferred", "StoreError"}},
	{dkim.Name, "pass / fail", dkim.DefaultScores, []string{"Pass", "Fail"}},
	{dkim.Name, "neutral (sha1 only) / permerror", dkim.DefaultScores, []string{"Neutral", "PermError"}},
	{dkim.Name, "none (unsigned) / temperror", dkim.DefaultScores, []string{"None", "TempError"}},
	{dmarc.Name, "none (no record) / temperror", dmarc.DefaultScores, []string{"None", "TempError"}},
	{dmarc.Name, "pass", dmarc.DefaultScores, []string{"Pass"}},
	{dmarc.Name, "fail with p=reject / quarantine / none", dmarc.DefaultScores, []string{"Reject", "Quarantine", "Monitor"}},
	{dmarc.Name, "permerror / no single From domain", dmarc.DefaultScores, []string{"PermError", "BadFrom"}},
	{message.Name, "several From / leading continuation / bare CR / field without colon / header too large", message.DefaultScores, []string{"SeveralFrom", "LeadingContinuation", "BareCR", "NoColon", "HeaderTooLarge"}},
	{message.Name, "no From / no Date / several Date / bad Date", message.DefaultScores, []string{"NoFrom", "NoDate", "SeveralDate", "BadDate"}},
	{message.Name, "Date in the future / in the past", message.DefaultScores, []string{"DateFuture", "DatePast"}},
	{message.Name, "repeated single field (times the field's weight) / no Message-ID", message.DefaultScores, []string{"Duplicate", "NoMessageID"}},
	{message.Name, "bad field name / non-ASCII field name / long line", message.DefaultScores, []string{"BadName", "NonASCIIName", "LongLine"}},
	{message.Name, "NUL / bare LF / 8-bit header / 8-bit body", message.DefaultScores, []string{"NUL", "BareLF", "EightBitHeader", "EightBitBody"}},
	{message.Name, "bounce to several recipients", message.DefaultScores, []string{"MultiRecipientBounce"}},
	{clamd.Name, "virus found / clean / scan failed / too large to scan", clamd.DefaultScores, []string{"Found", "Clean", "Error", "Unscanned"}},
	{screen.Name, "pregreet / pipelining / non-SMTP command / bare LF / passed", screen.DefaultScores, []string{"Pregreet", "Pipelining", "NonSMTP", "BareLF", "Passed"}},
	{limit.Name, "within / over a limit / store failed", limit.DefaultScores, []string{"Within", "Over", "StoreError"}},
}

// TestScoreTable checks the score table of deploy.md against the packages'
// DefaultScores, and that every score of those packages has a row, so the
// table cannot drift from the code.
func TestScoreTable(t *testing.T) {
	b, err := os.ReadFile("deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	table := map[[2]string]string{} // check, result -> score cell
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || cells[0] != "" {
			continue
		}
		key := [2]string{strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])}
		table[key] = strings.TrimSpace(cells[3])
	}
	covered := map[reflect.Type]map[string]bool{}
	for _, r := range scoreRows {
		v := reflect.ValueOf(r.scores)
		if covered[v.Type()] == nil {
			covered[v.Type()] = map[string]bool{}
		}
		cell, ok := table[[2]string{r.check, r.result}]
		if !ok {
			t.Errorf("deploy.md has no score row %q | %q", r.check, r.result)
			continue
		}
		parts := strings.Split(strings.TrimSuffix(cell, " each"), " / ")
		if len(parts) != len(r.fields) {
			t.Errorf("row %s %q: cell %q has %d scores, want %d (%v)", r.check, r.result, cell, len(parts), len(r.fields), r.fields)
			continue
		}
		for i, name := range r.fields {
			f := v.FieldByName(name)
			if !f.IsValid() {
				t.Errorf("%s has no score %s", v.Type(), name)
				continue
			}
			covered[v.Type()][name] = true
			got, err := strconv.ParseFloat(strings.TrimPrefix(parts[i], "+"), 64)
			if err != nil || got != f.Float() {
				t.Errorf("row %s %q: %s is %q in deploy.md, %v in %s", r.check, r.result, name, parts[i], f.Float(), v.Type())
			}
		}
	}
	for typ, names := range covered {
		for i := range typ.NumField() {
			f := typ.Field(i)
			// helo's bare IP and localhost share the invalid row.
			if f.Type.Kind() == reflect.Float64 && !names[f.Name] && !(typ == reflect.TypeOf(helo.Scores{}) && (f.Name == "BareIP" || f.Name == "Localhost")) {
				t.Errorf("deploy.md's score table lacks %s.%s", typ, f.Name)
			}
		}
	}
	// The shared row says "3 each": check that they are.
	if helo.DefaultScores.BareIP != helo.DefaultScores.Invalid || helo.DefaultScores.Localhost != helo.DefaultScores.Invalid {
		t.Errorf("helo's invalid, bare IP and localhost scores differ: the table's row says one for all")
	}
}
