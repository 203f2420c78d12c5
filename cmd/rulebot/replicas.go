package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/rulebot/rulebot/internal/lease"
	"github.com/rulebot/rulebot/internal/memory"
)

// rtmLeaseKey is the lease of the replica that answers on RTM.
const rtmLeaseKey = "rtm"

// rtmGate lets only one of the replicas sharing a store answer on RTM,
// where every connection sees every event (SPEC §9): the one holding a
// lease in the store. On Socket Mode, where Slack gives each event to one
// connection, it does nothing and every replica answers its share.
type rtmGate struct {
	holder atomic.Pointer[lease.Holder] // set on RTM only
}

// claim is mem's Claim, refusing every message while another replica
// holds the RTM lease.
func (g *rtmGate) claim(mem memory.Store) func(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return func(ctx context.Context, key string, ttl time.Duration) (bool, error) {
		if h := g.holder.Load(); h != nil && !h.Held() {
			return false, nil
		}
		return mem.Claim(ctx, key, ttl)
	}
}

// lead starts holding the RTM lease in mem until ctx ends or the returned
// stop is called, which waits for it to end.
func (g *rtmGate) lead(ctx context.Context, mem memory.Store, logger *slog.Logger) (stop func()) {
	host, _ := os.Hostname()
	h := lease.New(lease.Config{
		Lease:  mem.Lease,
		Key:    rtmLeaseKey,
		Owner:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8]),
		What:   "RTM with Redis",
		Logger: logger,
	})
	g.holder.Store(h)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	return func() { cancel(); <-done }
}
