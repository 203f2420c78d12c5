// Package pace spaces out events per key: any number of keys, each allowed
// a burst of events and then one event per interval, as Slack asks of posts
// to one channel (about one a second, short bursts allowed).
//
// It is the generic cell rate algorithm, a token bucket kept as one time per
// key: the time the key's next event would be due if events came evenly. A
// key whose time has passed is as good as new, so it is forgotten, and the
// memory held is proportional to the keys with events still being paced.
package pace

import (
	"sync"
	"time"
)

// A Pacer spaces out events per key. It is safe for concurrent use.
type Pacer struct {
	interval time.Duration
	slack    time.Duration // (burst-1)·interval: how far ahead of due an event may go

	mu      sync.Mutex
	due     map[string]time.Time // per key, when its next event is due if paced evenly
	pruneAt int                  // forget idle keys when there are more than this
}

// New returns a Pacer that lets burst events of one key through at once and
// then one per interval. A burst below 1 counts as 1.
func New(interval time.Duration, burst int) *Pacer {
	return &Pacer{
		interval: interval,
		slack:    time.Duration(max(burst, 1)-1) * interval,
		due:      map[string]time.Time{},
		pruneAt:  1024,
	}
}

// Reserve books the next event of key and returns how long after now it
// may happen: 0 within the burst. The booking stands whether or not the
// event then happens.
func (p *Pacer) Reserve(key string, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	due, ok := p.due[key]
	if !ok || due.Before(now) {
		due = now
	}
	p.due[key] = due.Add(p.interval)
	if len(p.due) > p.pruneAt {
		p.prune(now)
	}
	return max(due.Sub(now)-p.slack, 0)
}

// prune forgets the keys whose next event is due already: they are as good as new.
func (p *Pacer) prune(now time.Time) {
	for k, due := range p.due {
		if !due.After(now) {
			delete(p.due, k)
		}
	}
	p.pruneAt = max(1024, 2*len(p.due))
}

// Len returns how many keys the Pacer remembers.
func (p *Pacer) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.due)
}
