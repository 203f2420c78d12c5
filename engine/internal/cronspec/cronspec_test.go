package cronspec

import (
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestNext lists, for each line, the times it fires after a start, in the
// line's zone.
func TestNext(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		name  string
		line  string
		loc   *time.Location
		start time.Time
		want  []string // formatted "2006-01-02 15:04:05 MST"
	}{
		{
			name:  "weekdays at 9:30, over a weekend",
			line:  "30 9 * * MON-FRI",
			loc:   berlin,
			start: time.Date(2026, 11, 26, 9, 30, 0, 0, berlin), // a Thursday, at the time itself
			want:  []string{"2026-11-27 09:30:00 CET", "2026-11-30 09:30:00 CET", "2026-12-01 09:30:00 CET"},
		},
		{
			name:  "the zone is the line's, not the start's",
			line:  "0 9 * * *",
			loc:   berlin,
			start: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
			want:  []string{"2026-07-01 09:00:00 CEST", "2026-07-02 09:00:00 CEST"},
		},
		{
			name:  "a nil zone is UTC",
			line:  "0 9 * * *",
			start: time.Date(2026, 7, 1, 0, 0, 0, 0, berlin),
			want:  []string{"2026-07-01 09:00:00 UTC", "2026-07-02 09:00:00 UTC"},
		},
		{
			name:  "spring forward: 02:30 does not exist on March 29 and is skipped",
			line:  "30 2 * * *",
			loc:   berlin,
			start: time.Date(2026, 3, 28, 12, 0, 0, 0, berlin),
			want:  []string{"2026-03-30 02:30:00 CEST", "2026-03-31 02:30:00 CEST"},
		},
		{
			name:  "fall back: 02:30 happens twice on October 25 and fires twice",
			line:  "30 2 * * *",
			loc:   berlin,
			start: time.Date(2026, 10, 24, 12, 0, 0, 0, berlin),
			want:  []string{"2026-10-25 02:30:00 CEST", "2026-10-25 02:30:00 CET", "2026-10-26 02:30:00 CET"},
		},
		{
			name:  "hourly across the spring gap",
			line:  "@hourly",
			loc:   berlin,
			start: time.Date(2026, 3, 29, 0, 30, 0, 0, berlin),
			want:  []string{"2026-03-29 01:00:00 CET", "2026-03-29 03:00:00 CEST", "2026-03-29 04:00:00 CEST"},
		},
		{
			name:  "daily",
			line:  "@daily",
			loc:   berlin,
			start: time.Date(2026, 3, 28, 12, 0, 0, 0, berlin),
			want:  []string{"2026-03-29 00:00:00 CET", "2026-03-30 00:00:00 CEST"},
		},
		{
			name:  "weekly is Sunday midnight",
			line:  "@weekly",
			start: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
			want:  []string{"2026-11-29 00:00:00 UTC", "2026-12-06 00:00:00 UTC"},
		},
		{
			name:  "monthly and yearly",
			line:  "@monthly",
			start: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
			want:  []string{"2026-12-01 00:00:00 UTC", "2027-01-01 00:00:00 UTC"},
		},
		{
			name:  "yearly",
			line:  "  @yearly ",
			start: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
			want:  []string{"2027-01-01 00:00:00 UTC", "2028-01-01 00:00:00 UTC"},
		},
		{
			name:  "month and day names, lists and steps",
			line:  "0 */12 1,15 JAN,jul *",
			start: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
			want:  []string{"2026-07-01 00:00:00 UTC", "2026-07-01 12:00:00 UTC", "2026-07-15 00:00:00 UTC", "2026-07-15 12:00:00 UTC", "2027-01-01 00:00:00 UTC"},
		},
		{
			name:  "every 10m is aligned to the epoch, not to the start",
			line:  "@every 10m",
			loc:   berlin,
			start: time.Date(2026, 11, 26, 9, 3, 27, 5, time.UTC),
			want:  []string{"2026-11-26 10:10:00 CET", "2026-11-26 10:20:00 CET"},
		},
		{
			name:  "every 10m from a multiple fires one period later",
			line:  "@every 10m",
			start: time.Date(2026, 11, 26, 9, 10, 0, 0, time.UTC),
			want:  []string{"2026-11-26 09:20:00 UTC", "2026-11-26 09:30:00 UTC"},
		},
		{
			name:  "every 7h counts from 1970, so it does not start at midnight",
			line:  "@every 7h",
			start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
			want:  []string{"2026-11-27 04:00:00 UTC", "2026-11-27 11:00:00 UTC"},
		},
		{
			name:  "every 10s before 1970",
			line:  "@every 10s",
			start: time.Date(1969, 12, 31, 23, 59, 45, 0, time.UTC),
			want:  []string{"1969-12-31 23:59:50 UTC", "1970-01-01 00:00:00 UTC", "1970-01-01 00:00:10 UTC"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.line, tt.loc)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.line, err)
			}
			if s.String() != tt.line {
				t.Errorf("String() = %q, want %q", s.String(), tt.line)
			}
			at := tt.start
			for i, want := range tt.want {
				next := s.Next(at)
				if got := next.Format("2006-01-02 15:04:05 MST"); got != want {
					t.Fatalf("occurrence %d after %v: got %s, want %s", i+1, at, got, want)
				}
				if !next.After(at) {
					t.Fatalf("Next(%v) = %v is not after it", at, next)
				}
				at = next
			}
		})
	}
}

// TestEveryAgrees checks that two replicas starting at different times
// agree on the instants of an @every schedule.
func TestEveryAgrees(t *testing.T) {
	s, err := Parse("@every 90s", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	b := a.Add(37*time.Second + 123)
	seen := map[time.Time]bool{}
	for x := a; x.Before(a.Add(time.Hour)); x = s.Next(x) {
		seen[x] = true
	}
	for y := s.Next(b); y.Before(a.Add(time.Hour)); y = s.Next(y) {
		if !seen[y] {
			t.Fatalf("%v: an occurrence only the later replica sees", y)
		}
		if y.UnixNano()%int64(90*time.Second) != 0 {
			t.Fatalf("%v is not a multiple of 90s since the epoch", y)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line   string
		offset int
		msg    string
	}{
		{"", 0, "the cron line is empty"},
		{"30 9 * *", 0, "expected 5 fields (minute hour day-of-month month day-of-week), found 4"},
		{"0 30 9 * * MON", 0, "expected 5 fields (minute hour day-of-month month day-of-week), found 6"},
		{"30 25 * * *", 3, `hour field "25": end of range (25) above maximum (23): 25`},
		{"  30 9 * * MON-FRY", 11, `day of week field "MON-FRY": "FRY" is not a number or a name (did you mean FRI?)`},
		{"30 9 * JNA *", 7, `month field "JNA": "JNA" is not a number or a name (did you mean JAN?)`},
		{"30 9 * * XYZ", 9, `day of week field "XYZ": "XYZ" is not a number or a name such as MON`},
		{"30 9 * * Sunday", 9, `day of week field "Sunday": "Sunday" is not a number or a name (did you mean SUN?)`},
		{"x 9 * * *", 0, `minute field "x": "x" is not a number`},
		{"*/0 9 * * *", 0, `minute field "*/0": step of range should be a positive number: */0`},
		{"1-2-3 * * * *", 0, `minute field "1-2-3": too many hyphens: 1-2-3`},
		{"0 0 30 2 *", 0, "the cron line never fires (no such date)"},
		{"@dialy", 0, `unknown descriptor "@dialy" (did you mean "@daily"?)`},
		{"@Daily", 0, `unknown descriptor "@Daily" (did you mean "@daily"?)`},
		{"@fortnightly", 0, `unknown descriptor "@fortnightly": use @yearly, @monthly, @weekly, @daily, @hourly or @every D`},
		{"@daily 9", 6, "@daily takes nothing after it"},
		{"@every", 0, "@every needs a duration, as in @every 10m"},
		{"@every 5s", 7, "@every 5s is too often: the least is 10s"},
		{"@every 9999s", -1, ""},
		{"@every ten", 7, `@every: "ten" is not a duration like 30s, 10m or 1h30m`},
		{"@every 1000000h", 7, "@every 1000000h is too long: the most is 100 years"},
		{"TZ=Europe/Berlin", 0, "a cron line cannot set its time zone: schedules use bot.timezone"},
		{"CRON_TZ=UTC 0 9 * * *", 0, "a cron line cannot set its time zone: schedules use bot.timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Parse(tt.line, nil)
			if tt.offset < 0 {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.line, err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse(%q) = %v (%T), want an *Error", tt.line, err, err)
			}
			if e.Offset != tt.offset || !strings.HasPrefix(e.Msg, tt.msg) {
				t.Errorf("Parse(%q) = %d: %q, want %d: %q", tt.line, e.Offset, e.Msg, tt.offset, tt.msg)
			}
		})
	}
}

// FuzzParse checks that no line makes Parse panic, and that a line it
// accepts always fires after any time, later than it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"30 9 * * MON-FRI", "@every 10m", "TZ=", "CRON_TZ=", "@", "0-59/7 1,2 L * ?", "*/0 * * * *"} {
		f.Add(s)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line string) {
		s, err := Parse(line, nil)
		if err != nil {
			return
		}
		if next := s.Next(start); !next.After(start) {
			t.Errorf("Parse(%q).Next(%v) = %v", line, start, next)
		}
	})
}
