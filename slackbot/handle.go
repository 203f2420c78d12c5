package slackbot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/engine"
)

// maxAttempts bounds how often one Slack call is tried when Slack answers
// 429 Too Many Requests.
const maxAttempts = 5

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
		b.perform(ctx, a, j.received)
	}
}

// perform makes the Slack call for one action; failures are logged and
// never stop the bot.
func (b *Bot) perform(ctx context.Context, a engine.Action, received time.Time) {
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
		err = retry(ctx, func() error {
			_, _, err := b.api.PostMessageContext(ctx, a.Channel, opts...)
			return err
		})
		if err == nil {
			b.log.Info("replied", "rule", a.Rule, "channel", a.Channel, "latency", time.Since(received).String())
		}
	case engine.React:
		err = retry(ctx, func() error {
			return b.api.AddReactionContext(ctx, a.Emoji, slack.NewRefToMessage(a.Channel, a.MessageTS))
		})
		if err != nil && err.Error() == "already_reacted" {
			err = nil
		}
	}
	if err != nil {
		b.log.Error(fmt.Sprintf("%s failed", kindName(a.Kind)), "rule", a.Rule, "channel", a.Channel, "error", err.Error())
	}
}

func kindName(k engine.ActionKind) string {
	if k == engine.React {
		return "reactions.add"
	}
	return "chat.postMessage"
}

// retry calls f until it succeeds, fails with something other than a rate
// limit, or maxAttempts is reached; after a 429 it waits Retry-After.
func retry(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		var rl *slack.RateLimitedError
		if err == nil || !errors.As(err, &rl) || attempt == maxAttempts {
			return err
		}
		wait := max(rl.RetryAfter, 100*time.Millisecond)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up waiting: %w)", err, ctx.Err())
		}
	}
}
