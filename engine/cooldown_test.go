package engine_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
)

// TestSharedCooldown checks that with Options.Claim two engines (two
// replicas) sharing one store hold a rule's cooldown together: a message
// to either is one fire per channel per cooldown.
func TestSharedCooldown(t *testing.T) {
	const src = "rules:\n  - {name: king, match: {contains: king}, cooldown: 1m, reply: hail}\n"
	long := strings.Repeat("x", 250) // the claim key would pass memory's 200-byte limit
	type step struct {
		after   time.Duration
		replica int
		channel string
		fires   bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"the other replica waits", []step{{0, 0, "general", true}, {time.Second, 1, "general", false}, {time.Second, 0, "general", false}}},
		{"channels apart", []step{{0, 0, "general", true}, {0, 1, "random", true}, {0, 1, "general", false}, {0, 0, "random", false}}},
		{"after the cooldown", []step{{0, 1, "general", true}, {59 * time.Second, 0, "general", false}, {time.Second, 0, "general", true}, {time.Second, 1, "general", false}}},
		{"long channel hashed", []step{{0, 0, long, true}, {0, 1, long, false}, {0, 1, long + "y", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			store, err := memory.NewRAM(nil, clk.Now)
			if err != nil {
				t.Fatal(err)
			}
			rs := compile(t, src)
			var engines [2]*engine.Engine
			for i := range engines {
				opts := options()
				opts.Now = clk.Now
				opts.Claim = store.Claim
				engines[i] = engine.New(rs, opts)
			}
			for i, s := range tt.steps {
				clk.Advance(s.after)
				m := msg("long live the king")
				m.ChannelID = s.channel
				n := len(engines[s.replica].Handle(context.Background(), m))
				if fired := n == 1; fired != s.fires {
					t.Errorf("step %d (replica %d in %.20s): fired %v, want %v", i, s.replica, s.channel, fired, s.fires)
				}
			}
		})
	}
}

// TestSharedCooldownClaimFails checks that when the shared store fails,
// the cooldown still holds in the replica (its own map) and the failure is
// logged, rather than the rule going silent or firing on every message.
func TestSharedCooldownClaimFails(t *testing.T) {
	clk := newClock()
	var log bytes.Buffer
	opts := options()
	opts.Now = clk.Now
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	opts.Claim = func(context.Context, string, time.Duration) (bool, error) {
		return false, errors.New("redis: connection refused")
	}
	e := engine.New(compile(t, "rules:\n  - {name: king, match: {contains: king}, cooldown: 1m, reply: hail}\n"), opts)
	for i, want := range []int{1, 0} {
		if n := len(e.Handle(context.Background(), msg("king"))); n != want {
			t.Errorf("message %d: %d replies, want %d", i, n, want)
		}
	}
	clk.Advance(time.Minute)
	if n := len(e.Handle(context.Background(), msg("king"))); n != 1 {
		t.Errorf("after the cooldown: %d replies, want 1", n)
	}
	if got := log.String(); strings.Count(got, "shared cooldown failed") != 2 || !strings.Contains(got, "connection refused") ||
		!strings.Contains(got, "failed_since_last_warning=1") {
		t.Errorf("the failing claims should be logged once a minute, the first and the third:\n%s", got)
	}
}
