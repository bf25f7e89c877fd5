package verify

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/verdict"
)

// TableName is the name of the check made by NewTable.
const TableName = Name + "-table"

// Lookup tells whether address (without angle brackets) is a known
// recipient. An error is a failure to tell, never a "no".
type Lookup func(ctx context.Context, address string) (bool, error)

// MapLookup returns a Lookup of a fixed set of addresses, as Postfix's
// local_recipient_maps: an entry "user@example.org" knows that address, an
// entry "@example.org" every address of the domain. Case is ignored.
func MapLookup(addresses []string) Lookup {
	m := make(map[string]bool, len(addresses))
	for _, a := range addresses {
		m[strings.ToLower(strings.TrimSpace(a))] = true
	}
	return func(_ context.Context, addr string) (bool, error) {
		a := strings.ToLower(addr)
		if m[a] {
			return true, nil
		}
		if _, d, ok := address.Split(a); ok && m["@"+strings.TrimSuffix(d, ".")] {
			return true, nil
		}
		return false, nil
	}
}

// LoadTable reads a file of addresses for MapLookup: the first field of
// each line, as in a Postfix lookup table's source ("user@example.org
// anything"); empty lines and lines beginning with '#' are skipped.
func LoadTable(path string) (Lookup, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var addrs []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key := strings.Fields(line)[0]
		if !strings.Contains(key, "@") {
			return nil, fmt.Errorf("%s:%d: %q is not an address or @domain", path, n, verdict.Printable(key))
		}
		addrs = append(addrs, key)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return MapLookup(addrs), nil
}

// Table is the Rcpt stage check of recipients against a table of the
// caller's, without a probe: Postfix's reject_unlisted_recipient.
type Table struct {
	lookup Lookup
	k      *Checker // for the options and the demands
}

// NewTable returns a check of each recipient against lookup. Options.Domains
// names the domains the table speaks for (a recipient in another domain is
// not judged); Reject and Defer make an unknown recipient demand 550 5.1.1
// and a failed lookup 450 4.1.1, as for NewRecipient.
func NewTable(lookup Lookup, o *Options) *Table {
	return &Table{lookup: lookup, k: newChecker(nil, o, verdict.Rcpt)}
}

// Name returns TableName.
func (t *Table) Name() string { return TableName }

// Stage returns verdict.Rcpt.
func (t *Table) Stage() verdict.Stage { return verdict.Rcpt }

// Check looks the session's recipient up.
func (t *Table) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return t.Evaluate(ctx, s.Rcpt)
}

// Evaluate looks the address addr up: Pass when the table knows it, Fail
// when not, TempError when the lookup fails.
func (t *Table) Evaluate(ctx context.Context, addr string) verdict.Result {
	res := verdict.Result{Check: TableName}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	_, d, ok := address.Split(addr)
	if !ok || addr == "" {
		res.Reason = "no recipient domain: not looked up"
		return res
	}
	if len(t.k.o.Domains) > 0 && !t.k.inDomains(d) {
		res.Reason = "recipient not in a domain of the table"
		return res
	}
	res.Domain = strings.ToLower(strings.TrimSuffix(d, "."))
	known, err := t.lookup(ctx, addr)
	switch {
	case err != nil:
		res.Status, res.Err, res.Score = verdict.TempError, err, t.k.scores.TempError
		res.Reason = "recipient table lookup failed: " + verdict.Printable(err.Error())
		if t.k.o.Defer {
			res.Action, res.Code, res.Enhanced = verdict.TempFail, 450, "4.1.1"
		}
	case known:
		res.Status, res.Reason = verdict.Pass, "recipient "+verdict.Printable(addr)+" is listed"
	default:
		res.Status, res.Score = verdict.Fail, t.k.scores.Fail
		res.Reason = "recipient " + verdict.Printable(addr) + ": user unknown"
		if t.k.o.Reject {
			res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.1.1"
		}
	}
	return res
}
