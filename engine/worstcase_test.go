package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

// maxHeapPerMessage bounds what one message may allocate, whatever the
// rules and the text.
const maxHeapPerMessage = 20 << 20

// TestWorstCaseHeap handles each worst-case message once and checks the
// bytes allocated meanwhile (runtime.MemStats.TotalAlloc, which counts
// every allocation, collected or not). Before each literal was counted once
// per message, the shared-literal cases allocated 120–490 MiB.
func TestWorstCaseHeap(t *testing.T) {
	type heapCase struct {
		name  string
		rules string
		msg   engine.Message
	}
	var cases []heapCase
	for _, c := range worstCases {
		cases = append(cases, heapCase{c.name, worstRules(c.rule), c.msg})
	}
	contains := worstRules(func(i int) string { return "contains: " + benchWord(i) })
	for _, c := range []struct{ name, unit string }{
		// Slack markup that Normalize decodes or unwraps, repeated.
		{"open-brackets", "<"},
		{"close-brackets", ">"},
		{"entities", "&amp;"},
		{"half-entities", "&am"},
		{"links", "<http://x|y>"},
		{"mentions", "<@U1>"},
		{"unclosed-links", "<http://kwaaaa"},
	} {
		cases = append(cases, heapCase{"contains/" + c.name, contains, msg(repeatTo(c.unit, worstLen))})
	}
	cases = append(cases,
		heapCase{
			// Every literal ends at every position of the message: "a",
			// "aa", … "a"×1,000 in "aaaa…" (the first one fires at the end).
			name: "contains/overlapping",
			rules: worstRules(func(i int) string {
				return "contains: " + strings.Repeat("a", i+1)
			}),
			msg: msg(repeatTo("a", worstLen) + " b"),
		},
		heapCase{
			name:  "exact/deploy…",
			rules: worstRules(func(i int) string { return "exact: deploy " + benchWord(i) }),
			msg:   msg(repeatTo("deploy  ", worstLen)),
		},
	)
	// These spend seconds in the regexps themselves, as the naive loop does;
	// shared-prefix/deploy… exercises the same index path in milliseconds.
	slow := map[string]bool{"shared-deploy/deploy…": true, "shared-space/a-a-a": true, "no-literal/a-a-a": true}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if slow[c.name] && testing.Short() {
				t.Skip("slow: runs 1,000 regexps over 40,000 bytes")
			}
			e := engine.New(compile(t, c.rules), options())
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			e.Handle(ctx, c.msg)
			runtime.ReadMemStats(&after)
			n := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s allocated", mib(n))
			if n > maxHeapPerMessage {
				t.Errorf("Handle allocated %s for one %d-byte message, want at most %s",
					mib(n), len(c.msg.Text), mib(maxHeapPerMessage))
			}
		})
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
