package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
)

// benchWord returns the i'th of distinct six-letter words "kwaaaa",
// "kwaaab", ...; none is a prefix of another.
func benchWord(i int) string {
	b := []byte("kw____")
	for j := len(b) - 1; j >= 2; j-- {
		b[j] = byte('a' + i%26)
		i /= 26
	}
	return string(b)
}

// benchRules returns a rules file of n rules made by rule.
func benchRules(n int, rule func(i int) string) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		b.WriteString(rule(i))
	}
	return b.String()
}

var benchKinds = []struct {
	name string
	rule func(i int) string
	hit  func(n int) engine.Message // hits rule n/2
	miss engine.Message
}{
	{
		name: "keyword",
		rule: func(i int) string {
			return fmt.Sprintf("  - name: r%d\n    match: {regex: '(?i)\\b%s\\b'}\n    reply: \"hit %d\"\n", i, benchWord(i), i)
		},
		hit: func(n int) engine.Message {
			return msg("so then I said " + strings.ToUpper(benchWord(n/2)) + " to them, and left")
		},
		miss: msg("so then I said nothing to them, and left for the day"),
	},
	{
		name: "command",
		rule: func(i int) string {
			return fmt.Sprintf("  - name: r%d\n    match: {command: %s}\n    reply: \"hit %d {{ rest }}\"\n", i, benchWord(i), i)
		},
		hit:  func(n int) engine.Message { return at(benchWord(n/2) + " some arguments here") },
		miss: at("nothing some arguments here"),
	},
	{
		name: "contains",
		rule: func(i int) string {
			return fmt.Sprintf("  - name: r%d\n    match: {contains: %s}\n    reply: \"hit %d\"\n", i, benchWord(i), i)
		},
		hit:  func(n int) engine.Message { return msg("so then I said " + benchWord(n/2) + " to them, and left") },
		miss: msg("so then I said nothing to them, and left for the day"),
	},
}

func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	for _, kind := range benchKinds {
		for _, n := range []int{10, 100, 1000, 10000} {
			e := engine.New(compile(b, benchRules(n, kind.rule)), options())
			for _, c := range []struct {
				name string
				m    engine.Message
				want []string
			}{
				{"hit", kind.hit(n), []string{fmt.Sprintf("r%d: hit %d", n/2, n/2)}},
				{"miss", kind.miss, nil},
			} {
				b.Run(fmt.Sprintf("%s/rules=%d/%s", kind.name, n, c.name), func(b *testing.B) {
					got := show(c.m, e.Handle(ctx, c.m))
					if len(got) != len(c.want) || (len(got) == 1 && !strings.HasPrefix(got[0], c.want[0])) {
						b.Fatalf("Handle(%q) = %q, want %q", c.m.Text, got, c.want)
					}
					b.ReportAllocs()
					for b.Loop() {
						e.Handle(ctx, c.m)
					}
				})
			}
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	src := []byte(benchRules(1000, func(i int) string {
		return benchKinds[i%len(benchKinds)].rule(i)
	}))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.Compile("bench.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKarma is the karma rule of SPEC §6 on a RAM store: one add and
// one recall per message, the engine's own cost of memory.
func BenchmarkKarma(b *testing.B) {
	store, err := memory.NewRAM(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	opts := options()
	opts.Memory = store
	e := engine.New(compile(b, `
rules:
  - name: karma-up
    match: {regex: '<@(?P<id>[UW][A-Z0-9]+)>\s?\+\+'}
    remember:
      - {key: "karma/{{ match.id }}", add: 1}
    reply: "<@{{ match.id }}> has {{ recall('karma/' + match.id) }} points."
`), opts)
	m := msg("thanks <@UBOB>++")
	ctx := context.Background()
	if got := show(m, e.Handle(ctx, m)); len(got) != 1 || got[0] != "karma-up: <@UBOB> has 1 points." {
		b.Fatalf("Handle = %q", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Handle(ctx, m)
	}
}
