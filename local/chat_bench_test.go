package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// The chat benchmarks feed rulebot chat a script as the shared peer
// benchmark (../shared/bench) does: n regex rules, about a fifth of the
// lines a hit for one of them, the rest ordinary team chat with near
// misses, the transcript written to a pipe. Each op is one line.

// chatBenchRules is a rules file of n rules in the peer benchmark's mix:
// case-insensitive keywords, alternations with a capture and anchored
// commands with a capture.
func chatBenchRules(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 1; i <= n; i++ {
		var pattern, reply string
		switch i % 10 {
		case 2:
			pattern, reply = fmt.Sprintf(`(?i)\b(flaky|broken|red)%d\b`, i), fmt.Sprintf("heard {{ groups[1] }}, rule %d says hi", i)
		case 5, 8:
			pattern, reply = fmt.Sprintf(`^!restart%d (\w+)$`, i), fmt.Sprintf("Running restart%d on {{ groups[1] }} now.", i)
		default:
			pattern, reply = fmt.Sprintf(`(?i)\bdeploy%d\b`, i), fmt.Sprintf(":robot_face: deploy%d acknowledged", i)
		}
		fmt.Fprintf(&b, "  - name: r%d\n    match: {regex: %q}\n    reply: %q\n", i, pattern, reply)
	}
	return b.String()
}

// chatBenchLine is line i of a script for n rules: every fifth line a hit
// for one rule, the others near misses.
func chatBenchLine(n, i int) string {
	chatter := []string{
		"the staging deploy is still failing on PR #4821, can someone look",
		"lgtm ping me when it works!",
		"Build latency went up around 10:30 I think hmm the outage postmortem",
		"standup in five minutes can we move the retro? uptime is fine...",
		"the cache hit rate dropped after the release & nobody noticed",
	}
	line := chatter[i%len(chatter)]
	if i%5 != 0 {
		return line
	}
	r := 1 + (i*7919)%n
	switch r % 10 {
	case 2:
		return fmt.Sprintf("%s Broken%d again", line, r)
	case 5, 8:
		return fmt.Sprintf("!restart%d api", r)
	}
	return fmt.Sprintf("%s DEPLOY%d", line, r)
}

// chatBenchScript is a script of lines lines for n rules.
func chatBenchScript(n, lines int) string {
	var b strings.Builder
	for i := range lines {
		b.WriteString(chatBenchLine(n, i))
		b.WriteByte('\n')
	}
	return b.String()
}

// pipeOut is the write end of a pipe whose read end is drained, as the
// benchmark's `rulebot chat | lines.py` is.
func pipeOut(b *testing.B) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		close(done)
	}()
	b.Cleanup(func() {
		w.Close()
		<-done
		r.Close()
	})
	return w
}

// BenchmarkChatScript is the time rulebot chat takes per line of a script
// (stdin a pipe): reading, encoding, the engine, the transcript.
// BenchmarkChatScript/engine is engine.Handle alone on the same lines,
// encoded beforehand: the difference is chat's own cost.
func BenchmarkChatScript(b *testing.B) {
	for _, n := range []int{100, 1000} {
		rs, err := engine.Compile("rules.yaml", []byte(chatBenchRules(n)))
		if err != nil {
			b.Fatal(err)
		}
		newSim := func(out io.Writer) *Sim {
			notices := make(chan string, 64)
			eng := engine.New(rs, engine.Options{BotUserID: BotUserID, Logger: slog.New(NoticeHandler(notices))})
			return &Sim{Engine: eng, BotName: "rulebot", Now: time.Now, Out: out, Notices: notices}
		}
		b.Run(fmt.Sprintf("rules=%d/chat", n), func(b *testing.B) {
			out := pipeOut(b)
			script := strings.NewReader(chatBenchScript(n, b.N))
			b.ResetTimer()
			if err := chatScript(context.Background(), newSim(out), script, io.Discard); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(fmt.Sprintf("rules=%d/engine", n), func(b *testing.B) {
			eng := newSim(nil).Engine
			msgs := make([]engine.Message, 1000)
			for i := range msgs {
				msgs[i] = engine.Message{Text: Encode(chatBenchLine(n, i), "rulebot"), UserID: UserID(ChatUser),
					UserName: ChatUser, ChannelID: ChannelID(ChatChannel), ChannelName: ChatChannel, TS: "1.000001"}
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				eng.Handle(ctx, msgs[i%len(msgs)])
			}
		})
	}
}

// BenchmarkEncode is the line encoder on a line of chat without markup
// and on one with a mention, a channel, a URL and entities.
func BenchmarkEncode(b *testing.B) {
	for _, tt := range []struct{ name, line string }{
		{"plain", "the staging deploy is still failing on PR 4821, can someone look at it"},
		{"markup", "@bob see #ops & https://example.com/a?b=1&c=2 <now>"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				Encode(tt.line, "rulebot")
			}
		})
	}
}
