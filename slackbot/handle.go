package slackbot

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/engine"
)

// handle runs one message through the engine and performs its actions.
func (b *Bot) handle(ctx context.Context, eng *engine.Engine, j job) {
	m := j.msg
	if eng.Ignored(m) {
		return
	}
	if name, err := b.names.user(ctx, m.UserID); err != nil {
		b.log.Debug("users.info failed", "user", m.UserID, "error", err.Error())
	} else {
		m.UserName = name
	}
	if name, dm, err := b.names.channel(ctx, m.ChannelID); err != nil {
		b.log.Debug("conversations.info failed", "channel", m.ChannelID, "error", err.Error())
	} else {
		m.ChannelName, m.DM = name, m.DM || dm
	}
	for _, a := range eng.Handle(ctx, m) {
		b.perform(ctx, j.slot, a, j.received)
	}
}

// perform makes the Slack call for one action; failures are logged and
// never stop the bot. Posts are paced per channel, and a call Slack
// answers 429 is retried; s is given up while waiting for either.
func (b *Bot) perform(ctx context.Context, s *slot, a engine.Action, received time.Time) {
	defer func() {
		if p := recover(); p != nil {
			b.stats.Panics.Add(1)
			b.log.Error("panic while sending; the bot goes on", "rule", a.Rule, "channel", a.Channel,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	var err error
	switch a.Kind {
	case engine.Reply:
		opts := []slack.MsgOption{slack.MsgOptionText(a.Text, false)}
		if a.Unfurl.Links {
			opts = append(opts, slack.MsgOptionEnableLinkUnfurl())
		} else {
			opts = append(opts, slack.MsgOptionDisableLinkUnfurl())
		}
		if !a.Unfurl.Media { // Slack unfurls media unless told not to
			opts = append(opts, slack.MsgOptionDisableMediaUnfurl())
		}
		if a.ThreadTS != "" {
			opts = append(opts, slack.MsgOptionTS(a.ThreadTS))
		}
		if wait := b.pacer.Reserve(a.Channel, time.Now()); wait > 0 {
			b.log.Debug("pacing posts to the channel", "rule", a.Rule, "channel", a.Channel, "wait", wait.String())
			if err := s.sleep(ctx, wait); err != nil {
				b.giveUp(a, fmt.Errorf("stopped while waiting for the channel's turn: %w", err))
				return
			}
		}
		err = b.retry(ctx, s, func() error {
			_, _, err := b.api.PostMessageContext(ctx, a.Channel, opts...)
			return err
		})
		if err == nil {
			b.log.Info("replied", "rule", a.Rule, "channel", a.Channel, "latency", time.Since(received).String())
		}
	case engine.React:
		err = b.retry(ctx, s, func() error {
			return b.api.AddReactionContext(ctx, a.Emoji, slack.NewRefToMessage(a.Channel, a.MessageTS))
		})
		if err != nil && err.Error() == "already_reacted" {
			err = nil
		}
	}
	if err != nil {
		b.giveUp(a, err)
	}
}

// giveUp logs and counts an action that was not performed.
func (b *Bot) giveUp(a engine.Action, err error) {
	b.stats.GivenUp.Add(1)
	what, method := "reply", "chat.postMessage"
	if a.Kind == engine.React {
		what, method = "reaction", "reactions.add"
	}
	b.log.Error(what+" given up", "rule", a.Rule, "channel", a.Channel, "method", method, "error", err.Error())
}

// retry calls f until it succeeds, fails with something other than a rate
// limit, or is still rate limited after the RetryLimit; after a 429 it
// waits Retry-After (at least minRetryWait) without holding s.
func (b *Bot) retry(ctx context.Context, s *slot, f func() error) error {
	limit := b.retryLimit()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		var rl *slack.RateLimitedError
		if err == nil || !errors.As(err, &rl) {
			return err
		}
		wait := max(rl.RetryAfter, minRetryWait)
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w; rate limited for longer than %s", err, limit)
		}
		if serr := s.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w; stopped waiting: %w", err, serr)
		}
	}
}
