package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/rulebot/rulebot/engine/internal/cronspec"
	"github.com/rulebot/rulebot/engine/internal/exprlimit"
	"github.com/rulebot/rulebot/internal/yamlpos"
)

// A Schedule is a schedule rule (SPEC §7): its name, its cron line as
// written, and when it fires.
type Schedule struct {
	Rule string // the rule's name
	Spec string // the cron line, e.g. "30 9 * * MON-FRI" or "@every 10m"
	To   string // the rule's to as written: "#NAME", "@NAME" or a template; "" when it sends nothing
	next func(after time.Time) time.Time
}

// Next returns the first time after after at which the schedule fires, in
// bot.timezone, or the zero time when it never does.
func (s Schedule) Next(after time.Time) time.Time {
	if s.next == nil {
		return time.Time{}
	}
	return s.next(after)
}

// Schedules returns the schedule rules, in file order.
func (r *Rules) Schedules() []Schedule {
	return append([]Schedule(nil), r.schedules...)
}

// scheduleForbidden are the rule keys that need a message.
var scheduleForbidden = []string{"match", "addressed", "cooldown", "continue", "thread", "ephemeral", "react"}

// schedule compiles the schedule key of r and checks the rest of the rule
// against it: a schedule rule has no message, and says where it posts.
func (l *loader) schedule(r *rule, m map[string]*yamlpos.Pair, p *yamlpos.Pair, what string) bool {
	ok := true
	for _, k := range scheduleForbidden {
		if q := m[k]; q != nil {
			l.Errorf(q.Key, "%s: a schedule rule cannot have %s: it fires with no message", what, k)
			ok = false
		}
	}
	if m["reply"] == nil && m["fetch"] == nil && m["remember"] == nil {
		l.Errorf(p.Key, "%s: has no action: give the schedule a reply, a fetch or a remember", what)
		ok = false
	}
	if q := m["to"]; q == nil {
		if m["reply"] != nil || m["on_error"] != nil {
			l.Errorf(p.Key, `%s: a schedule rule needs to: "#CHANNEL" or "@USER", where it posts`, what)
			ok = false
		}
	} else if r.to != nil {
		if r.to.isLiteral() && r.to.src == "dm" {
			l.Errorf(q.Val, `%s: to: a schedule rule has no message, so no author to write to: use "#CHANNEL" or "@USER"`, what)
			ok = false
		}
		for _, part := range r.to.parts {
			if part.prog != nil && len(usedNames(part.prog, []string{"fetch"})) > 0 {
				l.Problems = append(l.Problems, Problem{File: l.File, Line: q.Val.Line, Col: scalarCol(q.Val, part.off, 0),
					Msg: what + ": to: a schedule rule's to is rendered before its fetch, so it cannot use fetch"})
				ok = false
				break
			}
		}
	}
	s, good := l.Str(p.Val, what+": schedule")
	if !good {
		return false
	}
	spec, err := cronspec.Parse(s, l.bot.Location)
	if err != nil {
		off := -1
		var ce *cronspec.Error
		if errors.As(err, &ce) {
			off = ce.Offset
		}
		l.Problems = append(l.Problems, Problem{File: l.File, Line: p.Val.Line, Col: scalarCol(p.Val, off, 0),
			Msg: fmt.Sprintf("%s: schedule: %v", what, err)})
		return false
	}
	r.schedule = spec
	return ok
}

// Fire runs the schedule rule named name for its occurrence at: now() is
// at, and there is no message. It returns the actions to perform, as
// Handle does; nil when there is no such schedule rule, when its when is
// false, or when it fails without on_error. A panic fails only this
// occurrence, logged with the rule.
func (e *Engine) Fire(ctx context.Context, name string, at time.Time) (acts []Action) {
	rs := e.rules.Load()
	var r *rule
	for _, x := range rs.rules {
		if x.schedule != nil && x.name == name {
			r = x
			break
		}
	}
	if r == nil || at.IsZero() {
		return nil
	}
	in := &input{e: e, rs: rs, occ: &occurrence{at: at}}
	defer func() {
		if p := recover(); p != nil {
			e.logWith(r, in).Error("schedule rule panicked; it sends nothing", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			acts = nil
		}
	}()
	var env map[string]any
	if !r.literal || r.when != nil {
		env = in.bind(ctx, bindings{})
	}
	if r.to != nil {
		s, err := r.to.render(in, env, escapeNone)
		if err == nil {
			s, err = parseTarget(s)
		}
		if err == nil && s == "dm" {
			err = errors.New(`"dm": a schedule has no author to write to`)
		}
		if err != nil {
			e.logWith(r, in).Warn("schedule rule failed: its reply has nowhere to go", "error", "to: "+runError(err).Error())
			return nil
		}
		in.occ.target = s
		in.msg.ChannelName, in.msg.DM = s[1:], s[0] == '@'
		if env != nil {
			env["channel"] = exprChannel{Name: in.msg.ChannelName, DM: in.msg.DM}
		}
	}
	if r.when != nil {
		v, err := exprlimit.Run(r.when, env)
		if err != nil {
			e.logWith(r, in).Warn("when failed; the schedule rule does not fire", "error", runError(err).Error())
			return nil
		}
		if ok, _ := v.(bool); !ok {
			return nil
		}
	}
	if e.opts.Fired != nil {
		e.opts.Fired(r.name)
	}
	return e.fire(ctx, rs, r, in, bindings{})
}

// logWith returns the logger for a problem of rule r with in.
func (e *Engine) logWith(r *rule, in *input) *slog.Logger {
	if in.occ != nil {
		return e.opts.Logger.With("rule", r.name, "schedule", r.schedule.String(), "at", in.occ.at, "to", in.occ.target)
	}
	return e.opts.Logger.With("rule", r.name, "channel", in.msg.ChannelID)
}
