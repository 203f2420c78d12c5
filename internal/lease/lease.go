// Package lease keeps one replica in charge of something every replica
// could do, such as answering on RTM, where every connection sees every
// event (SPEC §9): a Holder renews a lease in a store the replicas share
// and says whether this replica holds it.
//
// A Holder counts the lease as held only until its TTL after the start of
// the last successful renewal, so a replica cut off from the store stops
// acting no later than the moment another one can take the lease over.
package lease

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Defaults for Config.
const (
	DefaultTTL = 5 * time.Second
	renewParts = 5           // a lease is renewed every TTL/renewParts,
	maxEvery   = time.Second // or every second when that is sooner
)

// Config configures a Holder.
type Config struct {
	// Lease acquires or renews key for owner for ttl, as memory.Store's
	// Lease does.
	Lease func(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	Key   string
	Owner string // unique to this replica
	// TTL is how long a lease lasts without renewal (DefaultTTL when 0):
	// how long a dead holder keeps the others waiting, at most.
	TTL time.Duration
	// What is what the holder does, for the log: "RTM with Redis".
	What   string
	Logger *slog.Logger
}

// A Holder renews a lease while Run runs. Held is safe for concurrent use.
type Holder struct {
	cfg   Config
	epoch time.Time    // monotonic base for until
	until atomic.Int64 // the lease is held until epoch plus this many ns
}

// New returns a Holder that holds nothing until Run has acquired the lease.
func New(cfg Config) *Holder {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Holder{cfg: cfg, epoch: time.Now()}
}

// Held reports whether this replica holds the lease now.
func (h *Holder) Held() bool { return int64(time.Since(h.epoch)) < h.until.Load() }

// Run acquires or renews the lease every TTL/5 (at most a second) until ctx ends, logging
// each change: when this replica starts or stops holding the lease, and
// the first of a run of failures to reach the store. When ctx ends, a
// lease held is let go (renewed for a millisecond), so that another
// replica takes over at its next renewal rather than after the TTL.
func (h *Holder) Run(ctx context.Context) {
	defer h.release(ctx)
	every := min(h.cfg.TTL/renewParts, maxEvery)
	logged := "" // the state last logged
	failing := false
	for {
		start := time.Since(h.epoch)
		tctx, cancel := context.WithTimeout(ctx, every)
		won, err := h.cfg.Lease(tctx, h.cfg.Key, h.cfg.Owner, h.cfg.TTL)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if !failing {
				h.cfg.Logger.Warn(h.cfg.What+": the lease could not be renewed; this replica stops answering when it expires",
					"key", h.cfg.Key, "error", err.Error())
			}
			failing = true
		case won:
			failing = false
			h.until.Store(int64(start + h.cfg.TTL))
		default:
			failing = false
			h.until.Store(0)
		}
		state := "waiting"
		if h.Held() {
			state = "held"
		}
		if state != logged && (err == nil || logged == "held") {
			if state == "held" {
				h.cfg.Logger.Info(h.cfg.What+": this replica answers (lease held)", "key", h.cfg.Key, "owner", h.cfg.Owner)
			} else {
				h.cfg.Logger.Info(h.cfg.What+": waiting: another replica answers", "key", h.cfg.Key, "owner", h.cfg.Owner)
			}
			logged = state
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// release lets the lease go if this replica holds it.
func (h *Holder) release(ctx context.Context) {
	if !h.Held() {
		return
	}
	h.until.Store(0)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if _, err := h.cfg.Lease(ctx, h.cfg.Key, h.cfg.Owner, time.Millisecond); err != nil {
		h.cfg.Logger.Warn(h.cfg.What+": letting the lease go failed; another replica takes over when it expires", "key", h.cfg.Key, "error", err.Error())
		return
	}
	h.cfg.Logger.Info(h.cfg.What+": lease let go", "key", h.cfg.Key, "owner", h.cfg.Owner)
}
