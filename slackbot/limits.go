package slackbot

import (
	"sync/atomic"
	"time"

	"github.com/rulebot/rulebot/internal/pace"
)

// The defaults of the limits in Config.
const (
	defaultPostInterval = time.Second // Slack asks for about one post per second per channel
	defaultPostBurst    = 3
	defaultRetryLimit   = 2 * time.Minute
	defaultMaxBacklog   = 1000

	// minRetryWait is the least wait before retrying a call Slack answered
	// 429, whatever its Retry-After says.
	minRetryWait = 100 * time.Millisecond
)

// Stats counts what the bot dropped or recovered from, for metrics
// (rulebot_dropped_total{reason}). Read the counters with Load.
type Stats struct {
	Backlog atomic.Int64 // messages dropped unanswered because too many waited in their channel
	GivenUp atomic.Int64 // replies and reactions given up: Slack refused them, or was still rate limiting after RetryLimit
	Panics  atomic.Int64 // messages whose handling panicked (recovered)
	Stopped atomic.Int64 // messages still waiting when the grace period ended, dropped unanswered

	Duplicates  atomic.Int64 // deliveries ignored: seen here before, or claimed by another replica (Config.Claim)
	ClaimErrors atomic.Int64 // failed Config.Claim calls; their messages were handled here
}

// Stats returns the bot's counters.
func (b *Bot) Stats() *Stats { return &b.stats }

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func newPacer(cfg Config) *pace.Pacer {
	return pace.New(orDefault(cfg.PostInterval, defaultPostInterval), orDefault(cfg.PostBurst, defaultPostBurst))
}

func (b *Bot) retryLimit() time.Duration { return orDefault(b.cfg.RetryLimit, defaultRetryLimit) }

// newDispatcher returns the dispatcher for one Run, handling jobs with handle.
func (b *Bot) newDispatcher(handle func(job)) *dispatcher {
	return newDispatcher(b.cfg.MaxInFlight, orDefault(b.cfg.MaxBacklog, defaultMaxBacklog), b.log, &b.stats, handle)
}
