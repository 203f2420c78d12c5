package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/metrics"
	"github.com/rulebot/rulebot/internal/rulesrc"
)

// fetchRules gets the rules file from src at start-up and compiles it.
// Problems are printed as check prints them; a file that cannot be fetched
// or has errors is exit code 2.
func fetchRules(ctx context.Context, src rulesrc.Source, stderr io.Writer) (*engine.Rules, error) {
	b, _, err := src.Fetch(ctx)
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	rs, err := engine.Compile(src.Name(), b)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, &exitError{code: 2}
	}
	for _, w := range rs.Warnings {
		fmt.Fprintln(stderr, w)
	}
	return rs, nil
}

// A reloader swaps new rules into an engine. SIGHUP, -poll and -watch all
// reload through it, so each logs the same lines, keeps the old rules on a
// bad file the same way and counts the same metrics. Reloads are
// serialized.
type reloader struct {
	src     rulesrc.Source
	eng     *engine.Engine
	log     *slog.Logger
	metrics *metrics.Metrics // nil in chat
	swapped func()           // called after a swap (the scheduler's Reload); may be nil
	notify  func(msg string) // told the outcome in a sentence (chat's screen); may be nil
	mu      sync.Mutex
}

// fetch fetches the rules file again, changed or not (SIGHUP, -watch), and
// applies it. A failed fetch is a failed reload.
func (r *reloader) fetch(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _, err := r.src.Fetch(ctx)
	if err != nil {
		r.failed(err.Error(), nil)
		return false
	}
	return r.apply(b)
}

// changed applies src, the new bytes of the rules file (-poll).
func (r *reloader) changed(src []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.apply(src)
}

// apply compiles src and swaps it in; on any error the old rules keep
// serving and every problem is logged as check prints it. It reports
// whether the rules were swapped.
func (r *reloader) apply(src []byte) bool {
	rs, err := engine.Compile(r.src.Name(), src)
	var list engine.ErrorList
	if errors.As(err, &list) {
		problems := make([]string, len(list))
		for i, p := range list {
			problems[i] = p.String()
		}
		r.failed(fmt.Sprintf("%d problems", list.ErrorCount()), problems)
		return false
	}
	if err != nil {
		r.failed(err.Error(), nil)
		return false
	}
	for _, w := range rs.Warnings {
		r.log.Warn(w.String())
	}
	r.eng.Swap(rs)
	if r.metrics != nil {
		r.metrics.RulesLoaded(rs.Names(), time.Now())
	}
	msg := fmt.Sprintf("rules reloaded: %d rules", rs.Len())
	r.log.Info(msg)
	if r.notify != nil {
		r.notify(msg)
	}
	if r.swapped != nil {
		r.swapped()
	}
	return true
}

// failed logs and counts a failed reload: why, then each problem.
func (r *reloader) failed(why string, problems []string) {
	if r.metrics != nil {
		r.metrics.ReloadFailed()
	}
	if problems == nil {
		r.log.Error("reload failed; keeping the old rules", "error", why)
	} else {
		r.log.Error("reload failed; keeping the old rules: " + why)
		for _, p := range problems {
			r.log.Error(p)
		}
	}
	if r.notify != nil {
		msg := "reload failed; keeping the old rules: " + why
		for _, p := range problems {
			msg += "\n" + p
		}
		r.notify(msg)
	}
}
