package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/memory/memtest"
	"github.com/rulebot/rulebot/internal/slackfake"
)

// replicaRules echo "m N" and answer "king" at most once a minute per
// channel.
const replicaRules = `rules:
  - name: echo
    match: {regex: '^m \d+$'}
    reply: "r {{ text }}"
  - name: king
    match: {contains: king}
    cooldown: 1m
    reply: hail
`

// startReplicas starts n `rulebot run` processes on rules sharing Redis at
// redisEnv, one after the other, so that replica i holds Socket Mode
// connection i+1 (as Delivery.Conn numbers them).
func startReplicas(t *testing.T, ctx context.Context, fake *slackfake.Server, rules, redisEnv string, n int) []*proc {
	t.Helper()
	var procs []*proc
	for i := range n {
		p := startProc(t, append(slackEnv(fake, rules), redisEnv), "run")
		p.waitLog("connected to Slack", 1)
		if err := fake.WaitConnections(ctx, slackfake.SocketMode, i+1); err != nil {
			t.Fatal(err)
		}
		if got := fake.Connections(slackfake.SocketMode); got != i+1 {
			t.Fatalf("%d Socket Mode connections after %d replicas", got, i+1)
		}
		procs = append(procs, p)
	}
	return procs
}

// sendText sends text from alice in channel without waiting for its ack,
// and returns the envelope ID of the message event.
func sendText(t *testing.T, ctx context.Context, fake *slackfake.Server, channel, text string) string {
	t.Helper()
	sent, err := fake.Say(ctx, slackfake.Message{User: "UALICE", Channel: channel, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return sent.EnvelopeID
}

// replyCounts waits until every text in want has a reply "r TEXT", and
// returns how many replies each text got, counting every post so far.
func replyCounts(t *testing.T, ctx context.Context, fake *slackfake.Server, want []string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	posts := fake.Posts() // one snapshot: a post between two would be missed
	for _, p := range posts {
		counts[strings.TrimPrefix(p.Text, "r ")]++
	}
	missing := func() int {
		n := 0
		for _, w := range want {
			if counts[w] == 0 {
				n++
			}
		}
		return n
	}
	seen := len(posts)
	for missing() > 0 {
		if _, err := fake.WaitPost(ctx); err != nil {
			t.Fatalf("%d of %d messages unanswered: %v", missing(), len(want), err)
		}
		posts := fake.Posts()
		for _, p := range posts[seen:] {
			counts[strings.TrimPrefix(p.Text, "r ")]++
		}
		seen = len(posts)
	}
	return counts
}

// flush sends one "m flush-R-C" per replica connection and channel and waits
// for their replies: each replica handles a channel's messages in order,
// so what they sent before is then posted (duplicates included).
func flush(t *testing.T, ctx context.Context, fake *slackfake.Server, channels []string, replicas, base int) {
	t.Helper()
	var want []string
	// The fake deals envelopes to the connections in turn: replicas
	// messages in a row reach every replica.
	i := 0
	for _, ch := range channels {
		for range replicas {
			text := fmt.Sprintf("m %d", base+i)
			sendText(t, ctx, fake, ch, text)
			want = append(want, text)
			i++
		}
	}
	replyCounts(t, ctx, fake, want)
}

// TestProcessReplicasAnswerOnce: 3 replicas sharing Redis answer 300
// messages over 5 channels with exactly 300 replies, and the work is
// spread over all of them.
func TestProcessReplicasAnswerOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	redisEnv := "REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"
	fake := workspace(5)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", replicaRules)
	procs := startReplicas(t, ctx, fake, rules, redisEnv, 3)
	channels := []string{"C0", "C1", "C2", "C3", "C4"}
	const n = 300
	var want []string
	for i := range n {
		text := fmt.Sprintf("m %d", i)
		sendText(t, ctx, fake, channels[i%len(channels)], text)
		want = append(want, text)
	}
	start := time.Now()
	counts := replyCounts(t, ctx, fake, want)
	t.Logf("300 messages answered by 3 replicas in %v", time.Since(start).Round(time.Millisecond))
	flush(t, ctx, fake, channels, 3, n)
	counts = replyCounts(t, ctx, fake, want)
	for _, w := range want {
		if counts[w] != 1 {
			t.Errorf("%q answered %d times", w, counts[w])
		}
	}
	perConn := map[int]int{}
	for _, d := range fake.Deliveries() {
		perConn[d.Conn]++
	}
	if len(perConn) != 3 {
		t.Errorf("deliveries per connection %v: want all 3 replicas to get work", perConn)
	}
	stopAll(t, procs)
}

// stopAll stops procs with SIGTERM and checks they exit 0.
func stopAll(t *testing.T, procs []*proc) {
	t.Helper()
	for _, p := range procs {
		if p.cmd.ProcessState != nil {
			continue
		}
		p.stop(15 * time.Second)
	}
}

// TestProcessReplicasShareCooldown: two messages within a rule's cooldown,
// delivered to different replicas, get one reply.
func TestProcessReplicasShareCooldown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	redisEnv := "REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"
	fake := workspace(0)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", replicaRules)
	procs := startReplicas(t, ctx, fake, rules, redisEnv, 3)
	a := sendText(t, ctx, fake, "CGENERAL", "long live the king")
	b := sendText(t, ctx, fake, "CGENERAL", "the king is here")
	for _, env := range []string{a, b} {
		if err := fake.WaitAck(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	conns := map[string]int{}
	for _, d := range fake.Deliveries() {
		conns[d.EnvelopeID] = d.Conn
	}
	if conns[a] == conns[b] {
		t.Fatalf("both messages went to connection %d: the test needs two replicas", conns[a])
	}
	flush(t, ctx, fake, []string{"CGENERAL"}, 3, 10)
	kings := 0
	for _, p := range fake.Posts() {
		if p.Text == "hail" {
			kings++
		}
	}
	if kings != 1 {
		t.Errorf("%d replies to two messages within the cooldown on two replicas, want 1", kings)
	}
	stopAll(t, procs)
}

// TestProcessReplicasKarma: 60 karma adds spread over 3 replicas sharing
// Redis, handled concurrently, count 60.
func TestProcessReplicasKarma(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	redisEnv := "REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"
	fake := workspace(5)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", karmaRules)
	procs := startReplicas(t, ctx, fake, rules, redisEnv, 3)
	sendPlusPlus(t, ctx, fake, 60, 5)
	if high := waitCounts(t, ctx, fake, 60); high != 60 {
		t.Errorf("highest count replied %d, want 60", high)
	}
	sendText(t, ctx, fake, "CGENERAL", "<@UBOT> score")
	p, err := fake.WaitPost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != "score 60" {
		t.Errorf("score: %q, want %q", p.Text, "score 60")
	}
	stopAll(t, procs)
}

// TestProcessReplicaKilled: kill -9 of one of 3 replicas in the middle of
// a burst. Every message whose envelope it had not acked is redelivered to
// another replica and answered there exactly once; no message is answered
// twice.
func TestProcessReplicaKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	redisEnv := "REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"
	fake := workspace(10, slackfake.WithAckTimeout(time.Second),
		slackfake.WithRetryDelays(50*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond))
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", replicaRules)
	procs := startReplicas(t, ctx, fake, rules, redisEnv, 3)
	const killed = 2 // replica index: connection killed+1
	channels := []string{"C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"}
	const n = 300
	text := func(i int) string { return fmt.Sprintf("m %d", i) }
	envText := map[string]string{}
	for i := range n {
		if i == n/2 {
			procs[killed].cmd.Process.Kill()
		}
		envText[sendText(t, ctx, fake, channels[i%len(channels)], text(i))] = text(i)
	}
	procs[killed].wait(15 * time.Second)

	// Messages the killed replica acked may be lost (it died before
	// answering); every other one must be answered.
	ackedByKilled := map[string]bool{}
	deliveredToKilled := map[string]bool{}
	for _, d := range fake.Deliveries() {
		if d.Conn == killed+1 {
			deliveredToKilled[envText[d.EnvelopeID]] = true
			if d.Acked {
				ackedByKilled[envText[d.EnvelopeID]] = true
			}
		}
	}
	var want []string
	for i := range n {
		if !ackedByKilled[text(i)] {
			want = append(want, text(i))
		}
	}
	start := time.Now()
	replyCounts(t, ctx, fake, want)
	live := []*proc{procs[0], procs[1]}
	flush(t, ctx, fake, channels, 2, n)
	counts := replyCounts(t, ctx, fake, want)
	redelivered, lost := 0, 0
	for i := range n {
		m := text(i)
		if deliveredToKilled[m] && !ackedByKilled[m] {
			redelivered++
		}
		if ackedByKilled[m] && counts[m] == 0 {
			lost++
		}
		if ackedByKilled[m] {
			if counts[m] > 1 {
				t.Errorf("%q (acked by the killed replica) answered %d times", m, counts[m])
			}
		} else if counts[m] != 1 {
			t.Errorf("%q answered %d times, want once", m, counts[m])
		}
	}
	t.Logf("killed replica: %d envelopes delivered, %d acked (%d of them never answered: it died first), %d not acked and answered elsewhere (in %v)",
		len(deliveredToKilled), len(ackedByKilled), lost, redelivered, time.Since(start).Round(time.Millisecond))
	if len(deliveredToKilled) == 0 {
		t.Errorf("the killed replica got no envelope: the test tested nothing")
	}
	stopAll(t, live)
}

// TestProcessRTMLeaseFailover: two replicas on RTM sharing Redis, where
// both see every message: only the lease holder answers, and when it is
// killed -9 the other takes over within 10 s.
func TestProcessRTMLeaseFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	redisEnv := "REDIS_URL=redis://" + memtest.StartRedis(t, nil) + "/0"
	fake := workspace(0)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", replicaRules)
	env := []string{"SLACK_BOT_TOKEN=" + slackfake.DefaultClassicBotToken, "SLACK_API_URL=" + fake.APIURL(), "RULEBOT_RULES=" + rules, redisEnv}
	leader := startProc(t, env, "run")
	leader.waitLog("RTM with Redis: this replica answers (lease held)", 1)
	other := startProc(t, env, "run")
	other.waitLog("RTM with Redis: waiting: another replica answers", 1)
	if err := fake.WaitConnections(ctx, slackfake.RTM, 2); err != nil {
		t.Fatal(err)
	}
	rtm := func(i int) error {
		_, err := fake.SayRTM(ctx, slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: fmt.Sprintf("m %d", i)})
		return err
	}
	for i := range 5 {
		if err := rtm(i); err != nil {
			t.Fatal(err)
		}
	}
	replyCounts(t, ctx, fake, []string{"m 0", "m 1", "m 2", "m 3", "m 4"})
	// Both replicas handle a channel's messages in order: once the
	// leader's answer to a later message is in, a second answer to an
	// earlier one would be too.
	if err := rtm(5); err != nil {
		t.Fatal(err)
	}
	counts := replyCounts(t, ctx, fake, []string{"m 5"})
	for i := range 6 {
		if m := fmt.Sprintf("m %d", i); counts[m] != 1 {
			t.Errorf("%q answered %d times by two RTM replicas, want once", m, counts[m])
		}
	}

	leader.cmd.Process.Kill()
	killed := time.Now()
	leader.wait(15 * time.Second)
	// Send a message every 100 ms until one is answered.
	var failover time.Duration
	for i := 100; failover == 0; i++ {
		rtm(i) // the dead connection may fail the write; the live one gets it
		select {
		case <-ctx.Done():
			t.Fatalf("no replica answered after the leader was killed:\n%s", other.logText())
		case <-time.After(100 * time.Millisecond):
		}
		for _, p := range fake.Posts() {
			if p.Text != "" && p.Time.After(killed) {
				failover = p.Time.Sub(killed)
			}
		}
	}
	t.Logf("RTM failover: the other replica answered %v after kill -9 of the leader", failover.Round(time.Millisecond))
	if failover > 10*time.Second {
		t.Errorf("failover took %v, want within 10s", failover)
	}
	other.waitLog("RTM with Redis: this replica answers (lease held)", 1)

	// A replica stopped by SIGTERM (a deploy) lets the lease go: a third
	// one takes over at its next renewal, within a second or so.
	third := startProc(t, env, "run")
	third.waitLog("RTM with Redis: waiting: another replica answers", 1)
	other.cmd.Process.Signal(syscall.SIGTERM)
	stopped := time.Now()
	if code := other.wait(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, other.logText())
	}
	other.waitLog("RTM with Redis: lease let go", 1)
	third.waitLog("RTM with Redis: this replica answers (lease held)", 1)
	t.Logf("RTM handover: the third replica holds the lease %v after SIGTERM of the leader", time.Since(stopped).Round(time.Millisecond))
	if err := rtm(1000); err != nil {
		t.Fatal(err)
	}
	if c := replyCounts(t, ctx, fake, []string{"m 1000"}); c["m 1000"] != 1 {
		t.Errorf("answered %d times after the handover", c["m 1000"])
	}
	stopAll(t, []*proc{third})
}
