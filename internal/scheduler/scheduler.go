// Package scheduler fires the schedule rules of `rulebot run` (SPEC §7) on
// the wall clock.
//
// Each occurrence of a schedule fires once, within a second of its time
// (the scheduler sleeps until the earliest one). Occurrences missed while
// the bot was down are not replayed: the scheduler starts from the time Run
// is called, and an occurrence it meets LateLimit or more after its time
// (the process was suspended, or the machine's clock jumped) is skipped
// with a warning. A reload (Reload, after engine.Swap) keeps a schedule
// whose rule name and cron line are unchanged, with the last occurrence it
// fired, so that no occurrence ever fires twice; a new or changed schedule
// starts from the time of the reload.
//
// With replicas sharing a store (SPEC §9), Claim decides which process
// fires an occurrence: the one that claims "sched/RULE/UNIXTIME" first.
//
// Each firing runs in its own goroutine, so a slow fetch in one schedule
// never delays another; a panic in one is recovered and logged with the
// rule and where its replies were going.
package scheduler

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
)

// An Entry is one schedule: a rule's name, its cron line and when it fires.
type Entry struct {
	Rule string
	Spec string
	// Next returns the first occurrence after its argument, or the zero
	// time when there is none.
	Next func(after time.Time) time.Time
}

// Entries converts the engine's schedules.
func Entries(ss []engine.Schedule) []Entry {
	out := make([]Entry, len(ss))
	for i, s := range ss {
		out[i] = Entry{Rule: s.Rule, Spec: s.Spec, Next: s.Next}
	}
	return out
}

// Defaults of Config.
const (
	// LateLimit is how late an occurrence may still fire: one that is
	// LateLimit late or more is skipped.
	LateLimit = time.Minute
	// ClaimTTL is how long a claimed occurrence stays claimed: replicas
	// whose clocks differ by less than this never both fire it.
	ClaimTTL = time.Hour
	// maxSleep bounds each wait, so that a change of the wall clock (to
	// which cron lines refer; timers follow the monotonic clock) is noticed.
	maxSleep = time.Minute
)

// Config is what a Scheduler needs. Schedules, Fire and Perform are
// required.
type Config struct {
	// Schedules returns the current schedules, in file order. It is called
	// by Run at its start and after each Reload.
	Schedules func() []Entry
	// Fire runs rule for its occurrence at and returns the actions to
	// perform (engine.Engine.Fire).
	Fire func(ctx context.Context, rule string, at time.Time) []engine.Action
	// Perform performs a firing's actions (slackbot.Bot.Perform).
	Perform func(ctx context.Context, actions []engine.Action)
	// Claim, when set, is asked for every occurrence before it fires
	// (memory.Store.Claim on a store shared by replicas); the occurrence
	// fires only when it returns true. A failed claim does not fire: an
	// occurrence is fired at most once, even when the store is unreachable.
	Claim func(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// After waits like time.After; default time.After. Tests replace Now
	// and After with a fake clock.
	After  func(d time.Duration) <-chan time.Time
	Logger *slog.Logger
	// Grace is how long firings in flight may take once Run's context
	// ends; they are canceled then.
	Grace time.Duration
}

// A Scheduler fires schedules; see the package doc.
type Scheduler struct {
	cfg    Config
	reload chan struct{}
}

// New returns a Scheduler for cfg.
func New(cfg Config) *Scheduler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg, reload: make(chan struct{}, 1)}
}

// Reload tells Run that Schedules has changed (the rules were swapped). It
// never blocks.
func (s *Scheduler) Reload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// key identifies a schedule across reloads.
type key struct{ rule, spec string }

// occurrence is one firing to make.
type occurrence struct {
	entry Entry
	at    time.Time
	index int // the entry's place in file order
}

// Run fires the schedules until ctx ends, then waits for the firings in
// flight (canceled after Config.Grace) and returns.
func (s *Scheduler) Run(ctx context.Context) {
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	defer func() {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return
		case <-time.After(s.cfg.Grace):
		}
		stopWork()
		select {
		case <-done:
		case <-time.After(time.Second):
			s.cfg.Logger.Error("scheduled firings still running after the grace period ignore their cancellation: abandoning them")
		}
	}()

	// last is, per schedule, the time after which its next occurrence
	// fires: the last occurrence fired, or when the schedule was first seen.
	last := map[key]time.Time{}
	var entries []Entry
	load := func(now time.Time) {
		entries = s.cfg.Schedules()
		seen := make(map[key]bool, len(entries))
		for _, e := range entries {
			k := key{e.Rule, e.Spec}
			seen[k] = true
			if _, ok := last[k]; !ok {
				last[k] = now
			}
		}
		for k := range last {
			if !seen[k] {
				delete(last, k)
			}
		}
	}
	load(s.cfg.Now())
	for {
		now := s.cfg.Now()
		var due []occurrence
		wake := now.Add(maxSleep)
		for i, e := range entries {
			k := key{e.Rule, e.Spec}
			if at := e.Next(last[k]); !at.IsZero() && now.Sub(at) >= LateLimit {
				s.cfg.Logger.Warn("schedule occurrences missed (the process was suspended or the clock jumped): not replayed",
					"rule", e.Rule, "schedule", e.Spec, "first_missed", at, "late", now.Sub(at).Round(time.Second).String())
				last[k] = now.Add(-LateLimit)
			}
			for {
				at := e.Next(last[k])
				if at.IsZero() || !at.After(last[k]) { // none, or a Next that does not move on
					break
				}
				if at.After(now) {
					if at.Before(wake) {
						wake = at
					}
					break
				}
				last[k] = at
				due = append(due, occurrence{e, at, i})
			}
		}
		slices.SortStableFunc(due, func(a, b occurrence) int {
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.index, b.index))
		})
		for _, o := range due {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.fire(work, o)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.reload:
			load(s.cfg.Now())
		case <-s.cfg.After(wake.Sub(now)):
		}
	}
}

// fire fires one occurrence, when this process wins its claim.
func (s *Scheduler) fire(ctx context.Context, o occurrence) {
	log := s.cfg.Logger.With("rule", o.entry.Rule, "schedule", o.entry.Spec, "at", o.at)
	var acts []engine.Action
	defer func() {
		if p := recover(); p != nil {
			attrs := []any{"panic", fmt.Sprint(p), "stack", string(debug.Stack())}
			for _, a := range acts {
				attrs = append(attrs, "channel", a.Channel, "to", a.To)
				break
			}
			log.Error("panic in a scheduled firing; the bot goes on", attrs...)
		}
	}()
	if s.cfg.Claim != nil {
		won, err := s.cfg.Claim(ctx, ClaimKey(o.entry.Rule, o.at), ClaimTTL)
		if err != nil {
			log.Error("cannot claim the scheduled occurrence, so it does not fire", "error", err.Error())
			return
		}
		if !won {
			log.Debug("another replica fires this scheduled occurrence")
			return
		}
	}
	log.Info("schedule fires")
	acts = s.cfg.Fire(ctx, o.entry.Rule, o.at)
	if len(acts) > 0 {
		s.cfg.Perform(ctx, acts)
	}
}

// ClaimKey is the memory claim for rule's occurrence at:
// "sched/RULE/UNIXTIME", with RULE replaced by its SHA-256 when the key
// would break memory's key limits.
func ClaimKey(rule string, at time.Time) string {
	unix := strconv.FormatInt(at.Unix(), 10)
	k := "sched/" + rule + "/" + unix
	if memory.CheckKey(k) != nil {
		sum := sha256.Sum256([]byte(rule))
		k = "sched/sha256:" + hex.EncodeToString(sum[:]) + "/" + unix
	}
	return k
}
