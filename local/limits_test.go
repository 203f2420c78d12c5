package local

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestLimitsGolden runs the golden conversations of the reply limits: a
// long reply split into messages, and bot.flood ending a loop with
// another bot.
func TestLimitsGolden(t *testing.T) {
	var out bytes.Buffer
	res, err := RunTests(context.Background(), TestOptions{Paths: []string{"testdata/limits"}, Update: *update}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != 0 || res.Passed != 2 {
		t.Errorf("exit %d:\n%s", res.ExitCode(), out.String())
	}
	flood, _ := os.ReadFile("testdata/limits/flood.golden")
	split, _ := os.ReadFile("testdata/limits/split.golden")
	for _, tt := range []struct {
		golden []byte
		want   string
		count  int
	}{
		{flood, "[#general] rulebot: pong (ping ", 12},                                                                   // 10, then 2 after the minute
		{flood, "[#general] deploybot: ping 15\n[#general] alice: ping from a person\n", 1},                              // 11 to 15 unanswered
		{flood, "[#general] rulebot: pong (ping from a person)\n", 1},                                                    // people are not capped
		{flood, "[#random] rulebot: pong (ping elsewhere)\n", 1},                                                         // another channel
		{flood, "[#general] deploybot: ping 16\n[#general] deploybot: ping 17\n[#general] rulebot: pong (ping 17)\n", 1}, // 59 s: still full; 60 s: free
		{split, "[#general] rulebot: line 1\n", 1},
		{split, "    line 456\n[#general] rulebot: line 457\n", 1}, // lines 1-456 and their 455 breaks: 3,995 characters
		{split, "[#general] rulebot: word word", 2},                // 1,000 words: 4,999 characters, at a space
		{split, "[#general thread] rulebot: ", 5},                  // 2,500 lines: cut to 5 messages
		{split, "…\n", 1},
	} {
		if got := strings.Count(string(tt.golden), tt.want); got != tt.count {
			t.Errorf("golden holds %q %d times, want %d", tt.want, got, tt.count)
		}
	}
}
