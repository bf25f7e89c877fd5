// Package bench holds mtaguard's whole-session benchmarks: one Policy with
// every check, over a realistic zone served with a per-query latency L, next
// to a baseline measured in the same run (the same checks' pure functions
// called one after another on a resolver without cache, as a user would write
// them by hand on the base libraries).
//
// The package has no API: everything is in its _test.go files. The results,
// the commands that produce them and what limits each figure are in
// BENCHMARKS.md at the root of the module. Benchmarks of one package's own
// cost (a resolver cache hit, the greylist store, DKIM over 1 MiB) live beside
// that package and are referenced from there.
//
// A smoke run of the whole suite, one iteration each, takes well under two
// minutes:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench
package bench
