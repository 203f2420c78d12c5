package lease_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/lease"
	"github.com/rulebot/rulebot/internal/logbuf"
	"github.com/rulebot/rulebot/internal/memory"
)

// syncBuffer is a log safe for concurrent writes.
type syncBuffer = logbuf.Buffer

// eventually polls cond for up to 10 s: generous on a loaded machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTakeOver: of two holders on one store, one holds the lease; when it
// stops, the other takes over (at once when it let the lease go: the TTL
// is an hour here, which no test waits for).
func TestTakeOver(t *testing.T) {
	for _, ttl := range []time.Duration{300 * time.Millisecond, time.Hour} {
		t.Run(ttl.String(), func(t *testing.T) { testTakeOver(t, ttl) })
	}
}

func testTakeOver(t *testing.T, ttl time.Duration) {
	store, err := memory.NewRAM(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs [2]syncBuffer
	var holders [2]*lease.Holder
	var cancels [2]context.CancelFunc
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range holders {
		holders[i] = lease.New(lease.Config{Lease: store.Lease, Key: "rtm", Owner: string(rune('a' + i)),
			TTL: ttl, What: "RTM with Redis", Logger: slog.New(slog.NewTextHandler(&logs[i], nil))})
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		defer cancel()
		wg.Go(func() { holders[i].Run(ctx) })
		if i == 0 {
			eventually(t, "the first holder holds the lease", holders[0].Held)
		}
	}
	eventually(t, "the second holder waits", func() bool {
		return strings.Contains(logs[1].String(), "waiting: another replica answers")
	})
	for range 10 { // renewals keep it
		if !holders[0].Held() || holders[1].Held() {
			t.Fatalf("held: %v, %v; want the first only", holders[0].Held(), holders[1].Held())
		}
		time.Sleep(30 * time.Millisecond)
	}
	if ttl == time.Hour {
		if got := logs[1].String(); strings.Count(got, "waiting") != 1 {
			t.Errorf("the waiting replica should log once:\n%s", got)
		}
	}
	cancels[0]()
	eventually(t, "the second holder takes over", holders[1].Held)
	if !strings.Contains(logs[1].String(), "RTM with Redis: this replica answers (lease held)") {
		t.Errorf("the take-over was not logged:\n%s", logs[1].String())
	}
}

// TestStoreFails: a holder whose renewals fail stops holding the lease
// when it expires, and says why.
func TestStoreFails(t *testing.T) {
	var failing atomic.Bool
	store, err := memory.NewRAM(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	h := lease.New(lease.Config{Key: "rtm", Owner: "a", TTL: 300 * time.Millisecond, What: "RTM with Redis",
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Lease: func(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
			if failing.Load() {
				return false, errors.New("redis: connection refused")
			}
			return store.Lease(ctx, key, owner, ttl)
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the lease is held", h.Held)
	failing.Store(true)
	eventually(t, "the lease is let go", func() bool { return !h.Held() })
	if got := log.String(); !strings.Contains(got, "could not be renewed") || !strings.Contains(got, "connection refused") {
		t.Errorf("the failure was not logged:\n%s", got)
	}
}
