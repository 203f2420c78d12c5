package memory

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// sweepEvery is how many writes RAM and File let pass between two sweeps
// of expired keys and claims, so that keys nobody reads again stay bounded.
const sweepEvery = 1024

// RAM is memory held in the process: for chat, and for each test file.
type RAM struct {
	now func() time.Time

	mu     sync.Mutex
	m      map[string]*entry
	claims map[string]time.Time // claim key → expiry
	leases map[string]lease     // lease key → holder
	writes int
}

// NewRAM returns memory holding seed (a test file's `memory:`: text,
// numbers, or lists of texts, as YAML decodes them), whose TTLs follow the
// clock now (time.Now when nil).
func NewRAM(seed map[string]any, now func() time.Time) (*RAM, error) {
	if now == nil {
		now = time.Now
	}
	r := &RAM{now: now, m: make(map[string]*entry, len(seed)), claims: make(map[string]time.Time), leases: make(map[string]lease)}
	for k, v := range seed {
		e, err := seedEntry(k, v)
		if err != nil {
			return nil, err
		}
		r.m[k] = e
	}
	return r, nil
}

// live returns the entry at key, removing it when it has expired.
func (r *RAM) live(key string, now time.Time) *entry {
	e := r.m[key]
	if e != nil && e.expired(now) {
		delete(r.m, key)
		return nil
	}
	return e
}

// Get implements Store.
func (r *RAM) Get(ctx context.Context, key string) (any, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.live(key, r.now()); e != nil {
		return e.value(), nil
	}
	return nil, nil
}

// Scan implements Store.
func (r *RAM) Scan(ctx context.Context, prefix string) (map[string]any, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var keys []string
	for k := range r.m {
		if strings.HasPrefix(k, prefix) && r.live(k, now) != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > MaxScan {
		keys = keys[:MaxScan]
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		out[k[len(prefix):]] = r.m[k].value()
	}
	return out, nil
}

// Write implements Store.
func (r *RAM) Write(ctx context.Context, w Write) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	next, err := apply(r.live(w.Key, now), w, now)
	if err != nil {
		return err
	}
	if next == nil {
		delete(r.m, w.Key)
	} else {
		r.m[w.Key] = next
	}
	r.sweep(now)
	return nil
}

// Claim implements Store.
func (r *RAM) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkClaim(key, ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if exp, ok := r.claims[key]; ok && now.Before(exp) {
		return false, nil
	}
	r.claims[key] = now.Add(ttl)
	r.sweep(now)
	return true, nil
}

// lease is a lease's holder and when it expires.
type lease struct {
	owner string
	exp   time.Time
}

// Lease implements Store.
func (r *RAM) Lease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := checkLease(key, owner, ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if l, ok := r.leases[key]; ok && l.owner != owner && now.Before(l.exp) {
		return false, nil
	}
	r.leases[key] = lease{owner, now.Add(ttl)}
	return true, nil
}

// sweep removes expired keys and claims every sweepEvery writes. r.mu is held.
func (r *RAM) sweep(now time.Time) {
	r.writes++
	if r.writes%sweepEvery != 0 {
		return
	}
	for k, e := range r.m {
		if e.expired(now) {
			delete(r.m, k)
		}
	}
	for k, exp := range r.claims {
		if !now.Before(exp) {
			delete(r.claims, k)
		}
	}
}

// Close implements Store; RAM holds nothing to release.
func (r *RAM) Close() error { return nil }
