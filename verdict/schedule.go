package verdict

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// prefetch starts, without waiting, the Prefetch of every check that
// wants it.
func (p *Policy) prefetch(ctx context.Context, s *Session, want func(Check) bool) {
	var pfs []Prefetcher
	for _, c := range p.Checks {
		if pf, ok := c.(Prefetcher); ok && want(c) {
			pfs = append(pfs, pf)
		}
	}
	if len(pfs) == 0 {
		return
	}
	facts := *s
	facts.Results = nil
	// The lookups may outlive this evaluation: that is the point. They
	// still end at the deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout())
	var wg sync.WaitGroup
	for _, pf := range pfs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = recover() }() // best effort: a panic only loses the prefetch
			pf.Prefetch(ctx, &facts)
		}()
	}
	go func() {
		wg.Wait()
		cancel()
	}()
}

// run runs checks concurrently, each once the checks it depends on have
// finished, and returns their results in the order of checks, each
// stamped with the stage stageOf gives for its check.
func (p *Policy) run(ctx context.Context, s *Session, checks []Check, stageOf func(Check) Stage) []CheckRun {
	timeout := p.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	n := len(checks)
	runs := make([]CheckRun, n)
	nodes := make([]node, n)
	deps := dependencies(checks)
	// Buffered so that an abandoned check's goroutine can still deliver its
	// result and exit instead of blocking forever.
	ch := make(chan int, n)
	for i, c := range checks {
		nodes[i].check = c
		if deps[i] != nil {
			nodes[i].done = make(chan struct{})
		}
	}
	for i := range nodes {
		for _, d := range deps[i] {
			if nodes[d].done == nil {
				nodes[d].done = make(chan struct{})
			}
		}
	}
	// The checks get a copy of the session: one abandoned at the deadline
	// may still read it while the caller goes on changing s.
	snap := *s
	snap.Results = s.Results[:len(s.Results):len(s.Results)]
	for i := range nodes {
		go nodes[i].run(ctx, &snap, nodes, deps[i], i, ch)
	}
	done := make([]bool, n)
wait:
	for got := 0; got < n; got++ {
		select {
		case i := <-ch:
			runs[i] = CheckRun{Result: nodes[i].result, Elapsed: nodes[i].elapsed}
			done[i] = true
		case <-ctx.Done():
			for i, ok := range done {
				if !ok {
					runs[i] = CheckRun{Result: Result{
						Check:  checks[i].Name(),
						Status: TempError,
						Reason: "check did not finish in time",
						Err:    ErrTimeout,
					}, Elapsed: timeout}
				}
			}
			break wait
		}
	}
	for i := range runs {
		runs[i].Result.Stage = stageOf(checks[i])
	}
	return runs
}

// node is one check of an evaluation. result and elapsed are written once,
// by the check's goroutine, before done is closed and its index is sent.
type node struct {
	check   Check
	result  Result
	elapsed time.Duration
	done    chan struct{} // closed when result is set; nil if nothing waits
}

func (n *node) run(ctx context.Context, s *Session, nodes []node, deps []int, i int, ch chan<- int) {
	var start time.Time
	defer func() {
		if v := recover(); v != nil {
			n.result = Result{
				Check:  n.check.Name(),
				Status: TempError,
				Reason: "internal error in check",
				Err:    fmt.Errorf("verdict: check %s panicked: %v", n.check.Name(), v),
			}
		}
		if !start.IsZero() {
			n.elapsed = time.Since(start)
		}
		if n.done != nil {
			close(n.done)
		}
		ch <- i
	}()
	if len(deps) > 0 {
		// The check sees the results of the checks it depends on, on a
		// copy of the session so that the others do not.
		c := *s
		for _, d := range deps {
			select {
			case <-nodes[d].done:
			case <-ctx.Done():
				return // abandoned with the rest at the deadline
			}
			c.Results = append(c.Results, nodes[d].result)
		}
		s = &c
	}
	start = time.Now()
	r := n.check.Check(ctx, s)
	if r.Check == "" {
		r.Check = n.check.Name()
	}
	n.result = r
}

// dependencies returns, for each check, the indexes of the checks it must
// wait for: those named by its After method, in this evaluation, leaving
// out any that would close a cycle.
func dependencies(checks []Check) [][]int {
	var deps [][]int
	for i, c := range checks {
		d, ok := c.(Dependent)
		if !ok {
			continue
		}
		for _, name := range d.After() {
			for j, o := range checks {
				if j == i || o.Name() != name || reaches(deps, j, i) {
					continue
				}
				if deps == nil {
					deps = make([][]int, len(checks))
				}
				deps[i] = append(deps[i], j)
			}
		}
	}
	if deps == nil {
		deps = make([][]int, len(checks))
	}
	return deps
}

// reaches reports whether from depends, directly or not, on to.
func reaches(deps [][]int, from, to int) bool {
	if deps == nil {
		return false
	}
	if from == to {
		return true
	}
	for _, d := range deps[from] {
		if reaches(deps, d, to) {
			return true
		}
	}
	return false
}
