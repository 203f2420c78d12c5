package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// TestExpressionShapeLimits: an expression longer than 10,000 bytes or
// nested more than 100 levels, counting operators and brackets alike, is a
// positioned check error, found quickly, whatever its shape. (Before,
// 1,000,000 unary minus signs overflowed the parser's stack.)
func TestExpressionShapeLimits(t *testing.T) {
	reply := func(expr string) []byte {
		return []byte("rules:\n  - name: a\n    reply: \"{{" + expr + "}}\"\n")
	}
	when := func(expr string) []byte {
		return []byte("rules:\n  - name: a\n    when: '" + expr + "'\n    reply: x\n")
	}
	chain := func(first, link string, n int) string {
		return first + strings.Repeat(link, n)
	}
	tests := []struct {
		name string
		src  []byte
		want string // "" if the file compiles
	}{
		{
			name: "1,000,000 unary minus signs",
			src:  reply(chain("", "- ", 1_000_000) + "1"),
			want: `x.yaml:3:15: rule "a": reply: the expression is 2000001 bytes long (the limit is 10000)`,
		},
		{
			name: "a 200,000-term sum",
			src:  reply(chain("1", "+1", 199_999)),
			want: `x.yaml:3:15: rule "a": reply: the expression is 399999 bytes long (the limit is 10000)`,
		},
		{
			name: "a 1 MB member chain",
			src:  when(chain("vars", ".b", 500_000) + " == 1"),
			want: `x.yaml:3:12: rule "a": when: the expression is 1000009 bytes long (the limit is 10000)`,
		},
		{
			name: "a 1 MB pipe",
			src:  reply(chain("text", " | upper()", 100_000)),
			want: `x.yaml:3:15: rule "a": reply: the expression is 1000004 bytes long (the limit is 10000)`,
		},
		{
			name: "brackets 100,000 deep",
			src:  reply(strings.Repeat("(", 100_000) + "1" + strings.Repeat(")", 100_000)),
			want: `x.yaml:3:15: rule "a": reply: the expression is 200001 bytes long (the limit is 10000)`,
		},
		{
			name: "101 unary minus signs",
			src:  reply(chain("", "- ", 101) + "1"),
			want: `x.yaml:3:215: rule "a": reply: operators nest more than 100 levels deep`,
		},
		{
			name: "101 nots",
			src:  when(chain("", "not ", 101) + "true"),
			want: `x.yaml:3:412: rule "a": when: operators nest more than 100 levels deep`,
		},
		{
			name: "unary operators 101 deep through brackets",
			src:  reply(chain("", "-(", 101) + "1" + strings.Repeat(")", 101)),
			want: `x.yaml:3:215: rule "a": reply: operators nest more than 100 levels deep`,
		},
		{
			name: "101 minus signs, 100 of them binary",
			src:  reply(chain("1", " - -1", 100)),
			want: `x.yaml:3:19: rule "a": reply: the expression nests 101 levels deep (the limit is 100)`,
		},
		{
			name: "100 unary minus signs",
			src:  reply(chain("", "- ", 100) + "1"),
		},
		{
			name: "a 150-term sum",
			src:  reply(chain("1", " + 1", 149)),
			want: `x.yaml:3:209: rule "a": reply: the expression nests 149 levels deep (the limit is 100)`,
		},
		{
			name: "a 150-long member chain",
			src:  when(chain("vars", ".b", 150) + " == 1"),
			want: `x.yaml:3:117: rule "a": when: the expression nests 151 levels deep (the limit is 100)`,
		},
		{
			name: "a 150-long pipe",
			src:  reply(chain("text", " | upper()", 150)),
			want: `x.yaml:3:512: rule "a": reply: the expression nests 150 levels deep (the limit is 100)`,
		},
		{
			name: "brackets 101 deep",
			src:  reply(strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101)),
			want: `x.yaml:3:115: rule "a": reply: brackets nest more than 100 levels deep`,
		},
		{
			name: "lists 101 deep",
			src:  when(strings.Repeat("[", 101) + "1" + strings.Repeat("]", 101) + " != nil"),
			want: `x.yaml:3:112: rule "a": when: brackets nest more than 100 levels deep`,
		},
		{
			name: "lists and operators 60 deep each",
			src:  reply(strings.Repeat("[-", 60) + "1" + strings.Repeat("]", 60)),
			want: `x.yaml:3:115: rule "a": reply: the expression nests 120 levels deep (the limit is 100)`,
		},
		{
			name: "operators on bracketed operands 60 deep", // a bracket holds its operator's operand
			src:  reply(strings.Repeat("-(", 60) + "1" + strings.Repeat(")", 60)),
		},
		{
			name: "10,001 bytes",
			src:  reply("'" + strings.Repeat("a", 9_999) + "'"),
			want: `x.yaml:3:15: rule "a": reply: the expression is 10001 bytes long (the limit is 10000)`,
		},
		{
			name: "10,000 bytes",
			src:  reply("'" + strings.Repeat("a", 9_998) + "'"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := engine.Compile("x.yaml", tt.src)
			took := time.Since(start)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Compile error:\ngot  %.300q\nwant %.300q", got, tt.want)
			}
			// Under a second on an idle machine (0.14–0.22 s for the
			// million signs); the bound only catches a hang or a blow-up
			// (the original took minutes or crashed), not a slow machine.
			if took > 10*time.Second {
				t.Errorf("Compile took %v", took)
			}
			t.Logf("%d bytes compiled in %v", len(tt.src), took)
		})
	}
}

// costly returns a rules file with one rule, fired by "@bot go …", that
// replies tmpl and sends the error on failure.
func costly(tmpl string) string {
	return "rules:\n  - name: c\n    match: {command: go}\n    reply: " + fmt.Sprintf("%q", tmpl) +
		"\n    on_error: \"error: {{ error }}\"\n"
}

// TestExpressionBudget: an evaluation that would take too long or allocate
// too much fails with "expression too costly", quickly, before it allocates
// its result. (Before, these ran for minutes or ended the process with
// "fatal error: out of memory".)
func TestExpressionBudget(t *testing.T) {
	const tooCostly = "error: expression too costly"
	long := strings.Repeat("abcde", 1000) // 5,000 characters
	tests := []struct {
		tmpl, rest, want string
	}{
		{"{{ repeat('x', 1e9) }}", "", tooCostly},
		{"{{ repeat('x', 1000000000) }}", "", tooCostly},
		{"{{ repeat(rest, 1000000) }}", long, tooCostly},
		{"{{ repeat(repeat('x', 1e5), 1e5) }}", "", tooCostly},
		{"{{ let s = repeat('a', 200000); len(filter(1..400000, upper(s) == s)) }}", "", tooCostly},
		{"{{ len(filter(1..100000, upper(rest) == rest)) }}", long, tooCostly},
		{"{{ 1..1000000000 }}", "", tooCostly},
		{"{{ len(1..100000000) }}", "", tooCostly},
		{"{{ count(1..10000000, # > 5) }}", "", tooCostly},
		{"{{ reduce(1..40, #acc + #acc, 'x') }}", "", tooCostly},
		{"{{ len(reduce(1..1000, #acc + rest, '')) }}", long, tooCostly},
		{"{{ len(map(1..3000, map(1..3000, #))) }}", "", tooCostly},
		{"{{ let a = repeat('a', 100000); let b = repeat('a', 100000); len(filter(1..100000, a == b)) }}", "", tooCostly},
		{"{{ let l = map(1..50000, #); count(1..50000, # in l) }}", "", tooCostly},
		{"{{ len(join(map(1..100000, rest), rest)) }}", long, tooCostly},
		{"{{ len(replace(rest, '', rest)) }}", long, tooCostly},
		{"{{ len(toJSON(map(1..200000, [#, #, #]))) }}", "", tooCostly},
		{"{{ len(split(repeat('a', 2000000), '')) }}", "", tooCostly},
		{"{{ rest matches rest }}", strings.Repeat("(a|b)*", 2000), tooCostly},
		{"{{ len(sortBy(1..1000000, -#)) }}", "", tooCostly},
		{"{{ len(flatten(map(1..1000, 1..1000))) }}", "", tooCostly},
		{"{{ len(json(map(1..100000, rest))) }}", long, tooCostly},
		{"{{ len(urlquery(reduce(1..20, #acc + #acc, rest))) }}", long, tooCostly},
		{"{{ 1..1000000 }}", "", tooCostly},
		{"{{ map(1..100000, rest) }}", "", tooCostly},

		// Within the budget.
		{"{{ len(filter(1..100000, # % 2 == 0)) }}", "", "50000"},
		{"{{ len(repeat('ab', 100000)) }}", "", "200000"},
		{"{{ len(join(map(1..1000, string(#)), ',')) }}", "", "3892"},
		{"{{ len(reduce(1..10, #acc + #acc, 'x')) }}", "", "1024"},
		{"{{ upper(rest) == rest }} {{ len(split(rest, 'e')) }}", long, "false 1001"},
		{"{{ sum(map(1..1000, sum(1..100))) }}", "", "5050000"},
		{"{{ rest matches '^(abcde)+$' }}", long, "true"},
		{"{{ 1..5 }} {{ map(1..2, [{n: #}][0]) }}", "", `[1,2,3,4,5] [{"n":1},{"n":2}]`},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			e := engine.New(compile(t, costly(tt.tmpl)), options())
			m := at("go " + tt.rest)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			acts := e.Handle(ctx, m)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			got := show(m, acts)
			if want := "c: " + tt.want; len(got) != 1 || got[0] != want {
				t.Errorf("got %.200q, want %q", got, want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			if tt.want == tooCostly && alloc > 50<<20 {
				t.Errorf("the failed evaluation allocated %d MiB", alloc>>20)
			}
			if took > 10*time.Second { // ≤ 53 ms measured; the bound catches a runaway (the original: 310 s), not a slow machine
				t.Errorf("took %v", took)
			}
			t.Logf("%v, %d KiB allocated", took, alloc>>10)
		})
	}
}

// TestCostlyWhen: a when that exceeds its budget counts as false, and is
// logged with the error.
func TestCostlyWhen(t *testing.T) {
	var logs bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e := engine.New(compile(t, `
rules:
  - name: costly
    when: len(repeat(text, 100000000)) > 0
    reply: never
  - name: next
    reply: next
`), opts)
	m := msg("hello")
	if got := show(m, e.Handle(context.Background(), m)); len(got) != 1 || got[0] != "next: next" {
		t.Errorf("got %q, want only the next rule's reply", got)
	}
	if !strings.Contains(logs.String(), `rule=costly`) || !strings.Contains(logs.String(), `error="expression too costly"`) {
		t.Errorf("log does not name the rule and the error:\n%s", logs.String())
	}
}
