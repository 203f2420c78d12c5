package engine_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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

// worstLen is the length of the worst-case messages: Slack's limit on the
// text of one message.
const worstLen = 40_000

// repeatTo returns unit repeated to exactly n bytes.
func repeatTo(unit string, n int) string {
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// worstCases are 1,000-rule sets and 40,000-character messages built to make
// the engine do as much work as possible per message. Every message fires no
// rule, so every candidate the index names is tried. naive(i) is the regexp
// a plain bot would run for rule i: the rule's own pattern for regex rules,
// the equivalent regexp for contains and command rules; the naive loop runs
// all 1,000 on the message's text (for a command, the text after the mention).
var worstCases = []struct {
	name  string
	rule  func(i int) string // the match of rule i
	naive func(i int) string
	msg   engine.Message
}{
	{
		// Every rule requires only "deploy", and the message is that word
		// 5,714 times: each rule is a candidate and runs on 40,000 bytes.
		name:  "shared-deploy/deploy…",
		rule:  func(i int) string { return fmt.Sprintf(`regex: '%s'`, sharedDeploy(i)) },
		naive: sharedDeploy,
		msg:   msg(repeatTo("deploy ", worstLen)),
	},
	{
		// The same rules; no message word is their literal, so no rule is a
		// candidate, while the naive loop runs them all.
		name:  "shared-deploy/a-a-a",
		rule:  func(i int) string { return fmt.Sprintf(`regex: '%s'`, sharedDeploy(i)) },
		naive: sharedDeploy,
		msg:   msg(repeatTo("a ", worstLen)),
	},
	{
		// The required literal is a case-folded "deploy "; the regexps' own
		// prefix "Deploy " is case-sensitive, so Go rejects the message in
		// microseconds: the cheapest naive loop, the 4.6 ms case.
		name:  "shared-prefix/deploy…",
		rule:  func(i int) string { return fmt.Sprintf(`regex: '%s'`, sharedPrefix(i)) },
		naive: sharedPrefix,
		msg:   msg(repeatTo("deploy ", worstLen)),
	},
	{
		// Every rule requires only " ", which occurs 20,000 times.
		name:  "shared-space/a-a-a",
		rule:  func(i int) string { return fmt.Sprintf(`regex: '%s'`, sharedSpace(i)) },
		naive: sharedSpace,
		msg:   msg(repeatTo("a ", worstLen)),
	},
	{
		// No required literal: every rule is tried on every message.
		name:  "no-literal/a-a-a",
		rule:  func(i int) string { return fmt.Sprintf(`regex: '%s'`, noLiteral(i)) },
		naive: noLiteral,
		msg:   msg(repeatTo("a ", worstLen)),
	},
	{
		// Every rule's word occurs in the message, but never as a word: each
		// is a candidate and its every occurrence is checked.
		name:  "contains/glued",
		rule:  func(i int) string { return "contains: " + benchWord(i) },
		naive: func(i int) string { return `(?i)\b` + benchWord(i) + `\b` },
		msg:   msg(repeatTo(gluedWords(1000), worstLen)),
	},
	{
		// Every command starts with "deploy", the message's first word:
		// each rule is a candidate and compares its words.
		name:  "command/deploy…",
		rule:  func(i int) string { return "command: deploy " + benchWord(i) },
		naive: func(i int) string { return `(?i)^deploy\s+` + benchWord(i) + `(?:\s|$)` },
		msg:   at(repeatTo("deploy ", worstLen-len("<@"+botUserID+"> "))),
	},
}

// sharedDeploy, sharedPrefix, sharedSpace and noLiteral return 1,000
// distinct patterns for i < 1,000 that differ in the sizes of character
// classes, which give no literal.
func sharedDeploy(i int) string { return `(?i)\bdeploy\b\s+` + benchWord(i) }
func sharedPrefix(i int) string {
	return fmt.Sprintf(`Deploy +[0-9]{%d}[a-z]{%d}`, 2+i/25, 1+i%25)
}
func sharedSpace(i int) string { return fmt.Sprintf(`\w+ [0-9]{%d}[a-z]{%d}`, 2+i/25, 1+i%25) }
func noLiteral(i int) string   { return fmt.Sprintf(`[a-z]+[^a-z ]{%d}[a-z]{%d}`, 1+i/25, 1+i%25) }

// gluedWords returns the first n bench words without spaces between them.
func gluedWords(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(benchWord(i))
	}
	return b.String()
}

// worstRules returns the rules file of a worst case: 1,000 rules whose
// match is rule(i).
func worstRules(rule func(i int) string) string {
	return benchRules(1000, func(i int) string {
		return fmt.Sprintf("  - name: r%d\n    match: {%s}\n    reply: hit\n", i, rule(i))
	})
}

// naiveText is the text the naive loop matches: the message without the
// bot's mention.
func naiveText(m engine.Message) string {
	return strings.TrimPrefix(m.Text, "<@"+botUserID+"> ")
}

// BenchmarkWorstCase runs each worst case through the engine
// (impl=rulebot) and through a naive loop over the same rules' regexps
// (impl=naive), in the same run. The engine's cost per message should stay
// at or below the naive loop's; compare them with
// benchstat -col /impl. Besides wall time, each reports the process's CPU
// time per message (cpu-ns/op), which other processes' load disturbs less.
func BenchmarkWorstCase(b *testing.B) {
	ctx := context.Background()
	for _, c := range worstCases {
		b.Run(c.name+"/impl=rulebot", func(b *testing.B) {
			e := engine.New(compile(b, worstRules(c.rule)), options())
			var got []engine.Action
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				got = e.Handle(ctx, c.msg)
			}
			reportCPU(b, cpu)
			if len(got) != 0 {
				b.Fatalf("Handle fired %q", show(c.msg, got))
			}
		})
		b.Run(c.name+"/impl=naive", func(b *testing.B) {
			res := make([]*regexp.Regexp, 1000)
			for i := range res {
				res[i] = regexp.MustCompile(c.naive(i))
			}
			text := naiveText(c.msg)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				for _, re := range res {
					if re.MatchString(text) {
						b.Fatalf("%s matches", re)
					}
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the CPU time used since start, per iteration, when the
// platform tells it.
func reportCPU(b *testing.B, start time.Duration) {
	if now := cpuTime(); now > 0 {
		b.ReportMetric(float64(now-start)/float64(b.N), "cpu-ns/op")
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
