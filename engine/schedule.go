package engine

import (
	"context"
	"time"
)

// A Schedule is a schedule rule (SPEC §7): its name, its cron line as
// written, and when it fires.
type Schedule struct {
	Rule string // the rule's name
	Spec string // the cron line, e.g. "30 9 * * MON-FRI" or "@every 10m"
	next func(after time.Time) time.Time
}

// Next returns the first time after after at which the schedule fires, or
// the zero time when it never does.
func (s Schedule) Next(after time.Time) time.Time {
	if s.next == nil {
		return time.Time{}
	}
	return s.next(after)
}

// Schedules returns the schedule rules, in file order.
// TODO(issue 7): filled in by the schedule rules' compiler.
func (r *Rules) Schedules() []Schedule { return nil }

// Fire runs the schedule rule named rule for its occurrence at: now() is
// at, and there is no message. It returns the actions to perform, as
// Handle does; nil when there is no such schedule rule or it does not fire
// (its when is false).
// TODO(issue 7): implemented with the schedule rules.
func (e *Engine) Fire(ctx context.Context, rule string, at time.Time) []Action { return nil }
