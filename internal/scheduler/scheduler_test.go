package scheduler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
)

// fakeClock is the scheduler's clock in these tests: time moves only when
// the test steps it, and the test knows when the scheduler waits again.
type fakeClock struct {
	t      *testing.T
	mu     sync.Mutex
	now    time.Time
	waiter *waiter // the scheduler's one pending After
	calls  int     // After calls so far
	called chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newClock(t *testing.T, unix float64) *fakeClock {
	return &fakeClock{t: t, now: time.Unix(0, int64(unix*1e9)).UTC(), called: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After replaces the pending waiter: the scheduler waits on one at a time.
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.waiter = w
	c.calls++
	select {
	case c.called <- struct{}{}:
	default:
	}
	return w.ch
}

// gen returns the number of After calls so far.
func (c *fakeClock) gen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// waitAfter waits until the scheduler has called After more than gen times:
// it has done everything due and waits again.
func (c *fakeClock) waitAfter(gen int) {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for c.gen() <= gen {
		select {
		case <-c.called:
		case <-deadline:
			c.t.Fatalf("the scheduler never waited again after %d waits", gen)
		}
	}
}

// set moves the clock to unix (forwards or backwards) and, when that wakes
// the scheduler, waits until it waits again.
func (c *fakeClock) set(unix float64) {
	c.t.Helper()
	c.mu.Lock()
	c.now = time.Unix(0, int64(unix*1e9)).UTC()
	gen, woke := c.calls, false
	if w := c.waiter; w != nil && !w.at.After(c.now) {
		w.ch <- c.now
		c.waiter, woke = nil, true
	}
	c.mu.Unlock()
	if woke {
		c.waitAfter(gen)
	}
}

// every is a schedule "@every d": the whole multiples of d since the epoch.
func every(rule string, d time.Duration) Entry {
	return Entry{Rule: rule, Spec: "@every " + d.String(), Next: func(after time.Time) time.Time {
		n := after.Sub(time.Unix(0, 0)) / d
		return time.Unix(0, 0).Add((n + 1) * d).UTC()
	}}
}

// fired is one call of Fire.
type fired struct {
	rule string
	at   int64 // unix seconds
}

// harness runs a Scheduler on a fake clock, recording what it fires.
type harness struct {
	t       *testing.T
	clock   *fakeClock
	s       *Scheduler
	log     *bytes.Buffer
	mu      sync.Mutex
	entries []Entry
	fired   []fired
	done    chan struct{}
	stop    context.CancelFunc
}

func start(t *testing.T, clock *fakeClock, entries []Entry, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock, entries: entries, log: &bytes.Buffer{}, done: make(chan struct{})}
	var logMu sync.Mutex
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, h.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Now, cfg.After, cfg.Grace = clock.Now, clock.After, time.Minute
	cfg.Schedules = func() []Entry {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(h.entries)
	}
	if cfg.Fire == nil {
		cfg.Fire = func(ctx context.Context, rule string, at time.Time) []engine.Action {
			return []engine.Action{{Kind: engine.Reply, Rule: rule, To: "#general", Text: "hi"}}
		}
	}
	fire := cfg.Fire
	cfg.Fire = func(ctx context.Context, rule string, at time.Time) []engine.Action {
		h.mu.Lock()
		h.fired = append(h.fired, fired{rule, at.Unix()})
		h.mu.Unlock()
		return fire(ctx, rule, at)
	}
	if cfg.Perform == nil {
		cfg.Perform = func(context.Context, []engine.Action) {}
	}
	h.s = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.s.Run(ctx); close(h.done) }()
	t.Cleanup(func() { cancel(); <-h.done })
	clock.waitAfter(0)
	return h
}

// reload swaps the schedules and waits until the scheduler has taken them.
func (h *harness) reload(entries ...Entry) {
	h.t.Helper()
	h.mu.Lock()
	h.entries = entries
	h.mu.Unlock()
	gen := h.clock.gen()
	h.s.Reload()
	h.clock.waitAfter(gen)
}

// finish stops the scheduler, waits for its firings in flight and returns
// everything it fired, in time then rule order.
func (h *harness) finish() []fired {
	h.stop()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.fired)
	slices.SortFunc(out, func(a, b fired) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return strings.Compare(a.rule, b.rule)
	})
	return out
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *harness) logText() string {
	<-h.done
	return h.log.String()
}

func TestFiresEachOccurrenceOnce(t *testing.T) {
	clock := newClock(t, 1000.5)
	h := start(t, clock, []Entry{every("a", 10*time.Second), every("b", 15*time.Second)}, Config{})
	// Step through time unevenly, including a step that spans several
	// occurrences (late by less than LateLimit: they all fire).
	for _, at := range []float64{1005, 1010, 1010.2, 1014.9, 1015, 1019, 1050, 1050, 1061} {
		clock.set(at)
	}
	want := []fired{{"b", 1005}, {"a", 1010}, {"a", 1020}, {"b", 1020}, {"a", 1030}, {"b", 1035}, {"a", 1040}, {"a", 1050}, {"b", 1050}, {"a", 1060}}
	if got := h.finish(); !slices.Equal(got, want) {
		t.Errorf("fired %v\nwant  %v", got, want)
	}
}

// TestMissedNotReplayed: an occurrence at or before the start is not fired,
// and occurrences missed by more than LateLimit (a suspended process) are
// skipped with a warning.
func TestMissedNotReplayed(t *testing.T) {
	clock := newClock(t, 1000) // an occurrence of "a" right now
	h := start(t, clock, []Entry{every("a", 10*time.Second)}, Config{})
	clock.set(1010)
	clock.set(1010 + 3600) // an hour frozen: only occurrences less than a minute late fire
	want := []fired{{"a", 1010}}
	for at := int64(4610 - 50); at <= 4610; at += 10 {
		want = append(want, fired{"a", at})
	}
	if got := h.finish(); !slices.Equal(got, want) {
		t.Errorf("fired %v\nwant  %v", got, want)
	}
	if log := h.logText(); !strings.Contains(log, "not replayed") || !strings.Contains(log, "rule=a") {
		t.Errorf("no warning about the missed occurrences:\n%s", log)
	}
}

// TestReload: an unchanged schedule keeps the last occurrence it fired, so
// that even a clock set back (NTP) around a reload never fires one twice; a
// changed or new schedule starts from the reload.
func TestReload(t *testing.T) {
	clock := newClock(t, 1000.5)
	h := start(t, clock, []Entry{every("a", 10*time.Second), every("b", 10*time.Second)}, Config{})
	clock.set(1010)
	clock.set(1005) // the clock is set back
	h.reload(every("a", 10*time.Second), every("b", 20*time.Second), every("c", 10*time.Second))
	clock.set(1010) // a must not fire 1010 again; b and c start at 1005
	clock.set(1020)
	h.reload(every("c", 10*time.Second)) // a and b are gone
	clock.set(1030)
	want := []fired{
		{"a", 1010}, {"b", 1010},
		{"c", 1010},
		{"a", 1020}, {"b", 1020}, {"c", 1020},
		{"c", 1030},
	}
	if got := h.finish(); !slices.Equal(got, want) {
		t.Errorf("fired %v\nwant  %v", got, want)
	}
}

// TestClaim: two replicas sharing a store fire each occurrence once
// between them; a claim that fails does not fire.
func TestClaim(t *testing.T) {
	c1, c2 := newClock(t, 1000.5), newClock(t, 1000.5)
	store, err := memory.NewRAM(nil, c1.Now)
	if err != nil {
		t.Fatal(err)
	}
	entries := []Entry{every("a", 10*time.Second), every("b", 20*time.Second)}
	h1 := start(t, c1, entries, Config{Claim: store.Claim})
	h2 := start(t, c2, entries, Config{Claim: store.Claim})
	for _, at := range []float64{1010, 1020, 1030, 1040} {
		c1.set(at)
		c2.set(at)
	}
	got := append(h1.finish(), h2.finish()...)
	slices.SortFunc(got, func(a, b fired) int { return int(a.at-b.at)*10 + strings.Compare(a.rule, b.rule) })
	want := []fired{{"a", 1010}, {"a", 1020}, {"b", 1020}, {"a", 1030}, {"a", 1040}, {"b", 1040}}
	if !slices.Equal(got, want) {
		t.Errorf("the two replicas fired %v\nwant %v (each once)", got, want)
	}

	clock := newClock(t, 1000.5)
	down := func(context.Context, string, time.Duration) (bool, error) { return false, errors.New("redis down") }
	h := start(t, clock, entries[:1], Config{Claim: down})
	clock.set(1010)
	if got := h.finish(); len(got) != 0 {
		t.Errorf("fired %v without a claim", got)
	}
	if log := h.logText(); !strings.Contains(log, "redis down") {
		t.Errorf("the failed claim is not logged:\n%s", log)
	}
}

func TestPanicRecovered(t *testing.T) {
	clock := newClock(t, 1000.5)
	var performed []string
	var mu sync.Mutex
	h := start(t, clock, []Entry{every("boom", 10*time.Second), every("bad-send", 10*time.Second), every("ok", 10*time.Second)}, Config{
		Fire: func(ctx context.Context, rule string, at time.Time) []engine.Action {
			if rule == "boom" {
				panic("fire exploded")
			}
			return []engine.Action{{Kind: engine.Reply, Rule: rule, To: "#ops", Text: "x"}}
		},
		Perform: func(ctx context.Context, acts []engine.Action) {
			if acts[0].Rule == "bad-send" {
				panic("send exploded")
			}
			mu.Lock()
			performed = append(performed, acts[0].Rule)
			mu.Unlock()
		},
	})
	clock.set(1010)
	clock.set(1020)
	if got := h.finish(); len(got) != 6 {
		t.Errorf("fired %v; want each rule at 1010 and 1020", got)
	}
	if !slices.Equal(performed, []string{"ok", "ok"}) {
		t.Errorf("performed %v", performed)
	}
	log := h.logText()
	for _, want := range []string{"rule=boom", "fire exploded", "rule=bad-send", "send exploded", "to=#ops"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestClaimKey(t *testing.T) {
	at := time.Unix(1700000000, 0)
	long1, long2 := strings.Repeat("x", 300), strings.Repeat("x", 299)+"y"
	tests := []struct {
		rule, want string
	}{
		{"standup", "sched/standup/1700000000"},
		{strings.Repeat("r", 183), "sched/" + strings.Repeat("r", 183) + "/1700000000"}, // 200 bytes
		{strings.Repeat("r", 184), ""},
		{long1, ""},
	}
	for _, tc := range tests {
		k := ClaimKey(tc.rule, at)
		if err := memory.CheckKey(k); err != nil {
			t.Errorf("ClaimKey(%d bytes): %v", len(tc.rule), err)
		}
		if tc.want != "" && k != tc.want {
			t.Errorf("ClaimKey(%q) = %q, want %q", tc.rule, k, tc.want)
		}
		if tc.want == "" && !strings.HasPrefix(k, "sched/sha256:") {
			t.Errorf("ClaimKey(%d bytes) = %q, want a hash", len(tc.rule), k)
		}
	}
	if ClaimKey(long1, at) == ClaimKey(long2, at) {
		t.Error("two long names share a claim")
	}
}
