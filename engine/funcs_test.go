package engine_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

// eval compiles a one-rule file whose reply is template and returns the
// reply to message text (or "error: ..." from on_error).
func eval(t *testing.T, opts engine.Options, template, text string) string {
	t.Helper()
	rs := compile(t, `
vars:
  slack: SLACK_BOT_TOKEN
  list: [a, b, c]
rules:
  - name: eval
    reply: |-
      `+template+`
    on_error: "error: {{ error }}"
`)
	m := msg(text)
	acts := engine.New(rs, opts).Handle(context.Background(), m)
	if len(acts) != 1 {
		t.Fatalf("%s: got %d actions (%q), want 1", template, len(acts), show(m, acts))
	}
	return acts[0].Text
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		template string
		text     string // the message; "x" if empty
		want     string
	}{
		// thousands: the shortest form that reads back as the same
		// number, grouped like Python's '{:,}'.format, whole numbers
		// without ".0".
		{"{{ thousands(1234567) }}", "", "1,234,567"},
		{"{{ thousands(4115.22) }}", "", "4,115.22"},
		{"{{ thousands(-1000) }}", "", "-1,000"},
		{"{{ thousands(10000.0) }}", "", "10,000"},
		{"{{ thousands(0) }}", "", "0"},
		{"{{ thousands(-0.0) }}", "", "0"},
		{"{{ thousands(999) }}", "", "999"},
		{"{{ thousands(-999) }}", "", "-999"},
		{"{{ thousands(1000) }}", "", "1,000"},
		{"{{ thousands(100000) }}", "", "100,000"},
		{"{{ thousands(-1234.5) }}", "", "-1,234.5"},
		{"{{ thousands(0.5) }}", "", "0.5"},
		{"{{ thousands(0.1 + 0.2) }}", "", "0.30000000000000004"},          // as Python prints it
		{"{{ thousands(1e-7) }}", "", "0.0000001"},                         // Python: 1e-07; we never use an exponent
		{"{{ thousands(1e21) }}", "", "1,000,000,000,000,000,000,000"},     // Python: 1e+21
		{"{{ thousands(9007199254740993) }}", "", "9,007,199,254,740,993"}, // an int stays exact
		{"{{ thousands(1 / 0) }}", "", "Inf"},
		{"{{ thousands(round(3000000 / 300 * 100) / 100) }}", "", "10,000"},
		{"{{ thousands(num(text)) }}", "$3,000,000.25", "3,000,000.25"},
		{"{{ thousands(vars.list[0]) }}", "", `error: thousands: text "a" is not a number`},
		// Numbers render like thousands, without separators.
		{"{{ 1234567 }} {{ 10000.0 }} {{ 4115.22 }} {{ 1e21 }} {{ 0.1 + 0.2 }}", "", "1234567 10000 4115.22 1000000000000000000000 0.30000000000000004"},

		// num: an optional sign, an optional $, commas between digits
		// and a decimal point; the whole of the trimmed text.
		{"{{ num(text) }}", "$1,234.50", "1234.5"},
		{"{{ num(text) }}", "-1000", "-1000"},
		{"{{ num(text) }}", "+$3,000,000", "3000000"},
		{"{{ num(text) }}", "$-5", "-5"},
		{"{{ num(text) }}", "-$5", "-5"},
		{"{{ num(text) }}", "42", "42"},
		{"{{ num(' 42 ') }}", "", "42"},
		{`{{ num('\t7\n') }}`, "", "7"},
		{"{{ num(text) }}", ".5", "0.5"},
		{"{{ num(text) }}", "5.", "5"},
		{"{{ num(text) }}", "007", "7"},
		// A comma is allowed between any two digits, as pybot's
		// replace(",", "") allowed it: "1,2,3" is 123. (Only a comma
		// that does not sit between digits is an error.)
		{"{{ num(text) }}", "1,2,3", "123"},
		{"{{ num(text) }}", "1,00", "100"},
		{"{{ num(text) }}", "abc", `error: num: "abc" is not a number`},
		{"{{ num('') }}", "", `error: num: "" is not a number`},
		{"{{ num('   ') }}", "", `error: num: "   " is not a number`},
		{"{{ num(text) }}", "$", `error: num: "$" is not a number`},
		{"{{ num(text) }}", "-", `error: num: "-" is not a number`},
		{"{{ num(text) }}", ".", `error: num: "." is not a number`},
		{"{{ num(text) }}", "1.2.3", `error: num: "1.2.3" is not a number`},
		{"{{ num(text) }}", "1,", `error: num: "1," is not a number`},
		{"{{ num(text) }}", ",1", `error: num: ",1" is not a number`},
		{"{{ num(text) }}", "1,,000", `error: num: "1,,000" is not a number`},
		{"{{ num(text) }}", "1.000,5", `error: num: "1.000,5" is not a number`},
		{"{{ num(text) }}", "--1", `error: num: "--1" is not a number`},
		{"{{ num(text) }}", "$$1", `error: num: "$$1" is not a number`},
		{"{{ num(text) }}", "1e5", `error: num: "1e5" is not a number`},
		{"{{ num(text) }}", "0x10", `error: num: "0x10" is not a number`},
		{"{{ num(text) }}", "NaN", `error: num: "NaN" is not a number`},
		{"{{ num(text) }}", "Inf", `error: num: "Inf" is not a number`},
		{"{{ num(text) }}", "1 000", `error: num: "1 000" is not a number`},
		{"{{ num(text) }}", "12abc", `error: num: "12abc" is not a number`},
		{"{{ num(text) }}", "5$", `error: num: "5$" is not a number`},
		{"{{ num(text) }}", "١٢", `error: num: "١٢" is not a number`},

		// json: JSON text, for fetch bodies.
		{"{{ json(text) }}", `say "hi"`, `"say \"hi\""`},
		{`{{ json({"a": [1, "x", nil, true], "b": 2.5}) }}`, "", `{"a":[1,"x",null,true],"b":2.5}`},
		{"{{ json(nil) }}", "", "null"},
		{"{{ json(vars.list) }}", "", `["a","b","c"]`},
		{"{{ json(user) }}", "", `{"id":"UALICE","name":"alice"}`},
		{"{{ json(text) }}", "a &amp; b", `"a \u0026 b"`},

		// urlquery: query-escaped.
		{"{{ urlquery(text) }}", "a b&amp;c=d/é?", "a+b%26c%3Dd%2F%C3%A9%3F"},
		{"[{{ urlquery('') }}]", "", "[]"},

		// pick: Intn picks the element (see options: always the first).
		{"{{ pick(vars.list) }}", "", "a"},
		{"{{ pick(['only']) }}", "", "only"},
		{"{{ pick([]) }}", "", "error: pick: the list is empty"},
		{"{{ pick(text) }}", "", `error: pick: text "x" is not a list`},

		// now: the injected clock.
		{"{{ now() }}", "", "2026-11-26T09:00:00Z"},
		{`{{ now().Format("Mon 2 Jan 2006") }} {{ now().Year() }}`, "", "Thu 26 Nov 2026 2026"},
		{"{{ now().Add(duration('90m')) }}", "", "2026-11-26T10:30:00Z"},

		// env: Getenv of a literal name (computed names and secrets are
		// check errors: testdata/env.bad.yaml).
		{"{{ env('HOME') }}", "", "/home/rulebot"},
		{"{{ env('HO' + 'ME') }} {{ env(\"HOME\") }}", "", "/home/rulebot /home/rulebot"},
		{"[{{ env('UNSET') }}]", "", "[]"},

		// expr's own functions are there too.
		{"{{ upper(text) }} {{ len(text) }} {{ trim('  x ') }} {{ join(['a', 'b'], '-') }}", "hi", "HI 2 x a-b"},
		{"{{ round(2.5) }} {{ max(1, 3) }} {{ int('42') + 1 }} {{ string(7) }}", "", "3 3 43 7"},
	}
	var asked []string
	opts := options()
	opts.Getenv = func(name string) string {
		asked = append(asked, name)
		return map[string]string{"HOME": "/home/rulebot", "SLACK_BOT_TOKEN": "xoxb-secret"}[name]
	}
	for _, tt := range tests {
		text := tt.text
		if text == "" {
			text = "x"
		}
		if got := eval(t, opts, tt.template, text); got != tt.want {
			t.Errorf("%s with text %q = %q, want %q", tt.template, text, got, tt.want)
		}
	}
	for _, name := range asked {
		if strings.HasPrefix(strings.ToUpper(name), "SLACK_") {
			t.Errorf("Getenv was asked for %s", name)
		}
	}
}

// TestPickSeeded checks that pick and reply lists draw from Options.Intn, so
// a seeded source gives the same choices every time.
func TestPickSeeded(t *testing.T) {
	rs := compile(t, `
rules:
  - name: pick
    reply: ["{{ pick(['a', 'b', 'c', 'd', 'e']) }}", "{{ pick(['v', 'w', 'x', 'y', 'z']) }}"]
`)
	conversation := func(seed uint64) []string {
		opts := options()
		opts.Intn = rand.New(rand.NewPCG(seed, seed)).IntN
		e := engine.New(rs, opts)
		var out []string
		for range 20 {
			for _, a := range e.Handle(context.Background(), msg("x")) {
				out = append(out, a.Text)
			}
		}
		return out
	}
	one, again, other := conversation(1), conversation(1), conversation(2)
	if !slices.Equal(one, again) {
		t.Errorf("seed 1 twice: %q then %q", one, again)
	}
	if slices.Equal(one, other) {
		t.Errorf("seeds 1 and 2 gave the same %q", one)
	}
	seen := map[string]bool{}
	for _, s := range one {
		seen[s] = true
	}
	if len(seen) < 4 {
		t.Errorf("20 picks from 10 values gave only %q", one)
	}
}
