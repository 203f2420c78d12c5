package slackbot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/engine"
)

// The directories' limits: names seen are remembered for an hour, up to
// dirMax per directory; after a listing that went through every page, a
// name not remembered is unknown for dirMissTTL, so a workspace is listed
// at most once per dirMissTTL for names nobody has.
const (
	dirMax     = 20000
	dirTTL     = time.Hour
	dirMissTTL = 5 * time.Minute
	pageSize   = 200 // Slack's advice for users.list and conversations.list
	maxDMs     = 4096
)

// routes resolves where replies go: channels and users by name, and the
// bot's direct message with a user.
type routes struct {
	chans *directory
	users *directory
	dms   *lru[string] // user id → DM channel id
}

func newRoutes(api *slack.Client) *routes {
	chans := func(ctx context.Context, cursor string) ([]dirEntry, string, error) {
		list, next, err := api.GetConversationsContext(ctx, &slack.GetConversationsParameters{
			Cursor: cursor, ExcludeArchived: true, Limit: pageSize,
			Types: []string{"public_channel", "private_channel"},
		})
		page := make([]dirEntry, 0, len(list))
		for _, c := range list {
			page = append(page, dirEntry{id: c.ID, primary: c.Name})
		}
		return page, next, err
	}
	users := func(ctx context.Context, cursor string) ([]dirEntry, string, error) {
		p, err := api.GetUsersPaginated(slack.GetUsersOptionLimit(pageSize), slack.GetUsersOptionCursor(cursor),
			slack.GetUsersOptionIncludeLocale(false)).Next(ctx)
		if err != nil {
			return nil, "", err
		}
		page := make([]dirEntry, 0, len(p.Users))
		for _, u := range p.Users {
			if u.Deleted {
				continue
			}
			page = append(page, dirEntry{id: u.ID, primary: u.Name, secondary: u.Profile.DisplayName})
		}
		return page, p.Cursor, nil
	}
	return &routes{
		chans: newDirectory("channel", chans, dirMax, dirTTL, dirMissTTL),
		users: newDirectory("user", users, dirMax, dirTTL, dirMissTTL),
		dms:   newLRU[string](maxDMs, 0),
	}
}

// A routeError is a reply whose destination cannot be reached.
type routeError struct{ err error }

func (e *routeError) Error() string { return e.err.Error() }
func (e *routeError) Unwrap() error { return e.err }

// destination returns the channel id a reply is posted in: for To, the
// channel or the DM with the user it names; for DMUser, the DM with that
// user; else a.Channel. retry makes each Slack call; s is the job's slot.
func (b *Bot) destination(ctx context.Context, s *slot, a engine.Action, retry func(func() error) error) (string, error) {
	switch {
	case a.To != "" && (a.DMUser != "" || a.Ephemeral != ""),
		a.DMUser != "" && a.Ephemeral != "":
		return "", &routeError{errors.New("the reply has more than one destination (to, dm, ephemeral)")}
	case strings.HasPrefix(a.To, "#"):
		id, err := b.routes.chans.lookup(ctx, a.To[1:], s, retry)
		if err != nil {
			return "", &routeError{fmt.Errorf("resolving %s: %w", a.To, err)}
		}
		return id, nil
	case strings.HasPrefix(a.To, "@"):
		user, err := b.routes.users.lookup(ctx, a.To[1:], s, retry)
		if err != nil {
			return "", &routeError{fmt.Errorf("resolving %s: %w", a.To, err)}
		}
		return b.openDM(ctx, user, retry)
	case a.To != "":
		return "", &routeError{fmt.Errorf("to %q is neither #NAME nor @NAME", a.To)}
	case a.DMUser != "":
		return b.openDM(ctx, a.DMUser, retry)
	}
	return a.Channel, nil
}

// openDM returns the id of the bot's direct message with user, opening it
// with conversations.open the first time. The bot has no direct message
// with itself: a reply addressed to it (to: @ITS-NAME, or its own id that
// a rule remembered) is refused.
func (b *Bot) openDM(ctx context.Context, user string, retry func(func() error) error) (string, error) {
	if user == b.UserID {
		return "", &routeError{fmt.Errorf("the reply is addressed to the bot itself (%s), which has no direct message with itself", user)}
	}
	if id, ok := b.routes.dms.get(user, time.Now()); ok {
		return id, nil
	}
	var ch *slack.Channel
	err := retry(func() error {
		var err error
		ch, _, _, err = b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
		return err
	})
	if err == nil && (ch == nil || ch.ID == "") {
		err = errors.New("Slack's answer has no channel id")
	}
	if err != nil {
		return "", &routeError{fmt.Errorf("opening a direct message with %s (conversations.open): %w", user, err)}
	}
	b.routes.dms.add(user, ch.ID, time.Now())
	return ch.ID, nil
}

// forgetDestination drops what the routes remember of a's destination
// once Slack says the channel is gone, so the next reply looks it up again.
func (b *Bot) forgetDestination(a engine.Action) {
	switch {
	case strings.HasPrefix(a.To, "#"):
		b.routes.chans.forget(a.To[1:])
	case strings.HasPrefix(a.To, "@"):
		b.routes.users.forget(a.To[1:])
	case a.DMUser != "":
		b.routes.dms.remove(a.DMUser)
	}
}
