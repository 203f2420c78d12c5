package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/memory/memtest"
	"github.com/rulebot/rulebot/internal/slackfake"
)

// karmaRules count "++" messages in memory, replying with the count after
// the write, and tell the count on "score".
const karmaRules = `rules:
  - name: up
    match: {regex: '^\+\+$'}
    remember:
      - {key: karma, add: 1}
    reply: "{{ recall('karma') }}"
  - name: score
    match: {command: score}
    reply: "score {{ recall('karma') }}"
`

// inDir runs a process in dir, where run keeps rulebot.db.
func inDir(dir string) func(*exec.Cmd) { return func(c *exec.Cmd) { c.Dir = dir } }

// sendPlusPlus sends n "++" messages without waiting for the replies,
// spread over channels (which the bot answers in parallel, each paced on
// its own): CGENERAL when there is one, else C0, C1, ….
func sendPlusPlus(t *testing.T, ctx context.Context, fake *slackfake.Server, n, channels int) {
	t.Helper()
	for i := range n {
		channel := "CGENERAL"
		if channels > 1 {
			channel = fmt.Sprintf("C%d", i%channels)
		}
		sent, err := fake.Say(ctx, slackfake.Message{User: "UALICE", Channel: channel, Text: "++"})
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.WaitAck(ctx, sent.EnvelopeID); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCounts waits for n replies, each a count, and returns the highest.
func waitCounts(t *testing.T, ctx context.Context, fake *slackfake.Server, n int) int {
	t.Helper()
	high := 0
	for range n {
		p, err := fake.WaitPost(ctx)
		if err != nil {
			t.Fatalf("waiting for a reply to ++: %v", err)
		}
		v, err := strconv.Atoi(p.Text)
		if err != nil {
			t.Fatalf("reply %q is not a count", p.Text)
		}
		high = max(high, v)
	}
	return high
}

// score starts `rulebot run args` (env, in dir) on a new fake Slack, asks
// for the score, stops it with SIGTERM and returns the score.
func score(t *testing.T, ctx context.Context, dir string, env []string, args ...string) int {
	t.Helper()
	fake := workspace(0)
	defer fake.Close()
	rules := filepath.Join(dir, "rules.yaml")
	p := startProcWith(t, inDir(dir), append(slackEnv(fake, rules), env...), append([]string{"run"}, args...)...)
	p.waitLog("connected to Slack", 1)
	got := say(t, ctx, fake, "<@UBOT> score").Text
	n, err := strconv.Atoi(strings.TrimPrefix(got, "score "))
	if err != nil {
		t.Fatalf("score reply %q", got)
	}
	p.stop(15 * time.Second)
	return n
}

// TestProcessMemorySurvivesKill: every write the bot acknowledged (by
// replying after it) is in rulebot.db after kill -9, while writes were
// still being made.
func TestProcessMemorySurvivesKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	write(t, dir, "rules.yaml", karmaRules)
	const sent, acked, channels = 200, 20, 40
	fake := workspace(channels)
	defer fake.Close()
	p := startProcWith(t, inDir(dir), slackEnv(fake, filepath.Join(dir, "rules.yaml")), "run")
	p.waitLog("connected to Slack", 1)
	sendPlusPlus(t, ctx, fake, sent, channels)
	high := waitCounts(t, ctx, fake, acked) // the bot is still writing the rest, in 40 channels at once
	p.cmd.Process.Kill()                    // SIGKILL
	p.wait(15 * time.Second)
	if _, err := os.Stat(filepath.Join(dir, "rulebot.db")); err != nil {
		t.Fatalf("no rulebot.db in the working directory: %v", err)
	}
	if got := score(t, ctx, dir, nil); got < high || got > sent {
		t.Errorf("after kill -9: score %d; a reply had acknowledged %d (of %d sent)", got, high, sent)
	} else {
		t.Logf("after kill -9: score %d; %d acknowledged, %d sent", got, high, sent)
	}
}

// TestProcessMemorySurvivesRestart: memory is the same after SIGTERM and
// a new start, in the file (default rulebot.db, or -memory) or in Redis.
func TestProcessMemorySurvivesRestart(t *testing.T) {
	tests := []struct {
		name  string
		env   func(t *testing.T) []string
		args  []string
		file  string // the memory file expected in the working directory
		moved bool   // the second process runs in another directory
	}{
		{name: "file", file: "rulebot.db"},
		{name: "-memory", args: []string{"-memory", "bot.mem"}, file: "bot.mem"},
		{name: "redis", moved: true, env: func(t *testing.T) []string {
			return []string{"REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var env []string
			if tc.env != nil {
				env = tc.env(t)
			}
			dir := t.TempDir()
			write(t, dir, "rules.yaml", karmaRules)
			fake := workspace(0)
			defer fake.Close()
			p := startProcWith(t, inDir(dir), append(slackEnv(fake, filepath.Join(dir, "rules.yaml")), env...), append([]string{"run"}, tc.args...)...)
			p.waitLog("connected to Slack", 1)
			const n = 5
			sendPlusPlus(t, ctx, fake, n, 1)
			if high := waitCounts(t, ctx, fake, n); high != n {
				t.Fatalf("the last reply says %d, want %d", high, n)
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			if code := p.wait(15 * time.Second); code != 0 {
				t.Fatalf("exit %d after SIGTERM:\n%s", code, p.logText())
			}
			entries, _ := os.ReadDir(dir)
			var files []string
			for _, e := range entries {
				files = append(files, e.Name())
			}
			want := []string{"rules.yaml"}
			if tc.file != "" {
				want = append([]string{tc.file}, want...)
			}
			if strings.Join(files, " ") != strings.Join(want, " ") {
				t.Errorf("files in the working directory: %v, want %v", files, want)
			}
			next := dir
			if tc.moved {
				next = t.TempDir()
				write(t, next, "rules.yaml", karmaRules)
			}
			if got := score(t, ctx, next, env, tc.args...); got != n {
				t.Errorf("after a restart: score %d, want %d", got, n)
			}
		})
	}
}
