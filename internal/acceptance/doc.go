// Package acceptance holds mtaguard's cross-package tests and nothing else:
// the DNS fault matrix (every check against SERVFAIL, REFUSED, timeouts,
// truncation, spoofed and garbage answers, CNAME loops and SPF limits, in
// memory and over the wire), load and resource bounds (10,000 concurrent
// sessions, a bounded resolver cache and greylist store, huge and hostile
// messages), and security properties (no open relay, no header injection,
// a border hop that forged Received fields cannot move, a greylist store
// outage). FUZZING.md lists every fuzz target of the module.
//
// The tests run with the rest:
//
//	go test -race ./internal/acceptance/
//
// Knobs: MTAGUARD_LOAD_SESSIONS sets the size of the load test (10,000 by
// default, 2,000 with -short), MTAGUARD_BOUND_KEYS the number of distinct
// keys of the bound tests (1,000,000; 100,000 with -race unless set), and
// MTAGUARD_REQUIRE_TOOLS=1 makes a missing redis-server a failure instead
// of a skip.
package acceptance
