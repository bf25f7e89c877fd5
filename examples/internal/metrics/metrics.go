// Package metrics exposes the decisions of the example programs as
// Prometheus metrics: a verdict.Policy's Observe hook feeds a Collector,
// and Serve publishes it on /metrics.
//
// The metrics (Prometheus naming conventions: base units, _total for
// counters):
//
//	mtaguard_decisions_total{stage,action}            decisions, by the action taken
//	mtaguard_decisions_would_total{stage,action}      decisions, by the action the policy reached (differs in monitor mode)
//	mtaguard_check_results_total{check,status}        check results, by RFC 8601 status
//	mtaguard_check_demands_total{check,action}        results that demanded an action
//	mtaguard_check_duration_seconds{check}            how long each check ran (histogram)
//	mtaguard_evaluation_duration_seconds{stage}       how long each stage's evaluation took (histogram)
//	mtaguard_greylist_results_total{outcome}          greylist: passed, deferred, error
//	mtaguard_greylist_entries                         triplets in the in-memory greylist store
//	mtaguard_dns_lookups_total, mtaguard_dns_cache_hits_total, mtaguard_dns_queries_total,
//	mtaguard_dns_failures_total, mtaguard_dns_cache_entries   from resolver.Stats
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/verdict"
)

// Collector counts decisions. Its Observe method is a verdict.Policy's
// Observe hook.
type Collector struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	would     *prometheus.CounterVec
	results   *prometheus.CounterVec
	demands   *prometheus.CounterVec
	checkDur  *prometheus.HistogramVec
	stageDur  *prometheus.HistogramVec
	greylist  *prometheus.CounterVec
}

// New returns a Collector with its own registry, which also holds the Go
// runtime and process collectors.
func New() *Collector {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20}
	c := &Collector{
		reg: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtaguard_decisions_total",
			Help: "Policy decisions, by stage and the action taken."}, []string{"stage", "action"}),
		would: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtaguard_decisions_would_total",
			Help: "Policy decisions, by stage and the action the policy reached (in monitor mode the action taken is accept)."}, []string{"stage", "action"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtaguard_check_results_total",
			Help: "Check results, by check and RFC 8601 status."}, []string{"check", "status"}),
		demands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtaguard_check_demands_total",
			Help: "Check results that demanded an action whatever the score, by check and action."}, []string{"check", "action"}),
		checkDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mtaguard_check_duration_seconds",
			Help: "How long each check ran.", Buckets: buckets}, []string{"check"}),
		stageDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mtaguard_evaluation_duration_seconds",
			Help: "How long the evaluation of a stage took.", Buckets: buckets}, []string{"stage"}),
		greylist: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mtaguard_greylist_results_total",
			Help: "Greylist outcomes: passed, deferred (first sighting or too early), error (store failure)."}, []string{"outcome"}),
	}
	reg.MustRegister(c.decisions, c.would, c.results, c.demands, c.checkDur, c.stageDur, c.greylist)
	return c
}

// Observe counts one decision.
func (c *Collector) Observe(o verdict.Observation) {
	stage := o.Stage.String()
	c.decisions.WithLabelValues(stage, o.Decision.Action.String()).Inc()
	c.would.WithLabelValues(stage, o.Decision.Would.String()).Inc()
	c.stageDur.WithLabelValues(stage).Observe(o.Elapsed.Seconds())
	for _, run := range o.Checks {
		r := run.Result
		c.results.WithLabelValues(r.Check, r.Status.String()).Inc()
		if r.Action != verdict.Accept {
			c.demands.WithLabelValues(r.Check, r.Action.String()).Inc()
		}
		c.checkDur.WithLabelValues(r.Check).Observe(run.Elapsed.Seconds())
		if r.Check == greylist.Name {
			switch {
			case r.Status == verdict.TempError:
				c.greylist.WithLabelValues("error").Inc()
			case r.Action == verdict.TempFail:
				c.greylist.WithLabelValues("deferred").Inc()
			default:
				c.greylist.WithLabelValues("passed").Inc()
			}
		}
	}
}

// Resolver publishes the counters of a resolver.
func (c *Collector) Resolver(stats func() resolver.Stats) {
	counter := func(name, help string, v func(resolver.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(stats())) })
	}
	c.reg.MustRegister(
		counter("mtaguard_dns_lookups_total", "DNS lookups asked of the resolver.", func(s resolver.Stats) uint64 { return s.Lookups }),
		counter("mtaguard_dns_cache_hits_total", "DNS lookups answered from the cache.", func(s resolver.Stats) uint64 { return s.CacheHits }),
		counter("mtaguard_dns_shared_total", "DNS lookups that joined an identical query in flight.", func(s resolver.Stats) uint64 { return s.Shared }),
		counter("mtaguard_dns_queries_total", "DNS queries sent upstream.", func(s resolver.Stats) uint64 { return s.Queries }),
		counter("mtaguard_dns_failures_total", "DNS queries that failed (timeout, SERVFAIL, REFUSED).", func(s resolver.Stats) uint64 { return s.Failures }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mtaguard_dns_cache_entries", Help: "Answers in the DNS cache."},
			func() float64 { return float64(stats().CacheEntries) }),
	)
}

// Greylist publishes the size of an in-memory greylist store.
func (c *Collector) Greylist(entries func() int) {
	c.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mtaguard_greylist_entries",
		Help: "Triplets in the in-memory greylist store."}, func() float64 { return float64(entries()) }))
}

// Handler serves the metrics in the Prometheus text format.
func (c *Collector) Handler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{})
}

// Serve publishes the metrics on http://addr/metrics until close is
// called. It returns the address it listens on.
func (c *Collector) Serve(addr string) (bound net.Addr, close func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", c.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under it: nothing left to serve
		}
	}()
	return ln.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
