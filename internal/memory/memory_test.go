package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a test's clock: it moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// kind of store under test, and how to open a fresh, empty one.
type subject struct {
	name        string
	unavailable string // why this store cannot be tested here
	// open returns an empty store for t, and its clock (nil: real time).
	open func(t *testing.T) (Store, *fakeClock)
}

// subjects are the three stores. The Redis one is a redis-server that
// lives as long as t, shared by t's subtests, each under its own bot name.
func subjects(t *testing.T) []subject {
	addr, problem := launchRedis(t, nil)
	return []subject{
		{"ram", "", func(t *testing.T) (Store, *fakeClock) {
			c := newFakeClock()
			s, err := NewRAM(nil, c.Now)
			if err != nil {
				t.Fatal(err)
			}
			return s, c
		}},
		{"file", "", func(t *testing.T) (Store, *fakeClock) {
			c := newFakeClock()
			s, err := OpenFile(filepath.Join(t.TempDir(), DefaultFile), c.Now)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, c
		}},
		{"redis", problem, func(t *testing.T) (Store, *fakeClock) {
			s, err := OpenRedis(context.Background(), RedisConfig{URL: "redis://" + addr, Bot: t.Name()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, nil
		}},
	}
}

// h drives one case against one store.
type h struct {
	t     *testing.T
	ctx   context.Context
	s     Store
	clock *fakeClock // nil: real time (Redis)
	wrote time.Time  // time of the last write, for real-time TTL checks
}

// ttl is the TTL the cases use: short, since Redis' clock is real.
const ttl = time.Second

func (h *h) write(w Write) {
	h.t.Helper()
	h.wrote = time.Now()
	if err := h.s.Write(h.ctx, w); err != nil {
		h.t.Fatalf("Write(%+v): %v", w, err)
	}
}

// fails checks that w fails with exactly the message want and kind kind.
func (h *h) fails(w Write, kind error, want string) {
	h.t.Helper()
	err := h.s.Write(h.ctx, w)
	if err == nil || err.Error() != want || !errors.Is(err, kind) {
		h.t.Fatalf("Write(%v %.50q) = %v, want %q (%v)", w.Op, w.Key, err, want, kind)
	}
}

func (h *h) get(key string, want any) {
	h.t.Helper()
	got, err := h.s.Get(h.ctx, key)
	if err != nil || !reflect.DeepEqual(got, want) {
		h.t.Fatalf("Get(%q) = %#v, %v; want %#v", key, got, err, want)
	}
}

// fresh checks a key written with ttl before it may have expired; on real
// time, a machine so slow that half the TTL has passed skips the check.
func (h *h) fresh(key string, want any) {
	h.t.Helper()
	if h.clock == nil && time.Since(h.wrote) > ttl/2 {
		h.t.Logf("Get(%q) not checked: the machine is too slow for a %v TTL", key, ttl)
		return
	}
	h.get(key, want)
}

// advance moves the clock by d; on real time, it sleeps.
func (h *h) advance(d time.Duration) {
	if h.clock != nil {
		h.clock.Advance(d)
		return
	}
	time.Sleep(d)
}

// eventually checks cond now on a fake clock; on real time, it polls it
// for up to 20 seconds (Redis expires keys on its own clock).
func (h *h) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if h.clock != nil || time.Now().After(deadline) {
			h.t.Fatalf("%s: not so", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *h) gone(key string) {
	h.t.Helper()
	h.eventually(key+" expired", func() bool {
		v, err := h.s.Get(h.ctx, key)
		return err == nil && v == nil
	})
}

func (h *h) scan(prefix string, want map[string]any) {
	h.t.Helper()
	got, err := h.s.Scan(h.ctx, prefix)
	if err != nil || got == nil || !reflect.DeepEqual(got, want) {
		h.t.Fatalf("Scan(%q) = %v, %v; want %v", prefix, got, err, want)
	}
}

func (h *h) claim(key string, want bool) {
	h.t.Helper()
	got, err := h.s.Claim(h.ctx, key, ttl)
	if err != nil || got != want {
		h.t.Fatalf("Claim(%q) = %v, %v; want %v", key, got, err, want)
	}
}

func (h *h) lease(key, owner string, want bool) {
	h.t.Helper()
	got, err := h.s.Lease(h.ctx, key, owner, ttl)
	if err != nil || got != want {
		h.t.Fatalf("Lease(%q, %q) = %v, %v; want %v", key, owner, got, err, want)
	}
}

func set(key, text string) Write             { return Write{Key: key, Op: Set, Text: text} }
func add(key string, n float64) Write        { return Write{Key: key, Op: Add, Number: n} }
func push(key, text string, keep int) Write  { return Write{Key: key, Op: Push, Text: text, Keep: keep} }
func del(key string) Write                   { return Write{Key: key, Op: Delete} }
func withTTL(w Write, d time.Duration) Write { w.TTL = d; return w }

// items returns "PREFIX0" … "PREFIXn-1".
func items(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(prefix, i))
	}
	return out
}

// TestBehaviour is SPEC §6's memory, one table of cases run against RAM,
// the file store and a real Redis.
func TestBehaviour(t *testing.T) {
	long := strings.Repeat("k", MaxKey)
	cases := []struct {
		name      string
		clockOnly bool // needs a fake clock
		run       func(h *h)
	}{
		{name: "set and get", run: func(h *h) {
			h.get("a", nil)
			h.write(set("a", "hello"))
			h.get("a", "hello")
			h.write(set("a", "again"))
			h.get("a", "again")
			h.write(set("empty", ""))
			h.get("empty", "")
			h.write(set("ü/🙂 with spaces", "x"))
			h.get("ü/🙂 with spaces", "x")
		}},
		{name: "text 12 is not a number", run: func(h *h) {
			h.write(set("n", "12"))
			h.get("n", "12")
			h.fails(add("n", 1), ErrWrongType, `cannot add to memory key "n": it holds text`)
			h.get("n", "12")
		}},
		{name: "add", run: func(h *h) {
			h.write(add("k", 1))
			h.get("k", 1.0)
			h.write(add("k", -3))
			h.get("k", -2.0)
			h.write(add("k", 0.5))
			h.get("k", -1.5)
			h.write(add("f", 0.1))
			h.write(add("f", 0.2))
			h.get("f", 0.30000000000000004) // the float64 sum, not 0.3: every store adds alike
			h.write(add("z", 0))
			h.get("z", 0.0)
		}},
		{name: "add on a list fails", run: func(h *h) {
			h.write(push("l", "a", 0))
			h.fails(add("l", 1), ErrWrongType, `cannot add to memory key "l": it holds a list`)
			h.get("l", []string{"a"})
		}},
		{name: "add past the largest number fails", run: func(h *h) {
			h.write(add("big", 1e308))
			h.fails(add("big", 1e308), ErrLimit, `adding 1e+308 to memory key "big" gives a number too large`)
			h.get("big", 1e308)
		}},
		{name: "push on text or a number fails", run: func(h *h) {
			h.write(set("t", "x"))
			h.fails(push("t", "y", 0), ErrWrongType, `cannot push to memory key "t": it holds text`)
			h.write(add("n", 1))
			h.fails(push("n", "y", 0), ErrWrongType, `cannot push to memory key "n": it holds a number`)
			h.get("t", "x")
			h.get("n", 1.0)
		}},
		{name: "set replaces a list or a number", run: func(h *h) {
			h.write(push("l", "a", 0))
			h.write(set("l", "x"))
			h.get("l", "x")
			h.write(add("n", 1))
			h.write(set("n", "y"))
			h.get("n", "y")
		}},
		{name: "push keeps 100 by default", run: func(h *h) {
			for _, s := range items("q", 0, 105) {
				h.write(push("quotes", s, 0))
			}
			h.get("quotes", items("q", 5, 105))
		}},
		{name: "push keep 1", run: func(h *h) {
			h.write(push("last", "a", 1))
			h.write(push("last", "b", 1))
			h.get("last", []string{"b"})
			h.write(push("last", "c", 3)) // keep applies to each push
			h.get("last", []string{"b", "c"})
		}},
		{name: "push keeps at most 1,000", run: func(h *h) {
			for _, s := range items("", 0, 1003) {
				h.write(push("l", s, MaxKeep))
			}
			h.get("l", items("", 3, 1003))
			h.fails(push("l", "x", 1001), ErrLimit, "keep is 1,001; it must be 1 to 1,000")
			h.fails(push("l", "x", -1), ErrLimit, "keep is -1; it must be 1 to 1,000")
		}},
		{name: "get returns a copy", run: func(h *h) {
			h.write(push("l", "a", 0))
			v, _ := h.s.Get(h.ctx, "l")
			v.([]string)[0] = "changed"
			h.get("l", []string{"a"})
		}},
		{name: "delete", run: func(h *h) {
			h.write(set("a", "x"))
			h.write(del("a"))
			h.get("a", nil)
			h.write(del("never"))
			h.write(push("l", "x", 0))
			h.write(del("l"))
			h.write(add("l", 1)) // a deleted list is absent: add starts from 0
			h.get("l", 1.0)
		}},
		{name: "ttl expires set, add and push", run: func(h *h) {
			h.write(withTTL(set("s", "x"), ttl))
			h.write(withTTL(add("n", 2), ttl))
			h.write(withTTL(push("l", "x", 0), ttl))
			h.fresh("s", "x")
			h.fresh("n", 2.0)
			h.fresh("l", []string{"x"})
			h.advance(ttl)
			h.gone("s")
			h.gone("n")
			h.gone("l")
			h.write(add("n", 1)) // an expired number counts as absent
			h.get("n", 1.0)
		}},
		{name: "ttl ends when the clock reaches write plus ttl", clockOnly: true, run: func(h *h) {
			h.write(withTTL(set("s", "x"), time.Hour))
			h.advance(time.Hour - time.Nanosecond)
			h.get("s", "x")
			h.advance(time.Nanosecond)
			h.get("s", nil)
		}},
		{name: "a write with ttl renews it", clockOnly: true, run: func(h *h) {
			h.write(withTTL(add("n", 1), time.Hour))
			h.advance(30 * time.Minute)
			h.write(withTTL(add("n", 1), time.Hour))
			h.advance(45 * time.Minute)
			h.get("n", 2.0)
			h.advance(15 * time.Minute)
			h.get("n", nil)
		}},
		{name: "a write without ttl clears the ttl", run: func(h *h) {
			h.write(withTTL(set("s", "x"), ttl))
			h.write(set("s", "y"))
			h.write(withTTL(add("n", 1), ttl))
			h.write(add("n", 1))
			h.write(withTTL(push("l", "a", 0), ttl))
			h.write(push("l", "b", 0))
			h.advance(ttl + 100*time.Millisecond)
			h.get("s", "y")
			h.get("n", 2.0)
			h.get("l", []string{"a", "b"})
		}},
		{name: "scan with a prefix", run: func(h *h) {
			h.write(add("karma/UA", 1))
			h.write(add("karma/UB", 2))
			h.write(add("karmaX", 3))
			h.write(push("quotes", "q", 0))
			h.scan("karma/", map[string]any{"UA": 1.0, "UB": 2.0})
			h.scan("karma/UA", map[string]any{"": 1.0})
			h.scan("", map[string]any{"karma/UA": 1.0, "karma/UB": 2.0, "karmaX": 3.0, "quotes": []string{"q"}})
			h.scan("nothing", map[string]any{})
		}},
		{name: "scan takes pattern characters literally", run: func(h *h) {
			for _, k := range []string{`a*b/1`, `axb/1`, `[x]/1`, `x/1`, `a?/1`, `aa/1`, `\/1`} {
				h.write(set(k, k))
			}
			h.scan(`a*b/`, map[string]any{"1": `a*b/1`})
			h.scan(`[x]/`, map[string]any{"1": `[x]/1`})
			h.scan(`a?/`, map[string]any{"1": `a?/1`})
			h.scan(`\`, map[string]any{"/1": `\/1`})
		}},
		{name: "scan skips expired keys", run: func(h *h) {
			h.write(withTTL(set("e/1", "x"), ttl))
			h.write(set("e/2", "y"))
			h.advance(ttl)
			h.gone("e/1")
			h.scan("e/", map[string]any{"2": "y"})
		}},
		{name: "scan returns the first 1,000 keys in byte order", run: func(h *h) {
			var keys []string
			for i := range MaxScan + 5 {
				keys = append(keys, fmt.Sprintf("p/%s%04d", []string{"a", "B", "é", "~", "Z"}[i%5], i))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for _, k := range keys {
				h.write(set(k, k))
			}
			h.write(set("p0", "outside the prefix"))
			sort.Strings(keys)
			want := map[string]any{}
			for _, k := range keys[:MaxScan] {
				want[strings.TrimPrefix(k, "p/")] = k
			}
			h.scan("p/", want)
		}},
		{name: "limits", run: func(h *h) {
			h.write(set(long, "a key of 200 bytes"))
			h.get(long, "a key of 200 bytes")
			h.fails(set("", "x"), ErrLimit, "memory key is empty")
			h.fails(set(long+"k", "x"), ErrLimit, `memory key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"… is 201 bytes, longer than 200`)
			for _, k := range []string{"a\nb", "\x00", "tab\t", "del\x7f", "c1\u0085"} {
				h.fails(set(k, "x"), ErrLimit, fmt.Sprintf("memory key %q has a control character", k))
			}
			text := strings.Repeat("t", MaxText)
			h.write(set("t", text))
			h.write(push("l", text, 0))
			h.get("t", text)
			h.fails(set("t", text+"t"), ErrLimit, `text for memory key "t" is 4,001 bytes, longer than 4,000`)
			h.fails(push("l", text+"t", 0), ErrLimit, `text for memory key "l" is 4,001 bytes, longer than 4,000`)
			h.get("l", []string{text})
			h.fails(withTTL(set("t", "x"), -time.Second), ErrLimit, `ttl of memory key "t" is -1s; it must be positive`)
			if _, err := h.s.Get(h.ctx, "a\nb"); err == nil {
				h.t.Error("Get with a control character succeeded")
			}
			if _, err := h.s.Scan(h.ctx, "a\nb"); err == nil {
				h.t.Error("Scan with a control character succeeded")
			}
			if _, err := h.s.Claim(h.ctx, "", ttl); err == nil {
				h.t.Error("Claim of an empty key succeeded")
			}
			if _, err := h.s.Claim(h.ctx, "k", 0); err == nil {
				h.t.Error("Claim without a ttl succeeded")
			}
		}},
		{name: "claim", run: func(h *h) {
			h.claim("sched/standup/1700000000", true)
			h.claim("sched/standup/1700000000", false)
			h.claim("sched/standup/1700000060", true)
			h.write(set("sched/standup/1700000000", "memory keys are apart from claims"))
			h.scan("sched/", map[string]any{"standup/1700000000": "memory keys are apart from claims"})
			h.advance(ttl)
			h.eventually("claim again after its ttl", func() bool {
				won, err := h.s.Claim(h.ctx, "sched/standup/1700000000", ttl)
				return err == nil && won
			})
		}},
		{name: "lease", run: func(h *h) {
			h.lease("rtm", "a", true)
			h.lease("rtm", "b", false)
			h.lease("rtm", "a", true) // a renewal
			h.claim("rtm", true)      // leases are apart from claims
			h.lease("other", "b", true)
			h.advance(ttl)
			h.eventually("another owner takes an expired lease", func() bool {
				won, err := h.s.Lease(h.ctx, "rtm", "b", ttl)
				return err == nil && won
			})
			h.lease("rtm", "a", false)
			for _, bad := range []struct {
				key, owner string
				ttl        time.Duration
			}{{"", "a", ttl}, {"k", "", ttl}, {"k", "a", 0}, {"a\nb", "a", ttl}} {
				if _, err := h.s.Lease(h.ctx, bad.key, bad.owner, bad.ttl); !errors.Is(err, ErrLimit) {
					h.t.Errorf("Lease(%q, %q, %v) = %v, want ErrLimit", bad.key, bad.owner, bad.ttl, err)
				}
			}
		}},
		{name: "a renewed lease lasts ttl from the renewal", clockOnly: true, run: func(h *h) {
			h.lease("rtm", "a", true)
			h.advance(ttl / 2)
			h.lease("rtm", "a", true)
			h.advance(ttl/2 + ttl/4)
			h.lease("rtm", "b", false)
			h.advance(ttl / 4)
			h.lease("rtm", "b", true)
		}},
		{name: "lease has one winner among many", run: func(h *h) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			winners := map[string]bool{}
			for i := range 20 {
				wg.Go(func() {
					owner := fmt.Sprint("replica-", i)
					won, err := h.s.Lease(h.ctx, "rtm", owner, time.Hour)
					if err != nil {
						h.t.Error(err)
					}
					if won {
						mu.Lock()
						winners[owner] = true
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(winners) != 1 {
				h.t.Fatalf("winners %v, want 1", winners)
			}
		}},
		{name: "claim has one winner among many", run: func(h *h) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 20 {
				wg.Go(func() {
					won, err := h.s.Claim(h.ctx, "dedupe/C1/1.000", time.Hour)
					if err != nil {
						h.t.Error(err)
					}
					if won {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if wins != 1 {
				h.t.Fatalf("%d winners, want 1", wins)
			}
		}},
		{name: "concurrent adds lose no update", run: func(h *h) {
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					for range 20 {
						if err := h.s.Write(h.ctx, add("karma/UBOB", 1)); err != nil {
							h.t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			h.get("karma/UBOB", 1000.0)
		}},
		{name: "concurrent pushes lose no update", run: func(h *h) {
			var wg sync.WaitGroup
			for g := range 50 {
				wg.Go(func() {
					for i := range 20 {
						if err := h.s.Write(h.ctx, push("log", fmt.Sprint(g*20+i), MaxKeep)); err != nil {
							h.t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			v, err := h.s.Get(h.ctx, "log")
			if err != nil {
				h.t.Fatal(err)
			}
			got := append([]string(nil), v.([]string)...)
			sort.Strings(got)
			want := items("", 0, 1000)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				h.t.Fatalf("log holds %d items, want the 1,000 pushed", len(got))
			}
		}},
	}
	for _, sub := range subjects(t) {
		t.Run(sub.name, func(t *testing.T) {
			if sub.unavailable != "" {
				redisUnavailable(t, sub.unavailable)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s, clock := sub.open(t)
					if c.clockOnly && clock == nil {
						t.Skip("needs a fake clock")
					}
					t.Parallel()
					c.run(&h{t: t, ctx: context.Background(), s: s, clock: clock})
				})
			}
		})
	}
}
