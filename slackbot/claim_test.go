package slackbot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/slackfake"
)

// startReplicas runs n bots with the same tokens against fake, as n
// replicas sharing claim, each on its own Socket Mode connection.
func startReplicas(t *testing.T, fake *slackfake.Server, n int, claim func(context.Context, string, time.Duration) (bool, error)) []*harness {
	t.Helper()
	var hs []*harness
	for i := range n {
		h := startWith(t, fake, Socket, testRules, func(c *Config) { c.Claim = claim })
		if err := fake.WaitConnections(h.ctx, slackfake.SocketMode, i+1); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

// sharedClaim is a real store's Claim, shared by the replicas of a test.
func sharedClaim(t *testing.T) func(context.Context, string, time.Duration) (bool, error) {
	t.Helper()
	mem, err := memory.NewRAM(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mem.Claim
}

// waitDuplicates waits until the replicas have ignored n duplicate
// deliveries in all.
func waitDuplicates(t *testing.T, ctx context.Context, hs []*harness, n int) {
	t.Helper()
	for {
		var d int64
		for _, h := range hs {
			d += h.bot.Stats().Duplicates.Load()
		}
		if d >= int64(n) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d duplicate deliveries ignored; want %d", d, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestReplicasAnswerEachMessageOnce(t *testing.T) {
	fake := newFake(t)
	fake.AddChannel("CDEV", "dev", false)
	fake.Join("CDEV", "UALICE")
	hs := startReplicas(t, fake, 2, sharedClaim(t))
	ctx := hs[0].ctx
	channels := []string{"CGENERAL", "CRANDOM", "CDEV"}

	// Each message comes twice, as message and as app_mention, in two
	// envelopes that the fake gives to the two connections in turn: the
	// twins of a message reach different replicas.
	const n = 100
	send := func(text, channel string) []string {
		sent, err := fake.Say(ctx, slackfake.Message{User: "UALICE", Channel: channel, Text: "<@UBOT> echo " + text})
		if err != nil {
			t.Fatal(err)
		}
		return []string{sent.EnvelopeID, sent.MentionEnvelopeID}
	}
	var envs []string
	for i := range n {
		envs = append(envs, send(fmt.Sprintf("m%03d", i), channels[i%len(channels)])...)
	}
	for _, env := range envs {
		if err := fake.WaitAck(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		hs[0].post()
	}
	// A marker per channel, sent after every message was acked and
	// answered: a duplicate answer would come before them.
	for _, c := range channels {
		send("marker", c)
	}
	for range channels {
		hs[0].post()
	}
	// Every message's other twin is ignored, here or by the other replica.
	waitDuplicates(t, ctx, hs, n+len(channels))

	got := map[string]int{}
	for _, p := range fake.Posts() {
		got[p.Text]++
	}
	for i := range n {
		if text := fmt.Sprintf("m%03d", i); got[text] != 1 {
			t.Errorf("%s answered %d times; want once", text, got[text])
		}
	}
	if posts := len(fake.Posts()); posts != n+len(channels) {
		t.Errorf("%d posts; want %d", posts, n+len(channels))
	}
	conns := map[int]int{}
	for _, d := range fake.Deliveries() {
		conns[d.Conn]++
	}
	if len(conns) != 2 {
		t.Errorf("deliveries per connection: %v; want both replicas to get some", conns)
	}
}

func TestReplicaRedeliveryAnsweredOnce(t *testing.T) {
	fake := newFake(t, slackfake.WithAckTimeout(300*time.Millisecond))
	hs := startReplicas(t, fake, 2, sharedClaim(t))
	ctx := hs[0].ctx

	// The replica that gets the message answers it, but its ack is lost:
	// Slack redelivers the envelope to the other replica.
	fake.LoseAcks(1)
	// A DM: no app_mention twin.
	sent, err := fake.Say(ctx, slackfake.Message{User: "UALICE", DM: true, Text: "echo once"})
	if err != nil {
		t.Fatal(err)
	}
	env := sent.EnvelopeID
	first, err := fake.WaitDelivery(ctx, env, 0)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := fake.WaitDelivery(ctx, env, 1)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Conn == first.Conn || retry.RetryReason != "http_timeout" {
		t.Errorf("redelivery %+v after %+v; want another connection, http_timeout", retry, first)
	}
	if err := fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	if p := hs[0].post(); p.Text != "once" {
		t.Errorf("post %q", p.Text)
	}
	// The other replica found the message claimed.
	waitDuplicates(t, ctx, hs, 1)
	if posts := fake.Posts(); len(posts) != 1 {
		t.Errorf("posts = %+v; want the answer once", posts)
	}
}

func TestClaimFailureAnswersHere(t *testing.T) {
	fake := newFake(t)
	var logs logBuffer
	calls := 0
	h := startWith(t, fake, Socket, testRules, func(c *Config) {
		c.Logger = logs.logger()
		c.Claim = func(ctx context.Context, key string, ttl time.Duration) (bool, error) {
			calls++ // one channel: its messages are handled in turn
			if ttl != claimTTL || !strings.HasPrefix(key, "dedupe/CGENERAL/") {
				t.Errorf("Claim(%q, %v)", key, ttl)
			}
			return false, errors.New("redis: connection refused")
		}
	})
	h.send("<@UBOT> echo one")
	h.send("<@UBOT> echo two")
	for _, want := range []string{"one", "two"} {
		if p := h.post(); p.Text != want {
			t.Errorf("post %q; want %q", p.Text, want)
		}
	}
	if n := h.bot.Stats().ClaimErrors.Load(); n != 2 || calls != 2 {
		t.Errorf("%d claim errors, %d calls; want 2", n, calls)
	}
	if lines := logs.lines("level=WARN", "shared duplicate detection failed", "connection refused"); len(lines) != 1 {
		t.Errorf("warnings: %q; want one (at most one a minute)", lines)
	}
}

func TestClaimKey(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name     string
		msg      engine.Message
		eventKey string
		want     string
	}{
		{"message", engine.Message{ChannelID: "C1", TS: "1700000000.000100"}, "event:Ev1", "dedupe/C1/1700000000.000100/"},
		{"its app_mention twin", engine.Message{ChannelID: "C1", TS: "1700000000.000100"}, "event:Ev2", "dedupe/C1/1700000000.000100/"},
		{"subtype", engine.Message{ChannelID: "C1", TS: "1.2", Subtype: "thread_broadcast"}, "", "dedupe/C1/1.2/thread_broadcast"},
		{"no ts", engine.Message{ChannelID: "C1"}, "event:Ev1", "dedupe/event:Ev1"},
		{"nothing to claim", engine.Message{ChannelID: "C1"}, "", ""},
		{"long", engine.Message{ChannelID: "C1", TS: long}, "", "dedupe/#"},
		{"control character", engine.Message{ChannelID: "C1", TS: "1\n2"}, "", "dedupe/#"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := claimKey(tt.msg, tt.eventKey)
			if got != tt.want && !(strings.HasSuffix(tt.want, "#") && strings.HasPrefix(got, tt.want) && len(got) == len(tt.want)+32) {
				t.Errorf("claimKey = %q; want %q", got, tt.want)
			}
			if len(got) > maxClaimKey {
				t.Errorf("claimKey is %d bytes; want at most %d", len(got), maxClaimKey)
			}
		})
	}
	// Hashed keys still tell messages apart.
	a := claimKey(engine.Message{ChannelID: "C1", TS: long}, "")
	b := claimKey(engine.Message{ChannelID: "C2", TS: long}, "")
	if a == b {
		t.Errorf("two long keys hash alike: %q", a)
	}
}
