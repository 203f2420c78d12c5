package slackbot

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// observed is an Observer's record of what it was told.
type observed struct {
	mu        sync.Mutex
	messages  int
	replies   []string
	latencies []time.Duration
	states    []string // "connected" or "disconnected: reason"
}

func (r *observed) observer() *Observer {
	return &Observer{
		OnMessage: func() { r.mu.Lock(); r.messages++; r.mu.Unlock() },
		OnReply: func(rule string, d time.Duration) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.replies = append(r.replies, rule)
			r.latencies = append(r.latencies, d)
		},
		OnConnected:    func() { r.mu.Lock(); r.states = append(r.states, "connected"); r.mu.Unlock() },
		OnDisconnected: func(reason string) { r.mu.Lock(); r.states = append(r.states, "disconnected: "+reason); r.mu.Unlock() },
	}
}

// waitFor polls cond (under r.mu) until it holds or ctx ends.
func (r *observed) waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("waiting for %s: %v (states %q)", what, ctx.Err(), r.states)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestObserver checks Config.Observer: one OnMessage per message (a
// redelivery is not counted), OnReply for replies only (not reactions),
// with the rule and a latency, and the connection's state across a
// reconnection.
func TestObserver(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		rec := &observed{}
		h := startWith(t, fake, kind, testRules, func(c *Config) { c.Observer = rec.observer() })
		rec.waitFor(h.ctx, t, "connected", func() bool { return slices.Contains(rec.states, "connected") })
		ts := h.send("<@UBOT> hi")
		h.post()
		h.send("nice")
		if _, err := fake.WaitReaction(h.ctx); err != nil {
			t.Fatal(err)
		}
		// A redelivery of the first, as Slack sends one after a lost ack.
		h.raw(map[string]any{"type": "message", "channel": "CGENERAL", "user": "UALICE", "text": "<@UBOT> hi", "ts": ts})
		h.send("<@UBOT> echo done")
		h.post()
		rec.waitFor(h.ctx, t, "the replies", func() bool { return len(rec.replies) == 2 })
		rec.mu.Lock()
		if rec.messages != 3 {
			t.Errorf("OnMessage called %d times, want 3", rec.messages)
		}
		if want := []string{"hi", "echo"}; !slices.Equal(rec.replies, want) {
			t.Errorf("OnReply rules %q, want %q", rec.replies, want)
		}
		for _, d := range rec.latencies {
			if d <= 0 || d > 10*time.Second {
				t.Errorf("OnReply latency %v, want within (0, 10s]", d)
			}
		}
		rec.mu.Unlock()

		fake.DropConnections()
		rec.waitFor(h.ctx, t, "reconnected", func() bool {
			first := slices.Index(rec.states, "connected")
			after := rec.states[first+1:]
			return slices.ContainsFunc(after, func(s string) bool { return s != "connected" }) && after[len(after)-1] == "connected"
		})
	})
}
