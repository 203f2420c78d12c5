// Package warnrate paces a warning that may repeat for as long as its
// cause lasts (a shared store that is down, say): it is logged at once,
// then at most once per interval, with the number of occurrences that were
// not logged in between.
package warnrate

import (
	"sync"
	"time"
)

// A Limiter paces one warning. The zero value logs every occurrence; set
// Every. It is safe for concurrent use.
type Limiter struct {
	Every time.Duration // the shortest time between two logged occurrences

	mu         sync.Mutex
	last       time.Time // when an occurrence was last logged
	suppressed int       // occurrences since, not logged
}

// Allow notes an occurrence at now and reports whether to log it, and if
// so how many occurrences since the last logged one were not.
func (l *Limiter) Allow(now time.Time) (log bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Every {
		l.suppressed++
		return false, 0
	}
	suppressed, l.suppressed, l.last = l.suppressed, 0, now
	return true, suppressed
}
