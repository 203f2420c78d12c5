package exprlimit_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/rulebot/rulebot/engine/internal/exprlimit"
)

// env returns a fresh environment of the kinds of values rules see.
func env() map[string]any {
	return map[string]any{
		"text":  "Hello, World",
		"long":  strings.Repeat("abcde", 1000),
		"words": []string{"b", "a", "c", "a"},
		"json": map[string]any{
			"n": 3.0, "s": "x,y", "list": []any{1.0, "two", map[string]any{"k": "v"}, nil},
		},
		"pat": "^h.*d$",
	}
}

func compile(t testing.TB, src string) *vm.Program {
	t.Helper()
	p, err := exprlimit.Compile(src, append([]expr.Option{expr.Env(env())}, exprlimit.Options()...)...)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return p
}

// TestMeterKeepsResults: a metered program computes what expr computes
// for every kind of operation the meter rewrites.
func TestMeterKeepsResults(t *testing.T) {
	for _, src := range []string{
		"text + '!' + text",
		"json.s + json.s",
		"json.n + 1",
		"1 + 2 * 3",
		"1..5",
		"len(1..0)",
		"map(1..5, # * 2)",
		"filter(words, # == 'a')",
		"count(json.list, # != nil)",
		"sum(1..10)",
		"reduce(1..5, #acc + #, 0)",
		"reduce(1..4, #acc + #acc, 'x')",
		"sortBy(words, #)",
		"groupBy(words, #)",
		"find(json.list, # == 'two')",
		"any(words, # contains 'a') && all(words, len(#) == 1)",
		"one(words, # startsWith 'b') || none(words, # endsWith 'z')",
		"findIndex(words, # in ['c']) + findLastIndex(words, # == 'a')",
		"map(words, # > 'a' ? upper(#) : lower(#))",
		"repeat(text, 3)",
		"join(words, '-') + join(['x'])",
		"replace(text, 'l', 'LL') + replace(text, '', '.')",
		"split(json.s, ',')",
		"split(text, '', 3)",
		"splitAfter(text, 'o')",
		"upper(text) + lower(text) + trim('  x ') + trimPrefix(text, 'He') + trimSuffix(text, 'ld')",
		"indexOf(text, 'o') + lastIndexOf(text, 'o')",
		"hasPrefix(text, 'He') && hasSuffix(text, 'ld')",
		"toJSON(json)",
		"fromJSON(toJSON(json))",
		"toBase64(text) + fromBase64(toBase64(text))",
		"string(json.list)",
		"keys({'a': 1, 'b': 2}) | sort()",
		"values({'a': 1})",
		"toPairs({'a': 1})",
		"fromPairs([['a', 1]])",
		"reverse(words)",
		"uniq(words)",
		"max(words) + min(words)",
		"mean(1..4) + median(1..5)",
		"concat(words, 1..2)",
		"flatten([1, [2, [3, [words]]]])",
		"text matches pat",
		"lower(text) matches pat",
		"filter(words, # matches '^[ab]$')",
		"text matches '^H'",
		"let s = text; s + s",
		"map(1..3, map(1..#, # + 1))",
		"json.list[1] + text[0:2]",
		"json?.missing ?? 'none'",
	} {
		t.Run(src, func(t *testing.T) {
			plain, err := expr.Compile(src, expr.Env(env()))
			if err != nil {
				t.Fatal(err)
			}
			want, wantErr := vm.Run(plain, env())
			got, gotErr := exprlimit.Run(compile(t, src), env())
			if (wantErr != nil) != (gotErr != nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("metered = %#v, %v; expr = %#v, %v", got, gotErr, want, wantErr)
			}
		})
	}
}

// TestBudget: what exceeds the budget fails with ErrTooCostly, and the
// budget is the evaluation's, not the environment's.
func TestBudget(t *testing.T) {
	for _, src := range []string{
		"repeat(long, 10000)",
		"len(1..100000000)",
		"count(1..1000000, true)",
		"reduce(1..60, #acc + #acc, text)",
		"len(toJSON(map(1..100000, long)))",
		"map(1..1000, map(1..1000, #))",
		"count(1..20000, long == long + '')",
		"long matches long",
		"len(split(repeat(long, 1000), ''))",
		"len(join(map(1..2000, long), long))",
	} {
		t.Run(src, func(t *testing.T) {
			_, err := exprlimit.Run(compile(t, src), env())
			if !errors.Is(err, exprlimit.ErrTooCostly) {
				t.Errorf("error %v, want %v", err, exprlimit.ErrTooCostly)
			}
		})
	}

	// Each evaluation starts afresh: runs of a program that takes most of
	// the budget all succeed with the same environment.
	p := compile(t, "len(repeat(long, 2000))")
	e := env()
	for i := range 5 {
		if v, err := exprlimit.Run(p, e); err != nil || v != 10_000_000 {
			t.Fatalf("run %d: %v, %v", i, v, err)
		}
	}

	// repeat's count may be a whole float, as a JSON number is.
	if v, err := exprlimit.Run(compile(t, "repeat('ab', 1e2) == repeat('ab', 100)"), env()); v != true || err != nil {
		t.Errorf("repeat('ab', 1e2) == repeat('ab', 100): %v, %v", v, err)
	}

	// A metered program run without a budget is refused.
	if _, err := vm.Run(compile(t, "upper(text)"), env()); err == nil {
		t.Error("a metered program ran without a budget")
	}
}

// TestCompileLimits: the size and nesting limits, with the position of
// the first part beyond them.
func TestCompileLimits(t *testing.T) {
	tests := []struct {
		src  string
		want string // "" if it compiles
		col  int
	}{
		{strings.Repeat("- ", 100) + "1", "", 0},
		{strings.Repeat("- ", 101) + "1", "operators nest more than 100 levels deep", 200},
		{strings.Repeat("!", 101) + "true", "operators nest more than 100 levels deep", 100},
		{strings.Repeat("not ", 100) + "true", "", 0},
		{"1" + strings.Repeat(" - -1", 50) + " != 1 and not ('a' not in ['b']) or 1e-5 - 1 > -(1) - [1, -2][0]", "", 0},
		{strings.Repeat("- ", 60) + "(" + strings.Repeat("!", 41) + "true)", "operators nest more than 100 levels deep", 161},
		{"len('- - -') + " + strings.Repeat("-(", 99) + "1" + strings.Repeat(")", 99), "", 0},
		{strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), "", 0},
		{strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101), "brackets nest more than 100 levels deep", 100},
		{"'((((' + " + strings.Repeat("[", 101) + "1" + strings.Repeat("]", 101), "brackets nest more than 100 levels deep", 109},
		{"'" + strings.Repeat("(", 200) + "'", "", 0},
		{"'é' + " + strings.Repeat("[", 101) + "1" + strings.Repeat("]", 101), "brackets nest more than 100 levels deep", 106},
		{"text" + strings.Repeat(" | upper()", 101), "the expression nests 101 levels deep (the limit is 100)", 7},
		{"'" + strings.Repeat("a", exprlimit.MaxBytes-2) + "'", "", 0},
		{"'" + strings.Repeat("a", exprlimit.MaxBytes-1) + "'", "the expression is 10001 bytes long (the limit is 10000)", 0},
	}
	for _, tt := range tests {
		_, err := exprlimit.Compile(tt.src, append([]expr.Option{expr.Env(env())}, exprlimit.Options()...)...)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Compile(%.40q…): %v", tt.src, err)
		case tt.want != "" && err == nil:
			t.Errorf("Compile(%.40q…) succeeded, want %q", tt.src, tt.want)
		case tt.want != "":
			var fe *file.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%.40q…): %T %v, want a *file.Error", tt.src, err, err)
			}
			if msg := fe.Message; msg != tt.want {
				t.Errorf("Compile(%.40q…) = %q, want %q", tt.src, fe.Message, tt.want)
			}
			if fe.Column != tt.col {
				t.Errorf("Compile(%.40q…): column %d, want %d", tt.src, fe.Column, tt.col)
			}
		}
	}
}

// BenchmarkFullBudget times evaluations that spend most of the budget:
// the time one evaluation can take at most, for each kind of cost.
func BenchmarkFullBudget(b *testing.B) {
	for _, src := range []string{
		"count(1..140000, # > 5)",
		"len(map(1..80000, [#, #]))",
		"count(1..40000, upper(text) == text)",
		"len(map(1..300, map(1..300, # + 1)))",
		"len(repeat(long, 3000))",
		"len(reduce(1..1000, #acc + text, ''))",
		"len(toJSON(map(1..2000, json)))",
		"len(fromJSON(toJSON(map(1..1000, json))))",
		"len(sortBy(1..50000, -#))",
	} {
		b.Run(src, func(b *testing.B) {
			p, e := compile(b, src), env()
			if _, err := exprlimit.Run(p, e); err != nil {
				b.Fatalf("%s: %v", src, err)
			}
			for b.Loop() {
				exprlimit.Run(p, e)
			}
		})
	}
}

// TestCharge checks that a value a bound function produces is charged to
// the evaluation's budget: once is within it, in a loop is too costly.
func TestCharge(t *testing.T) {
	big := make([]string, 1000)
	for i := range big {
		big[i] = strings.Repeat("x", 4000)
	}
	tests := []struct {
		src     string
		wantErr bool
	}{
		{`len(read())`, false},
		{`len(read()) + len(read())`, false},
		{`sum(map(1..10, len(read())))`, true},
	}
	for _, tt := range tests {
		e := map[string]any{"read": (func() ([]string, error))(nil)}
		p, err := exprlimit.Compile(tt.src, append(exprlimit.Options(), expr.Env(e))...)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		b := new(exprlimit.Budget)
		e[exprlimit.Key] = b
		e["read"] = func() ([]string, error) { return big, b.Charge(big) }
		_, err = exprlimit.Run(p, e)
		if got := errors.Is(err, exprlimit.ErrTooCostly); got != tt.wantErr {
			t.Errorf("%s: error %v, want too costly: %t", tt.src, err, tt.wantErr)
		}
	}
	var none *exprlimit.Budget
	if err := none.Charge("x"); !errors.Is(err, exprlimit.ErrTooCostly) {
		t.Errorf("a nil budget's Charge = %v, want ErrTooCostly", err)
	}
}
