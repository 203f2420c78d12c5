package pace_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/pace"
)

var epoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestReserve(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		burst int
		at    []time.Duration // when each event of key "C" is reserved
		want  []time.Duration // the waits Reserve returns
	}{
		{"burst then one a second", 3, []time.Duration{0, 0, 0, 0, 0, 0},
			[]time.Duration{0, 0, 0, s, 2 * s, 3 * s}},
		{"a waited-for event counts from when it is due", 3,
			[]time.Duration{0, 0, 0, 0, 1 * s, 1 * s},
			[]time.Duration{0, 0, 0, s, s, 2 * s}},
		{"the burst refills at one a second", 3,
			[]time.Duration{0, 0, 0, 2 * s, 2 * s, 2 * s},
			[]time.Duration{0, 0, 0, 0, 0, s}},
		{"idle long enough: a whole burst again", 3,
			[]time.Duration{0, 0, 0, 10 * s, 10 * s, 10 * s, 10 * s},
			[]time.Duration{0, 0, 0, 0, 0, 0, s}},
		{"burst 1", 1, []time.Duration{0, 0, 500 * time.Millisecond},
			[]time.Duration{0, s, 1500 * time.Millisecond}},
		{"burst 0 counts as 1", 0, []time.Duration{0, 0}, []time.Duration{0, s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pace.New(s, tt.burst)
			var got []time.Duration
			for _, at := range tt.at {
				got = append(got, p.Reserve("C", epoch.Add(at)))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeysAreIndependent(t *testing.T) {
	p := pace.New(time.Second, 3)
	for range 10 {
		p.Reserve("A", epoch)
	}
	if d := p.Reserve("B", epoch); d != 0 {
		t.Errorf("B waits %v behind A's events, want 0", d)
	}
}

func TestIdleKeysAreForgotten(t *testing.T) {
	p := pace.New(time.Second, 3)
	for i := range 5000 {
		p.Reserve(fmt.Sprint("C", i), epoch)
	}
	// A second later every one of those keys is idle again.
	later := epoch.Add(2 * time.Second)
	for i := range 5000 {
		p.Reserve(fmt.Sprint("D", i), later)
	}
	if n := p.Len(); n > 6000 {
		t.Errorf("remembers %d keys; want the 5000 idle ones forgotten", n)
	}
	// Forgetting changes nothing: an idle key has a whole burst.
	for range 3 {
		if d := p.Reserve("C1", later); d != 0 {
			t.Errorf("forgotten key waits %v", d)
		}
	}
}
