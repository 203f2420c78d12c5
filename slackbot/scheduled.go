package slackbot

import (
	"context"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// Perform performs actions that answer no message, such as the replies of
// a schedule rule, as the replies to messages are performed: to their
// destination, paced per channel, retried after a 429, each failure logged
// and never returned. It returns when they are done or ctx ends.
func (b *Bot) Perform(ctx context.Context, actions []engine.Action) {
	s := &slot{sem: make(chan struct{}, 1)} // scheduled firings are few: they take no slot from messages
	s.take()
	defer s.free()
	now := time.Now()
	for _, a := range actions {
		b.perform(ctx, s, a, now)
	}
}
