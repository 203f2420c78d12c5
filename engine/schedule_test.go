package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
)

const scheduleRules = `
bot:
  timezone: Europe/Berlin
vars:
  oncall: carol
rules:
  - name: standup
    help: "standup — weekdays at 9:30 in #standup"
    schedule: "30 9 * * MON-FRI"
    to: "#standup"
    when: recall("standup/paused") == nil
    reply: "Standup time! It is {{ now().Format('Mon 15:04 MST') }} in #{{ channel.name }}."
  - name: tick
    schedule: "@every 10m"
    to: "@{{ vars.oncall }}"
    remember:
      - {key: ticks, add: 1}
    reply: "tick {{ recall('ticks') }} for {{ channel.name }} (dm={{ channel.dm }}): text={{ text }} user={{ user.id }} args={{ args }} addressed={{ addressed }}"
  - name: broken
    schedule: "@hourly"
    to: "#ops"
    reply: "{{ num('x') }}"
    on_error: "failed: {{ error }}"
  - name: quiet
    schedule: "@daily"
    remember:
      - {key: days, add: 1}
  - name: hello
    match: {contains: standup}
    reply: "hi"
`

func TestSchedules(t *testing.T) {
	rs := compile(t, scheduleRules)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	got := rs.Schedules()
	var names []string
	for _, s := range got {
		names = append(names, s.Rule+" "+s.Spec+" "+s.To)
	}
	want := []string{"standup 30 9 * * MON-FRI #standup", "tick @every 10m @{{ vars.oncall }}", "broken @hourly #ops", "quiet @daily "}
	if !slices.Equal(names, want) {
		t.Fatalf("Schedules() = %q, want %q", names, want)
	}
	// Next is in bot.timezone: Friday 9:30 in Berlin, then Monday.
	from := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) // a Thursday
	next := got[0].Next(from)
	if want := time.Date(2026, 11, 27, 9, 30, 0, 0, berlin); !next.Equal(want) || next.Location().String() != "Europe/Berlin" {
		t.Errorf("standup Next(%v) = %v, want %v", from, next, want)
	}
	if next2 := got[0].Next(next); !next2.Equal(time.Date(2026, 11, 30, 9, 30, 0, 0, berlin)) {
		t.Errorf("standup Next(%v) = %v, want Monday", next, next2)
	}
	if n := got[1].Next(from); !n.Equal(from.Add(10 * time.Minute)) {
		t.Errorf("tick Next(%v) = %v, want 10 minutes later", from, n)
	}
	// The slice is the caller's.
	got[0].Rule = "changed"
	if rs.Schedules()[0].Rule != "standup" {
		t.Error("Schedules() returns the rules' own slice")
	}
	if rs.Len() != 5 {
		t.Errorf("Len() = %d, want 5: schedule rules count", rs.Len())
	}
}

func TestFire(t *testing.T) {
	store, err := memory.NewRAM(map[string]any{"ticks": 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	opts := options()
	opts.Memory = store
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	e := engine.New(compile(t, scheduleRules), opts)
	occ := time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC) // 9:30 in Berlin
	fire := func(rule string, at time.Time) []string {
		t.Helper()
		var out []string
		for _, a := range e.Fire(context.Background(), rule, at) {
			out = append(out, show(engine.Message{}, []engine.Action{a})...)
		}
		return out
	}
	tests := []struct {
		name string
		rule string
		at   time.Time
		want []string
	}{
		{"now() is the occurrence's time in bot.timezone", "standup", occ,
			[]string{"standup: Standup time! It is Fri 09:30 CET in #standup. [to #standup]"}},
		{"no message; channel is the to target", "tick", occ,
			[]string{"tick: tick 5 for carol (dm=true): text= user= args=[] addressed=false [to @carol]"}},
		{"on_error goes to to", "broken", occ,
			[]string{`broken: failed: num: "x" is not a number [to #ops]`}},
		{"a schedule that only remembers sends nothing", "quiet", occ, nil},
		{"an unknown rule", "nosuch", occ, nil},
		{"a rule that is not a schedule", "hello", occ, nil},
		{"the zero time", "standup", time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fire(tt.rule, tt.at); !slices.Equal(got, tt.want) {
				t.Errorf("Fire(%q, %v):\ngot  %q\nwant %q", tt.rule, tt.at, got, tt.want)
			}
		})
	}
	if v, _ := store.Get(context.Background(), "days"); v != 1.0 {
		t.Errorf("days = %v, want 1: quiet's remember ran", v)
	}
	// when sees memory.
	if err := store.Write(context.Background(), memory.Write{Key: "standup/paused", Op: memory.Set, Text: "yes"}); err != nil {
		t.Fatal(err)
	}
	if got := fire("standup", occ); got != nil {
		t.Errorf("Fire(standup) while paused = %q, want nothing", got)
	}
	// Schedule rules are not tried against messages; the help lists them.
	run(t, e, []step{
		{msg("standup"), []string{"hello: hi"}},
		{at("help"), []string{"help: standup — weekdays at 9:30 in #standup"}},
	})
}

// TestFireTemplateTo checks a to computed when the occurrence fires, and
// one that renders no destination: logged, nothing sent.
func TestFireTemplateTo(t *testing.T) {
	var log bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	e := engine.New(compile(t, `
rules:
  - name: rota
    schedule: "@weekly"
    to: "{{ recall('rota') ?? 'nobody' }}"
    reply: "your turn, {{ channel.name }}"
`), opts)
	at := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	if got := e.Fire(context.Background(), "rota", at); got != nil {
		t.Errorf("Fire with to = nobody: %+v, want nothing", got)
	}
	if !strings.Contains(log.String(), `rule=rota`) || !strings.Contains(log.String(), `\"nobody\" is not a place to send a reply`) {
		t.Errorf("log lacks the failure:\n%s", log.String())
	}
	e = engine.New(compile(t, `
rules:
  - name: rota
    schedule: "@weekly"
    to: "#{{ 'team' + '-' + 'b' }}"
    reply: "your turn, {{ channel.name }}"
`), opts)
	got := show(engine.Message{}, e.Fire(context.Background(), "rota", at))
	if want := []string{"rota: your turn, team-b [to #team-b]"}; !slices.Equal(got, want) {
		t.Errorf("Fire = %q, want %q", got, want)
	}
}

// TestFirePanic checks that a panic while firing a schedule is recovered
// and logged with the rule.
func TestFirePanic(t *testing.T) {
	var log bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	opts.HTTPClient = &http.Client{Transport: panicTransport{}}
	e := engine.New(compile(t, `
bot: {fetch: {allow: ["127.0.0.1"]}}
rules:
  - name: boom
    schedule: "@hourly"
    to: "#ops"
    fetch: {url: "http://127.0.0.1:1/"}
    reply: "never"
`), opts)
	if got := e.Fire(context.Background(), "boom", time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)); got != nil {
		t.Errorf("Fire = %+v, want nothing", got)
	}
	for _, want := range []string{"level=ERROR", "panicked", "rule=boom", "to=#ops", "transport bug"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestNowInTimezone checks that now() is in bot.timezone for messages too,
// and in UTC by default.
func TestNowInTimezone(t *testing.T) {
	for _, tt := range []struct{ bot, want string }{
		{"", "2026-11-26T09:00:00Z"},
		{"bot: {timezone: America/New_York}\n", "2026-11-26T04:00:00-05:00"},
	} {
		opts := options()
		opts.Now = func() time.Time { return epoch.In(time.FixedZone("elsewhere", 3600)) }
		e := engine.New(compile(t, tt.bot+`
rules:
  - name: now
    reply: "{{ now() }}"
`), opts)
		run(t, e, []step{{msg("x"), []string{"now: " + tt.want}}})
	}
}

// TestFired checks the Fired hook: called for every rule that fires, even
// one that sends nothing, and for every schedule occurrence whose when
// holds, and never for a rule that does not fire.
func TestFired(t *testing.T) {
	var fired []string
	opts := options()
	opts.Fired = func(rule string) { fired = append(fired, rule) }
	e := engine.New(compile(t, `
rules:
  - name: count
    remember: [{key: n, add: 1}]
    continue: true
  - name: empty
    match: {contains: hello}
    reply: "{{ '' }}"
  - name: cool
    match: {contains: hello}
    cooldown: 1h
    reply: hi
  - name: daily
    schedule: "@daily"
    to: "#general"
    when: recall("n") > 1
    reply: "{{ recall('n') }} messages"
`), opts)
	ctx := context.Background()
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	e.Fire(ctx, "daily", day)
	e.Handle(ctx, msg("hello"))
	e.Handle(ctx, msg("hello"))
	e.Fire(ctx, "daily", day)
	e.Fire(ctx, "nosuch", day)
	want := []string{"count", "empty", "count", "empty", "daily"}
	if !slices.Equal(fired, want) {
		t.Errorf("fired %q, want %q", fired, want)
	}
}

// TestNames checks that Rules.Names lists every rule, schedule rules
// included, in file order.
func TestNames(t *testing.T) {
	rs := compile(t, `
rules:
  - name: b
    reply: hi
  - name: daily
    schedule: "@daily"
    to: "#general"
    reply: morning
  - name: a
    match: {contains: x}
    reply: x
`)
	if got, want := rs.Names(), []string{"b", "daily", "a"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
}
