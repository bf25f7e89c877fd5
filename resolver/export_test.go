package resolver

import "time"

// SetClock makes r's cache read the time from now.
func (r *Resolver) SetClock(now func() time.Time) { r.now = now }

// CacheLen returns the number of entries in r's cache, expired ones included.
func (r *Resolver) CacheLen() int { return r.cache.len() }
