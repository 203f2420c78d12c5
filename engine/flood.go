package engine

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// The reasons Options.Dropped is called with.
const (
	// DropBotFlood: an answer to another bot's message was not sent
	// because bot.flood was reached in its channel.
	DropBotFlood = "bot_flood"
	// DropReplyTruncated: a reply was cut to MaxReplyParts messages.
	DropReplyTruncated = "reply_truncated"
)

// Flood is bot.flood: the bot answers at most N messages of other bots per
// channel within any window of length Per.
type Flood struct {
	N   int
	Per time.Duration
}

func (f Flood) String() string { return fmt.Sprintf("%d/%s", f.N, shortDuration(f.Per)) }

// shortDuration writes d as a rules file would: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// floodGuard remembers, per channel, when the bot answered other bots'
// messages within the last window. Its memory is bounded: at most N times
// per channel, and channels with nothing recent are pruned.
type floodGuard struct {
	mu       sync.Mutex
	channels map[string]*floodWindow
	pruneAt  int // prune when there are more channels than this
}

type floodWindow struct {
	sent        []time.Time // answers within the window, oldest first
	warnedUntil time.Time   // the refusal warning is logged once per window
}

// take records an answer in channel at now, unless channel has had f.N
// answers within f.Per already. warn is true for the first refusal in a
// window, which is worth a log line.
func (g *floodGuard) take(channel string, now time.Time, f Flood) (ok, warn bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.channels == nil {
		g.channels = map[string]*floodWindow{}
		g.pruneAt = 1024
	}
	w := g.channels[channel]
	if w == nil {
		w = &floodWindow{}
		g.channels[channel] = w
	}
	w.expire(now, f.Per)
	if len(w.sent) >= f.N {
		if now.Before(w.warnedUntil) {
			return false, false
		}
		w.warnedUntil = now.Add(f.Per)
		return false, true
	}
	w.sent = append(w.sent, now)
	if len(g.channels) > g.pruneAt {
		for ch, w := range g.channels {
			if w.expire(now, f.Per); len(w.sent) == 0 && !now.Before(w.warnedUntil) {
				delete(g.channels, ch)
			}
		}
		g.pruneAt = max(1024, 2*len(g.channels))
	}
	return true, false
}

// expire forgets the answers that are per or longer ago.
func (w *floodWindow) expire(now time.Time, per time.Duration) {
	i := 0
	for i < len(w.sent) && now.Sub(w.sent[i]) >= per {
		i++
	}
	if i > 0 {
		w.sent = append(w.sent[:0], w.sent[i:]...)
	}
}
