// Package cronspec reads the cron line of a schedule rule (SPEC §7) and says
// when it fires.
//
// A line is either five cron fields (minute hour day-of-month month
// day-of-week, with names such as MON-FRI and JAN), parsed by
// github.com/robfig/cron/v3 and evaluated in the bot's time zone, daylight
// saving gaps and repeats handled as that library does; or a descriptor:
// @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly; or
// "@every D". Unlike robfig's @every, which counts from when a job was
// added, "@every D" here fires at the instants that are whole multiples of D
// since 1970-01-01T00:00:00Z, so replicas, reloads and tests agree on them.
package cronspec

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MinEvery is the shortest period "@every" accepts.
const MinEvery = 10 * time.Second

// maxEvery keeps the multiples of an "@every" period within the range of
// time.Time's UnixNano.
const maxEvery = 100 * 365 * 24 * time.Hour

// A Spec is a parsed cron line. It is immutable.
type Spec struct {
	src   string
	loc   *time.Location
	cron  cron.Schedule // nil for @every
	every time.Duration
}

// An Error is a cron line that does not parse: Offset is the byte offset in
// the line of the part that is wrong.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var descriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@every"}

// Parse reads line, whose times are in loc (UTC when nil).
func Parse(line string, loc *time.Location) (*Spec, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := &Spec{src: line, loc: loc}
	lead := len(line) - len(strings.TrimLeft(line, " \t"))
	body := strings.TrimSpace(line)
	switch {
	case body == "":
		return nil, &Error{0, "the cron line is empty (five fields such as \"30 9 * * MON-FRI\", or @daily, @every 10m…)"}
	case strings.HasPrefix(body, "TZ=") || strings.HasPrefix(body, "CRON_TZ="):
		// (robfig's parser also panics on a TZ= with nothing after it.)
		return nil, &Error{lead, "a cron line cannot set its time zone: schedules use bot.timezone"}
	case strings.HasPrefix(body, "@"):
		return s, s.descriptor(body, lead)
	}
	fields := strings.Fields(body)
	if len(fields) != 5 {
		return nil, &Error{lead, fmt.Sprintf("expected 5 fields (minute hour day-of-month month day-of-week), found %d", len(fields))}
	}
	sched, err := parser.Parse(body)
	if err != nil {
		return nil, fieldError(line, fields, err)
	}
	s.cron = sched
	// robfig gives up after five years: a line such as "0 0 30 2 *" never fires.
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, &Error{lead, "the cron line never fires (no such date)"}
	}
	return s, nil
}

// descriptor reads an @ line.
func (s *Spec) descriptor(body string, lead int) error {
	name, arg, _ := strings.Cut(body, " ")
	arg = strings.TrimSpace(arg)
	if name == "@every" {
		d, err := time.ParseDuration(arg)
		off := lead + strings.Index(body, arg)
		switch {
		case arg == "":
			return &Error{lead, "@every needs a duration, as in @every 10m"}
		case err != nil:
			return &Error{off, fmt.Sprintf("@every: %q is not a duration like 30s, 10m or 1h30m", arg)}
		case d < MinEvery:
			return &Error{off, fmt.Sprintf("@every %s is too often: the least is %s", arg, MinEvery)}
		case d > maxEvery:
			return &Error{off, fmt.Sprintf("@every %s is too long: the most is 100 years", arg)}
		}
		s.every = d
		return nil
	}
	if arg != "" {
		return &Error{lead + len(name), fmt.Sprintf("%s takes nothing after it", name)}
	}
	sched, err := parser.Parse(name)
	if err != nil {
		msg := fmt.Sprintf("unknown descriptor %q: use @yearly, @monthly, @weekly, @daily, @hourly or @every D", name)
		for _, d := range descriptors {
			if low := strings.ToLower(name); low == d || near(low, d) {
				msg = fmt.Sprintf("unknown descriptor %q (did you mean %q?)", name, d)
				break
			}
		}
		return &Error{lead, msg}
	}
	s.cron = sched
	return nil
}

var (
	atoiRE  = regexp.MustCompile(`^failed to parse int from (\S+): .*$`)
	fieldRE = regexp.MustCompile(`\S+`)
)

var fieldNames = []string{"minute", "hour", "day of month", "month", "day of week"}

// fieldError finds the first field of line that robfig refuses, so that the
// error points at it, and words robfig's reason for a rule author.
func fieldError(line string, fields []string, whole error) error {
	locs := fieldRE.FindAllStringIndex(line, -1)
	for i := range fields {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = fields[i]
		if _, err := parser.Parse(strings.Join(probe, " ")); err != nil {
			return &Error{locs[i][0], fmt.Sprintf("%s field %q: %s", fieldNames[i], fields[i], reason(err, i))}
		}
	}
	return &Error{locs[0][0], whole.Error()}
}

var (
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
)

// reason rewords robfig's error for field i.
func reason(err error, i int) string {
	m := atoiRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	word := strings.Trim(m[1], "-,/")
	var names []string
	switch i {
	case 3:
		names = monthNames
	case 4:
		names = dayNames
	}
	for _, n := range names {
		if up := strings.ToUpper(word); near(up, n) || len(up) > 3 && strings.HasPrefix(up, n) {
			return fmt.Sprintf("%q is not a number or a name (did you mean %s?)", word, n)
		}
	}
	if names != nil {
		return fmt.Sprintf("%q is not a number or a name such as %s", word, names[1])
	}
	return fmt.Sprintf("%q is not a number", word)
}

// near reports whether a is one edit (or one swap of neighbours) from b.
func near(a, b string) bool {
	if a == b {
		return false
	}
	if len(a) == len(b) {
		diff := []int{}
		for i := range a {
			if a[i] != b[i] {
				diff = append(diff, i)
			}
		}
		return len(diff) == 1 ||
			len(diff) == 2 && diff[1] == diff[0]+1 && a[diff[0]] == b[diff[1]] && a[diff[1]] == b[diff[0]]
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) != 1 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i:] == b[i+1:]
		}
	}
	return true
}

// String returns the cron line as written.
func (s *Spec) String() string { return s.src }

// Next returns the first time strictly after after at which s fires, in
// s's time zone, or the zero time when it never does.
func (s *Spec) Next(after time.Time) time.Time {
	if s.every > 0 {
		d := int64(s.every)
		ns := after.UnixNano()
		n := ns / d
		if ns < 0 && ns%d != 0 {
			n-- // floor, for times before 1970
		}
		return time.Unix(0, (n+1)*d).In(s.loc)
	}
	return s.cron.Next(after.In(s.loc))
}
