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
// The sizes fit CI's time under -race on two cores; the full sizes are
// environment knobs:
//
//	MTAGUARD_LOAD_SESSIONS  concurrent sessions of TestLoad (10,000; 2,000 under -race or -short)
//	MTAGUARD_BOUND_KEYS     distinct keys of the bound tests (1,000,000; 100,000 under -race or -short)
//	MTAGUARD_MESSAGE_MIB    size of the big messages (50; 5 under -race)
//	MTAGUARD_REQUIRE_TOOLS  1: a missing redis-server fails instead of skipping
//
// The full sizes under the race detector (a few minutes):
//
//	MTAGUARD_LOAD_SESSIONS=10000 MTAGUARD_BOUND_KEYS=1000000 MTAGUARD_MESSAGE_MIB=50 \
//		go test -race -timeout 30m ./internal/acceptance/
package acceptance
