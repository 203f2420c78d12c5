package engine

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCooldownsArePruned checks that expired cooldowns do not pile up in a
// long-running bot, while live ones keep working.
func TestCooldownsArePruned(t *testing.T) {
	rs, err := Compile("rules.yaml", []byte("rules:\n  - {name: king, match: {contains: king}, cooldown: 1m, reply: hail}\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := New(rs, Options{Now: func() time.Time { return now }})
	say := func(ch string) int {
		return len(e.Handle(context.Background(), Message{Text: "king", UserID: "UA", ChannelID: ch, TS: "1.1"}))
	}
	for i := range 3000 {
		if say(fmt.Sprint("C", i)) != 1 {
			t.Fatalf("channel %d: no reply", i)
		}
	}
	now = now.Add(2 * time.Minute) // every cooldown so far has expired
	for i := range 1500 {
		say(fmt.Sprint("D", i))
	}
	if n := len(e.cooldowns); n > 2000 {
		t.Errorf("%d cooldowns kept; the expired ones should have been pruned", n)
	}
	if say("D1") != 0 {
		t.Errorf("a live cooldown was pruned")
	}
	if say("C1") != 1 {
		t.Errorf("an expired cooldown still holds")
	}
}
