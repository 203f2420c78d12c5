package local

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// TestMemoryScheduleRoutingGoldens runs the golden conversations of the
// test-file keys memory: and {after: D}, of schedules firing as the clock
// advances, and of replies sent elsewhere or shown to one person, and
// checks that each golden holds the transcript lines SPEC §5 and §7 ask for.
func TestMemoryScheduleRoutingGoldens(t *testing.T) {
	tests := []struct {
		dir   string
		files int
		want  map[string][]string // golden → text it must hold
	}{
		{"testdata/memory", 3, map[string][]string{
			"seeded.golden": {
				"[#general] rulebot: @bob has 4 points.\n[#general] alice: @bob++\n[#general] rulebot: @bob has 5 points.\n",
				"[#general] rulebot: Winter is coming\n",
				"[#general] rulebot: first | second\n",
				"[#general] rulebot: second | third | fourth\n",
			},
			"unseeded.golden": {
				"[#general] rulebot: {}\n",
				"[#general] rulebot: No motto.\n",
				"[#general] rulebot: No quotes.\n",
				"[#general] rulebot: @bob has 1 points.\n",
			},
			"after.golden": {
				"[#general] alice: @rulebot here\n[#general] rulebot: Noted, alice.\n[#general] alice: @rulebot seen alice\n[#general] rulebot: alice was here at 09:00.\n" +
					"[#general] alice: @rulebot seen alice\n[#general] rulebot: alice has not been here in the last hour.\n",
				"[#general] rulebot: bob was here at 10:30.\n",
			},
		}},
		{"testdata/schedule", 2, map[string][]string{
			"order.golden": {
				"[#general] alice: time\n[#general] rulebot: It is 09:50:00; 0 ticks so far.\n" +
					"[#ops] rulebot: hourly-ops at 10:00 CET\n[@alice] rulebot: hourly-alice at 10:00\n[#ops] rulebot: tick 1 at 10:00\n" +
					"[#ops] rulebot: tick 2 at 10:20\n" +
					"[#general] alice: time\n[#general] rulebot: It is 10:30:00; 2 ticks so far.\n" +
					"[#ops] rulebot: tick 3 at 10:40\n" +
					"[#ops] rulebot: hourly-ops at 11:00 CET\n[@alice] rulebot: hourly-alice at 11:00\n[#ops] rulebot: tick 4 at 11:00\n" +
					"[#general] alice: time\n[#general] rulebot: It is 11:00:00; 4 ticks so far.\n" +
					"[#ops] rulebot: tick 5 at 11:20\n[#ops] rulebot: tick 6 at 11:40\n",
			},
			"edges.golden": {
				"[#general] rulebot: It is 10:00:00; 0 ticks so far.\n[#ops] rulebot: tick 1 at 10:20\n[#general] alice: @rulebot loud\n",
				"[#general] rulebot: Loud for 15 minutes.\n[#ops] rulebot: loud at 10:30\n[#ops] rulebot: tick 2 at 10:40\n" +
					"[#ops] rulebot: hourly-ops at 11:00 CET\n[@alice] rulebot: hourly-alice at 11:00\n[#ops] rulebot: tick 3 at 11:00\n",
			},
		}},
		{"testdata/to", 2, map[string][]string{
			"to.golden": {
				"[#general] alice: @rulebot page the db is down\n[#ops] rulebot: @alice needs help in #general: the db is down\n[#general] rulebot reacts :eyes:\n",
				"[@alice] rulebot: bob says: lunch?\n",
				"[@carol] rulebot: bob needs the on-call person: disk full\n",
				"[#random] rulebot: cake in the kitchen\n",
				"[@bob] rulebot: Only for you, bob: the password is swordfish\n[#general] rulebot reacts :shushing_face:\n",
				"[@carol] carol: whisper hi\n[@carol] rulebot: Only for you, carol: hi\n[@carol] rulebot reacts :shushing_face:\n",
				"[#general thread] dave: @rulebot page still down\n[#ops] rulebot: @dave needs help in #general: still down\n[#general thread] rulebot reacts :eyes:\n",
			},
			"ephemeral.golden": {
				"[#general] rulebot (only alice sees): You are @alice (UALICE).\n",
				"[#general thread] rulebot (only bob sees): You are @bob (UBOB).\n",
				"[@carol] rulebot: You are @carol (UCAROL).\n",
				"[#random] rulebot (only dave sees): You are @dave (UDAVE).\n",
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			var out bytes.Buffer
			res, err := RunTests(context.Background(), TestOptions{Paths: []string{tt.dir}, Update: *update}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode() != 0 || res.Passed != tt.files {
				t.Errorf("exit %d, %d passed:\n%s", res.ExitCode(), res.Passed, out.String())
			}
			for name, lines := range tt.want {
				golden, err := os.ReadFile(filepath.Join(tt.dir, name))
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range lines {
					if !strings.Contains(string(golden), l) {
						t.Errorf("%s lacks\n%s", name, l)
					}
				}
			}
		})
	}
}

// TestTooManyOccurrences: an advance of the clock that passes more than
// 10,000 schedule occurrences is an error in the test file, at the item.
func TestTooManyOccurrences(t *testing.T) {
	var out bytes.Buffer
	res, err := RunTests(context.Background(), TestOptions{Paths: []string{"testdata/toomany"}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "toomany", "toomany.yaml")
	want := "FAIL " + path + "\n" +
		path + ":5:5: after: 28h0m0s: the clock would pass more than 10,000 schedule occurrences (rule \"often\" fires most often); advance it in smaller steps\n" +
		"0 passed, 1 failed\n"
	if res.ExitCode() != 2 || out.String() != want {
		t.Errorf("exit %d, output:\n%s\nwant exit 2 and:\n%s", res.ExitCode(), out.String(), want)
	}
}

// TestOccurrences counts the occurrences of an @every 10s schedule around
// the limit: exactly 10,000 in one advance is allowed, one more is not.
func TestOccurrences(t *testing.T) {
	rs, err := engine.Compile("r.yaml", []byte("rules:\n  - {name: often, schedule: '@every 10s', to: '#ops', reply: tick}\n  - {name: hourly, schedule: '@hourly', to: '#ops', reply: hour}\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		after   time.Duration
		n       int
		wantErr bool
	}{
		{0, 0, false},
		{9 * time.Second, 0, false},
		{10 * time.Second, 1, false},
		{time.Hour, 361, false},
		{99_730 * time.Second, 10_000, false}, // 9,973 ticks and 27 hours
		{99_740 * time.Second, 0, true},       // one tick more
		{99_739 * time.Second, 10_000, false},
	}
	occs, err := occurrences(rs.Schedules(), start, start.Add(time.Hour), MaxOccurrences)
	if err != nil || len(occs) != 361 {
		t.Fatalf("an hour: %d occurrences, %v", len(occs), err)
	}
	for i := 1; i < len(occs); i++ {
		if occs[i].at.Before(occs[i-1].at) {
			t.Errorf("occurrence %d (%v) comes before %d (%v)", i, occs[i].at, i-1, occs[i-1].at)
		}
	}
	hour := start.Add(time.Hour)
	if a, b := occs[359], occs[360]; a.rule != "often" || b.rule != "hourly" || !a.at.Equal(hour) || !b.at.Equal(hour) {
		t.Errorf("at the hour: %v then %v; want often then hourly, in file order", a, b)
	}
	for _, tt := range tests {
		occs, err := occurrences(rs.Schedules(), start, start.Add(tt.after), MaxOccurrences)
		if (err != nil) != tt.wantErr || (!tt.wantErr && len(occs) != tt.n) {
			t.Errorf("after %v: %d occurrences, error %v; want %d, error %v", tt.after, len(occs), err, tt.n, tt.wantErr)
		}
	}
}

// TestChatFire fires schedule rules with /fire NAME; a wrong name is a
// clear line that lists the schedule rules.
func TestChatFire(t *testing.T) {
	rs, err := engine.Compile("rules.yaml", []byte(`bot: {timezone: Europe/Berlin}
rules:
  - {name: standup, schedule: "30 9 * * MON-FRI", to: "#standup", reply: "Standup time ({{ now().Format('15:04 MST') }})!"}
  - {name: remind, schedule: "@daily", to: "@bob", reply: "Drink water."}
  - {name: never, schedule: "@daily", to: "#ops", when: "false", reply: "never"}
  - {name: hi, match: {exact: hi}, reply: hello}
`))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 26, 14, 7, 0, 0, time.UTC)
	var out, errOut bytes.Buffer
	now := func() time.Time { return clock }
	sim := &Sim{Engine: engine.New(rs, engine.Options{BotUserID: BotUserID, Now: now}), BotName: "rulebot", Now: now, Out: &out}
	in := "hi\n/fire standup\n/fire remind\n/fire standpu\n/fire hi\n/fire\n/fire never\n"
	if err := ChatScript(context.Background(), sim, strings.NewReader(in), &errOut); err != nil {
		t.Fatal(err)
	}
	want := "[#general] you: hi\n[#general] rulebot: hello\n[#standup] rulebot: Standup time (15:07 CET)!\n[@bob] rulebot: Drink water.\n"
	if out.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", out.String(), want)
	}
	wantErr := "line 4: /fire standpu: no schedule rule has that name (did you mean \"standup\"?); the schedule rules are standup, remind, never\n" +
		"line 5: /fire hi: no schedule rule has that name; the schedule rules are standup, remind, never\n" +
		"line 6: usage: /fire NAME, where NAME is a schedule rule\n" +
		"line 7: /fire never: the rule posted nothing (its when is false, its reply is empty, or it failed)\n"
	if errOut.String() != wantErr {
		t.Errorf("errors:\n%s\nwant:\n%s", errOut.String(), wantErr)
	}

	rs, err = engine.Compile("rules.yaml", []byte("rules:\n  - {name: hi, match: {exact: hi}, reply: hello}\n"))
	if err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	sim.Engine.Swap(rs)
	if err := ChatScript(context.Background(), sim, strings.NewReader("/fire standup\n"), &errOut); err != nil {
		t.Fatal(err)
	}
	if want := "line 1: /fire standup: the rules have no schedule rules\n"; errOut.String() != want {
		t.Errorf("errors: %q, want %q", errOut.String(), want)
	}
}

// TestUpdate: -update writes a golden and says "updated", leaves an equal
// one alone and says "unchanged", and writes nothing for a test that fails
// for another reason (SPEC §1).
func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"rules.yaml": "rules:\n  - {name: hi, match: {exact: hi}, reply: hello}\n" +
			"  - {name: weather, schedule: '@hourly', to: '#ops', fetch: {url: 'https://weather.example/now'}, reply: '{{ fetch.json.t }}'}\n",
		"a.yaml": "rules: rules.yaml\nconversation: [hi]\n",
		"b.yaml": "rules: rules.yaml\nconversation: [hi, {after: 1h}]\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	run := func() string {
		var out bytes.Buffer
		if _, err := RunTests(context.Background(), TestOptions{Paths: []string{dir}, Update: true}, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	failB := "FAIL " + b + "\n" + b + ":2:20: rule \"weather\" fetched https://weather.example/now, which has no canned answer under fetch:\n1 passed, 1 failed\n"
	if got, want := run(), "updated "+GoldenPath(a)+"\n"+failB; got != want {
		t.Errorf("first -update:\n%s\nwant:\n%s", got, want)
	}
	if got, want := run(), "unchanged "+GoldenPath(a)+"\n"+failB; got != want {
		t.Errorf("second -update:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(GoldenPath(b)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failing test's golden was written: %v", err)
	}
	if golden, _ := os.ReadFile(GoldenPath(a)); string(golden) != "[#general] alice: hi\n[#general] rulebot: hello\n" {
		t.Errorf("a.golden = %q", golden)
	}
}
