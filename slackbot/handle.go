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
	if eng.Ignored(m) || !b.claim(ctx, j) {
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
// never stop the bot. A reply goes where the action says (see
// engine.Action): a.Channel, a channel or user by name (To), the DM with a
// user (DMUser), or to one user only (Ephemeral, with chat.postEphemeral).
// Posts are paced per destination channel, and a call Slack answers 429 is
// retried; s is given up while waiting for either.
func (b *Bot) perform(ctx context.Context, s *slot, a engine.Action, received time.Time) {
	defer func() {
		if p := recover(); p != nil {
			b.stats.Panics.Add(1)
			b.log.Error("panic while sending; the bot goes on", "rule", a.Rule, "channel", a.Channel,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	retry := func(f func() error) error { return b.retry(ctx, s, f) }
	switch a.Kind {
	case engine.Reply:
		channel, err := b.destination(ctx, s, a, retry)
		if err != nil {
			b.giveUp(a, "", err)
			return
		}
		if wait := b.pacer.Reserve(channel, time.Now()); wait > 0 {
			b.log.Debug("pacing posts to the channel", "rule", a.Rule, "channel", channel, "wait", wait.String())
			if err := s.sleep(ctx, wait); err != nil {
				b.giveUp(a, channel, fmt.Errorf("stopped while waiting for the channel's turn: %w", err))
				return
			}
		}
		if a.Ephemeral != "" {
			opts := []slack.MsgOption{slack.MsgOptionText(a.Text, false)}
			if a.ThreadTS != "" {
				opts = append(opts, slack.MsgOptionTS(a.ThreadTS))
			}
			err = retry(func() error {
				_, err := b.api.PostEphemeralContext(ctx, channel, a.Ephemeral, opts...)
				return err
			})
		} else {
			err = retry(func() error {
				_, _, err := b.api.PostMessageContext(ctx, channel, b.postOptions(a)...)
				return err
			})
		}
		if err != nil {
			if se := (slack.SlackErrorResponse{}); errors.As(err, &se) && se.Err == "channel_not_found" {
				b.forgetDestination(a)
			}
			b.giveUp(a, channel, err)
			return
		}
		latency := time.Since(received)
		b.cfg.Observer.reply(a.Rule, latency)
		b.log.Info("replied", append(destAttrs(a, channel), "latency", latency.String())...)
	case engine.React:
		err := retry(func() error {
			return b.api.AddReactionContext(ctx, a.Emoji, slack.NewRefToMessage(a.Channel, a.MessageTS))
		})
		if err != nil && err.Error() != "already_reacted" {
			b.giveUp(a, a.Channel, err)
		}
	}
}

// postOptions are chat.postMessage's options for reply a. Its thread is
// that of a message in a.Channel, so a reply sent elsewhere (To, DMUser)
// is posted outside any thread.
func (b *Bot) postOptions(a engine.Action) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(a.Text, false)}
	if a.Unfurl.Links {
		opts = append(opts, slack.MsgOptionEnableLinkUnfurl())
	} else {
		opts = append(opts, slack.MsgOptionDisableLinkUnfurl())
	}
	if !a.Unfurl.Media { // Slack unfurls media unless told not to
		opts = append(opts, slack.MsgOptionDisableMediaUnfurl())
	}
	if a.ThreadTS != "" && a.To == "" && a.DMUser == "" {
		opts = append(opts, slack.MsgOptionTS(a.ThreadTS))
	}
	return opts
}

// destAttrs are the log attributes saying where reply a went: the rule,
// the channel id posted in, and the destination the rule named.
func destAttrs(a engine.Action, channel string) []any {
	attrs := []any{"rule", a.Rule, "channel", channel}
	switch {
	case a.To != "":
		attrs = append(attrs, "to", a.To)
	case a.DMUser != "":
		attrs = append(attrs, "to", "dm", "user", a.DMUser)
	case a.Ephemeral != "":
		attrs = append(attrs, "ephemeral_to", a.Ephemeral)
	}
	return attrs
}

// giveUp logs at ERROR, with the rule's name and where it was going, and
// counts an action that was not performed; channel is the channel id it
// was to be posted in, "" when the destination could not be resolved.
func (b *Bot) giveUp(a engine.Action, channel string, err error) {
	b.stats.GivenUp.Add(1)
	what, method := "reply", "chat.postMessage"
	var re *routeError
	switch {
	case a.Kind == engine.React:
		what, method = "reaction", "reactions.add"
	case errors.As(err, &re):
		what = "reply (destination unreachable)"
		method = ""
	case a.Ephemeral != "":
		method = "chat.postEphemeral"
	}
	attrs := destAttrs(a, channel)
	if method != "" {
		attrs = append(attrs, "method", method)
	}
	b.log.Error(what+" given up", append(attrs, "error", err.Error())...)
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
