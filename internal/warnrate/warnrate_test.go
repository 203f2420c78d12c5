package warnrate

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	l := Limiter{Every: time.Minute}
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		at             time.Duration
		log            bool
		wantSuppressed int
	}{
		{0, true, 0},                          // the first is logged at once
		{time.Second, false, 0},               // then held back
		{59 * time.Second, false, 0},          //
		{time.Minute, true, 2},                // a minute on, with the two held back
		{time.Minute + time.Second, false, 0}, //
		{10 * time.Minute, true, 1},           // a long quiet spell: logged at once
		{10*time.Minute + time.Second, false, 0},
	}
	for _, tt := range tests {
		log, n := l.Allow(t0.Add(tt.at))
		if log != tt.log || n != tt.wantSuppressed {
			t.Errorf("Allow(+%v) = %v, %d; want %v, %d", tt.at, log, n, tt.log, tt.wantSuppressed)
		}
	}
}
