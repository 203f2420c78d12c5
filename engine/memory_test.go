package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
)

// memStep is one message, sent after advancing the clock by after, and
// the actions it should cause, as show prints them.
type memStep struct {
	after time.Duration
	m     engine.Message
	want  []string
}

// memEngine returns an engine on rules src whose memory is a RAM store
// seeded with seed, on a clock the test advances.
func memEngine(t *testing.T, src string, seed map[string]any) (*engine.Engine, *clock, memory.Store) {
	t.Helper()
	c := newClock()
	store, err := memory.NewRAM(seed, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	opts := options()
	opts.Now = c.Now
	opts.Memory = store
	return engine.New(compile(t, src), opts), c, store
}

func runMem(t *testing.T, e *engine.Engine, c *clock, steps []memStep) {
	t.Helper()
	for i, s := range steps {
		c.Advance(s.after)
		got := show(s.m, e.Handle(context.Background(), s.m))
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d: message %q:\ngot  %q\nwant %q", i, s.m.Text, got, s.want)
		}
	}
}

func TestRemember(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		seed  map[string]any
		steps []memStep
		after map[string]any // what memory holds at the end (keys read with Get)
	}{
		{
			name: "karma: add 1 and recall, from SPEC §6",
			rules: `
rules:
  - name: karma-up
    match: {regex: '<@(?P<id>[UW][A-Z0-9]+)>\s?\+\+'}
    remember:
      - {key: "karma/{{ match.id }}", add: 1}
    reply: "<@{{ match.id }}> has {{ recall('karma/' + match.id) }} points."
`,
			steps: []memStep{
				{m: msg("<@UBOB>++"), want: []string{"karma-up: <@UBOB> has 1 points."}},
				{m: msg("thanks <@UBOB> ++"), want: []string{"karma-up: <@UBOB> has 2 points."}},
				{m: msg("<@UCAROL>++"), want: []string{"karma-up: <@UCAROL> has 1 points."}},
			},
			after: map[string]any{"karma/UBOB": 2.0, "karma/UCAROL": 1.0},
		},
		{
			name: "set, push with keep, delete, in order",
			rules: `
rules:
  - name: remember
    match: {command: remember}
    remember:
      - {key: quotes, push: "{{ rest }}", keep: 2}
      - {key: "last/{{ user.id }}", set: "{{ rest }}"}
      - {key: gone, delete: true}
    reply: "{{ recall('quotes') }} / {{ recall('last/' + user.id) }} / {{ recall('gone') ?? 'none' }}"
`,
			seed: map[string]any{"gone": "x"},
			steps: []memStep{
				{m: at("remember one"), want: []string{`remember: ["one"] / one / none`}},
				{m: at("remember two"), want: []string{`remember: ["one","two"] / two / none`}},
				{m: at("remember three"), want: []string{`remember: ["two","three"] / three / none`}},
			},
			after: map[string]any{"quotes": []string{"two", "three"}, "last/UALICE": "three", "gone": nil},
		},
		{
			name: "memory holds plain text; a reply escapes it",
			rules: `
rules:
  - name: note
    match: {command: note}
    remember:
      - {key: "note <&>", set: "{{ rest }}"}
    reply: "noted: {{ recall('note <&>') }}"
`,
			steps: []memStep{
				{m: at("note a &lt;b&gt; &amp; <!channel>"), want: []string{"note: noted: a &lt;b&gt; &amp; &lt;!channel&gt;"}},
			},
			after: map[string]any{"note <&>": "a <b> & <!channel>"},
		},
		{
			name: "add renders a number as num() reads it",
			rules: `
rules:
  - name: spend
    match: {command: spend}
    remember:
      - {key: spent, add: "{{ rest }}"}
      - {key: count, add: "1"}
      - {key: down, add: -2.5}
    reply: "{{ recall('spent') }} {{ recall('count') }} {{ recall('down') }}"
    on_error: "error: {{ error }}"
`,
			steps: []memStep{
				{m: at("spend $1,000.50"), want: []string{"spend: 1000.5 1 -2.5"}},
				{m: at("spend -0.5"), want: []string{"spend: 1000 2 -5"}},
				{m: at("spend lots"), want: []string{`spend: error: add to memory key "spent": "lots" is not a number`}},
			},
			after: map[string]any{"spent": 1000.0, "count": 2.0, "down": -5.0},
		},
		{
			name: "add on text fails the rule: on_error, no react, earlier writes stay",
			rules: `
rules:
  - name: bump
    match: {command: bump}
    remember:
      - {key: first, add: 1}
      - {key: name, add: 1}
      - {key: never, set: "x"}
    reply: "bumped"
    react: thumbsup
    on_error: "error: {{ error }}"
`,
			seed: map[string]any{"name": "bob"},
			steps: []memStep{
				{m: at("bump"), want: []string{`bump: error: cannot add to memory key "name": it holds text`}},
			},
			after: map[string]any{"first": 1.0, "name": "bob", "never": nil},
		},
		{
			name: "a failed write without on_error sends nothing",
			rules: `
rules:
  - name: bump
    match: {command: bump}
    remember:
      - {key: name, push: "x"}
    reply: "bumped"
    react: thumbsup
`,
			seed:  map[string]any{"name": 3},
			steps: []memStep{{m: at("bump"), want: nil}},
			after: map[string]any{"name": 3.0},
		},
		{
			name: "a key rendered too long fails at run time",
			rules: `
rules:
  - name: long
    match: {command: long}
    remember:
      - {key: "{{ rest }}", set: "x"}
    reply: "ok"
    on_error: "error: {{ error }}"
`,
			steps: []memStep{
				{m: at("long " + strings.Repeat("k", 201)), want: []string{`long: error: memory key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"… is 201 bytes, longer than 200`}},
				{m: at("long "), want: []string{"long: error: memory key is empty"}},
			},
		},
		{
			name: "ttl: the key is gone once the clock reaches the write plus the ttl",
			rules: `
rules:
  - name: seen
    match: {command: seen}
    remember:
      - {key: "seen/{{ user.id }}", set: "{{ now().Format('2006-01-02') }}", ttl: 1h}
    reply: "ok"
  - name: when
    match: {command: when}
    reply: "{{ recall('seen/' + user.id) ?? 'never' }}"
`,
			steps: []memStep{
				{m: at("when"), want: []string{"when: never"}},
				{m: at("seen"), want: []string{"seen: ok"}},
				{after: 59 * time.Minute, m: at("when"), want: []string{"when: 2026-11-26"}},
				{after: time.Minute, m: at("when"), want: []string{"when: never"}},
			},
		},
		{
			name: "recall in when, and writes seen by later rules for the same message",
			rules: `
rules:
  - name: pause
    match: {command: pause}
    remember:
      - {key: paused, set: "yes"}
    continue: true
  - name: count
    when: recall("paused") == nil
    remember:
      - {key: messages, add: 1}
    reply: "{{ recall('messages') }}"
  - name: paused
    when: recall("paused") != nil
    reply: "paused"
`,
			steps: []memStep{
				{m: msg("a"), want: []string{"count: 1"}},
				{m: msg("b"), want: []string{"count: 2"}},
				{m: at("pause"), want: []string{"paused: paused"}},
				{m: msg("c"), want: []string{"paused: paused"}},
			},
			after: map[string]any{"messages": 2.0, "paused": "yes"},
		},
		{
			name: "recall_all and mention: the leaderboard of SPEC §6",
			rules: `
rules:
  - name: leaderboard
    match: {command: top}
    reply: >-
      {{ let k = recall_all("karma/");
         join(map(sortBy(keys(k), k[#], "desc")[:2], mention(#) + " " + string(k[#])), ", ") }}
`,
			seed: map[string]any{"karma/UBOB": 3, "karma/UCAROL": 5, "karma/UDAVE": 1, "karma/<!channel>": 4, "other": 9},
			steps: []memStep{
				{m: at("top"), want: []string{"leaderboard: <@UCAROL> 5, &lt;!channel&gt; 4"}},
			},
		},
		{
			name: "stored values work with expr's functions",
			rules: `
rules:
  - name: q
    match: {command: q}
    reply: "{{ pick(recall('quotes')) }}; {{ join(recall('quotes'), ' | ') }}; {{ len(recall('none') ?? []) }}; {{ (recall('n') ?? 0) + 1 }}; {{ upper(recall('s')) }}; {{ 'b' in recall('quotes') }}"
`,
			seed:  map[string]any{"quotes": []any{"a", "b"}, "n": 41, "s": "x"},
			steps: []memStep{{m: at("q"), want: []string{"q: a; a | b; 0; 42; X; true"}}},
		},
		{
			name: "recall_all of nothing is an empty map",
			rules: `
rules:
  - name: all
    match: {command: all}
    reply: "{{ len(recall_all('none/')) }} {{ recall_all('none/') }} {{ recall('none') == nil }}"
`,
			steps: []memStep{{m: at("all"), want: []string{"all: 0 {} true"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, c, store := memEngine(t, tt.rules, tt.seed)
			runMem(t, e, c, tt.steps)
			for k, want := range tt.after {
				got, err := store.Get(context.Background(), k)
				if err != nil {
					t.Fatalf("Get(%q): %v", k, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("memory %q = %#v, want %#v", k, got, want)
				}
			}
		})
	}
}

// TestRecallAllLimit checks that recall_all returns the first 1,000 keys.
func TestRecallAllLimit(t *testing.T) {
	seed := map[string]any{}
	for i := range 1500 {
		seed[fmt.Sprintf("n/%04d", i)] = i
	}
	e, c, _ := memEngine(t, `
rules:
  - name: n
    match: {command: n}
    reply: "{{ len(recall_all('n/')) }} {{ sort(keys(recall_all('n/')))[999] }}"
`, seed)
	runMem(t, e, c, []memStep{{m: at("n"), want: []string{"n: 1000 0999"}}})
}

// TestRecallIsCharged checks that a value read from memory counts against
// the evaluation's budget: reading a large list in a loop is too costly,
// and fails within the budget's time instead of allocating gigabytes.
func TestRecallIsCharged(t *testing.T) {
	big := make([]string, 1000)
	for i := range big {
		big[i] = strings.Repeat("x", 4000)
	}
	e, c, _ := memEngine(t, `
rules:
  - name: loop
    match: {command: loop}
    reply: "{{ sum(map(1..1000, len(recall('big')))) }}"
    on_error: "error: {{ error }}"
  - name: once
    match: {command: once}
    reply: "{{ len(recall('big')) }}"
    on_error: "error: {{ error }}"
`, map[string]any{"big": big})
	runMem(t, e, c, []memStep{
		{m: at("loop"), want: []string{"loop: error: expression too costly"}},
		{m: at("once"), want: []string{"once: 1000"}},
	})
}

// TestMemoryUnavailable checks that a store that fails (here a file store
// already closed) fails the rule with a short reason, and logs the details.
func TestMemoryUnavailable(t *testing.T) {
	store, err := memory.OpenFile(filepath.Join(t.TempDir(), "m.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	var log bytes.Buffer
	opts := options()
	opts.Memory = store
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	e := engine.New(compile(t, `
rules:
  - name: w
    match: {command: w}
    remember: [{key: k, add: 1}]
    reply: "ok"
    on_error: "error: {{ error }}"
  - name: r
    match: {command: r}
    reply: "{{ recall('k') }}"
    on_error: "error: {{ error }}"
`), opts)
	run(t, e, []step{
		{at("w"), []string{"w: error: memory is unavailable"}},
		{at("r"), []string{"r: error: memory is unavailable"}},
	})
	for _, want := range []string{"memory write failed", "memory read failed", "key=k"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestDefaultMemory checks that an engine given no Memory keeps one in RAM.
func TestDefaultMemory(t *testing.T) {
	e := engine.New(compile(t, `
rules:
  - name: n
    match: {command: n}
    remember: [{key: n, add: 1}]
    reply: "{{ recall('n') }}"
`), options())
	run(t, e, []step{
		{at("n"), []string{"n: 1"}},
		{at("n"), []string{"n: 2"}},
	})
}

func TestMention(t *testing.T) {
	tests := []struct {
		template string
		text     string
		want     string
	}{
		{`{{ mention("UBOB") }}`, "", "<@UBOB>"},
		{`{{ mention("W123ABC") }}`, "", "<@W123ABC>"},
		{`hi {{ mention(user.id) }}!`, "", "hi <@UALICE>!"},
		{`{{ mention(text) }}`, "<!channel>", "&lt;!channel&gt;"},
		{`{{ mention(text) }}`, "<@UBOB>", "&lt;@UBOB&gt;"},
		{`{{ mention(text) }}`, "ubob", "ubob"},
		{`{{ mention(text) }}`, "UBOB>", "UBOB&gt;"},
		{`{{ mention(text) }}`, "C123", "C123"},
		{`{{ mention("UBOB") + " & " + text }}`, "<@UCAROL>", "<@UBOB> &amp; &lt;@UCAROL&gt;"},
		{`{{ join(map(["UA", "UB"], mention(#)), ", ") }}`, "", "<@UA>, <@UB>"},
		{`{{ [mention("UA")] }}`, "", `["<@UA>"]`},
		{`{{ upper(mention("UA")) }}`, "", "<@UA>"},
		// A token torn apart is not a mention; what is left is escaped.
		{`{{ mention("UABC")[0:3] }}`, "", "\uFDD0"},
		// Text that imitates a token does not know the message's number.
		{`{{ text }}`, "\uFDD000000000000000000000UBOB\uFDD1", "\uFDD000000000000000000000UBOB\uFDD1"},
		{`{{ mention("UA") }}{{ text }}`, "\uFDD000000000000000000000UBOB\uFDD1", "<@UA>\uFDD000000000000000000000UBOB\uFDD1"},
	}
	for _, tt := range tests {
		text := tt.text
		if text == "" {
			text = "x"
		}
		if got := eval(t, options(), tt.template, text); got != tt.want {
			t.Errorf("%s with text %q:\ngot  %q\nwant %q", tt.template, text, got, tt.want)
		}
	}
}

// TestMentionInMemory checks that a mention written to memory is the plain
// text <@ID>, which a later reply escapes like any stored text.
func TestMentionInMemory(t *testing.T) {
	e, c, store := memEngine(t, `
rules:
  - name: w
    match: {command: w}
    remember: [{key: "who", set: "{{ mention(user.id) }}"}]
    reply: "{{ mention(user.id) }} {{ recall('who') }}"
`, nil)
	runMem(t, e, c, []memStep{{m: at("w"), want: []string{"w: <@UALICE> &lt;@UALICE&gt;"}}})
	if v, _ := store.Get(context.Background(), "who"); v != "<@UALICE>" {
		t.Errorf("memory holds %q, want <@UALICE>", v)
	}
}
