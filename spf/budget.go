package spf

import (
	"context"
	"net"
	"net/netip"
)

// The limits of RFC 7208 §4.6.4 on one evaluation. The library enforces
// the terms and void lookups it makes; the lookups this package adds (the
// records fetched ahead, the %{p} macro, the explanation) are bounded here,
// so that the records of a domain, whatever they hold, cannot make one
// check ask more than maxQueries questions.
const (
	// maxTerms is the number of terms that query the DNS (include, a,
	// mx, ptr, exists, redirect) one evaluation may hold.
	maxTerms = 10
	// maxNames is the number of names of one mx or ptr term whose
	// addresses are looked up.
	maxNames = 10
	// maxQueries bounds the DNS questions of one check: the record;
	// ten terms each asking one question and, for mx and ptr, one address
	// question for each of at most ten names (an a or exists term asks at
	// most two); at most ten records fetched
	// ahead that the evaluation never reached (ahead); the %{p} macro's
	// PTR question and its ten names; the explanation (§6.2, not
	// counted by the RFC).
	maxQueries = 1 + maxTerms*(1+maxNames) + maxTerms + (1 + maxNames) + 1
)

// errBudget is what a query over maxQueries gets: a failure, never
// evidence. It does not happen with the library's own limits in place;
// the count is the guard that keeps the bound true whatever changes.
var errBudget = &net.DNSError{Err: "spf: the check's query budget is spent", IsTemporary: true}

// spend counts one question; false when the budget is spent.
func (a *libResolver) spend() bool {
	return a.queries.Add(1) <= maxQueries
}

func (a *libResolver) txt(ctx context.Context, name string) ([]string, error) {
	if !a.spend() {
		return nil, errBudget
	}
	return a.r.LookupTXT(ctx, name)
}

func (a *libResolver) mx(ctx context.Context, name string) ([]*net.MX, error) {
	if !a.spend() {
		return nil, errBudget
	}
	return a.r.LookupMX(ctx, name)
}

func (a *libResolver) netIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if !a.spend() {
		return nil, errBudget
	}
	return a.r.LookupNetIP(ctx, network, host)
}

func (a *libResolver) addr(ctx context.Context, addr string) ([]string, error) {
	if !a.spend() {
		return nil, errBudget
	}
	return a.r.LookupAddr(ctx, addr)
}
