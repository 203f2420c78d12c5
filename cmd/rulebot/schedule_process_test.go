package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/memory/memtest"
)

// TestProcessSchedule: `run` posts a schedule rule's reply in the channel
// its `to` names, at each occurrence (whole multiples of 10s since the
// epoch, now() being the occurrence), once, across a reload that keeps the
// schedule.
func TestProcessSchedule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	fake.AddChannel("CSTANDUP", "standup", false)
	dir := t.TempDir()
	const rules = `rules:
  - name: tick
    schedule: "@every 10s"
    to: "#standup"
    reply: "tick {{ now().Unix() }}"
  - name: v
    match: {command: v}
    reply: %s
`
	write(t, dir, "rules.yaml", strings.Replace(rules, "%s", "one", 1))
	p := startProcWith(t, inDir(dir), slackEnv(fake, filepath.Join(dir, "rules.yaml")), "run")
	p.waitLog("connected to Slack", 1)

	tick := func() int64 {
		t.Helper()
		post, err := fake.WaitPost(ctx)
		if err != nil {
			t.Fatalf("no scheduled post: %v\n%s", err, p.logText())
		}
		unix, err := strconv.ParseInt(strings.TrimPrefix(post.Text, "tick "), 10, 64)
		if post.Channel != "CSTANDUP" || err != nil || unix%10 != 0 {
			t.Fatalf("scheduled post %q in %s; want \"tick UNIX\" (a multiple of 10) in CSTANDUP", post.Text, post.Channel)
		}
		if late := time.Since(time.Unix(unix, 0)); late < 0 || late > 5*time.Second {
			t.Errorf("the occurrence at %d was posted %s after its time", unix, late)
		}
		return unix
	}
	first := tick()
	// A reload that changes another rule keeps the schedule: the next
	// occurrence fires once, 10s later.
	write(t, dir, "rules.yaml", strings.Replace(rules, "%s", "two", 1))
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("rules reloaded: 2 rules", 1)
	if second := tick(); second != first+10 {
		t.Errorf("occurrences %d then %d; want one every 10s", first, second)
	}
	p.stop(15 * time.Second)
	seen := map[string]bool{}
	for _, post := range fake.Posts() {
		if seen[post.Text] {
			t.Errorf("an occurrence was posted twice: %q", post.Text)
		}
		seen[post.Text] = true
	}
}

// TestProcessScheduleReplicas: two replicas sharing Redis post each
// occurrence once between them.
func TestProcessScheduleReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	redisEnv := "REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"
	fake := workspace(0)
	defer fake.Close()
	fake.AddChannel("CSTANDUP", "standup", false)
	rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: tick
    schedule: "@every 10s"
    to: "#standup"
    reply: "tick {{ now().Unix() }}"
`)
	var procs []*proc
	for range 2 {
		p := startProc(t, append(slackEnv(fake, rules), redisEnv), "run")
		p.waitLog("connected to Slack", 1)
		procs = append(procs, p)
	}
	// Read posts until the second occurrence's: the first must not have
	// been posted twice meanwhile (the replicas fire within a few ms).
	first := ""
	for {
		post, err := fake.WaitPost(ctx)
		if err != nil {
			t.Fatalf("no scheduled post: %v", err)
		}
		if post.Text == first {
			t.Fatalf("an occurrence was posted twice: %q", post.Text)
		}
		if first != "" {
			break
		}
		first = post.Text
	}
	for _, p := range procs {
		p.stop(15 * time.Second)
	}
}
