package slackfake_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// workspace is a fake with users and channels of every kind.
func workspace(t *testing.T) (*slackfake.Server, *slack.Client) {
	t.Helper()
	srv := newServer(t)
	srv.AddUsers(
		slackfake.User{ID: "U1", Name: "alice", DisplayName: "Alice L."},
		slackfake.User{ID: "U2", Name: "bob"},
		slackfake.User{ID: "U3", Name: "gone", Deleted: true},
	)
	srv.AddConversations(
		slackfake.Conversation{ID: "C1", Name: "general", Members: []string{"U1"}},
		slackfake.Conversation{ID: "C2", Name: "lounge", BotNotMember: true, Members: []string{"U1"}},
		slackfake.Conversation{ID: "C3", Name: "secret", Private: true, Members: []string{"U1"}},
		slackfake.Conversation{ID: "C4", Name: "hidden", Private: true, BotNotMember: true},
		slackfake.Conversation{ID: "C5", Name: "old", Archived: true, Members: []string{"U1"}},
	)
	return srv, newAPI(srv, slackfake.DefaultBotToken)
}

func TestConversationsOpen(t *testing.T) {
	srv, api := workspace(t)
	ctx := testContext(t)
	open := func(users ...string) (*slack.Channel, bool, error) {
		ch, noOp, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: users})
		return ch, noOp, err
	}
	ch, noOp, err := open("U1")
	if err != nil || ch == nil || !strings.HasPrefix(ch.ID, "D") || noOp {
		t.Fatalf("conversations.open(U1) = %+v, no_op %v, %v", ch, noOp, err)
	}
	again, noOp, err := open("U1")
	if err != nil || again.ID != ch.ID || !noOp {
		t.Errorf("opened again: %+v, no_op %v, %v; want the same DM %s, no_op", again, noOp, err, ch.ID)
	}
	if srv.DM("U1") != ch.ID || srv.DM("U2") != "" {
		t.Errorf("DM(U1) = %q, DM(U2) = %q", srv.DM("U1"), srv.DM("U2"))
	}
	other, _, err := open("U2")
	if err != nil || other.ID == ch.ID {
		t.Errorf("DM with U2: %+v, %v; want another DM", other, err)
	}
	info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: ch.ID})
	if err != nil || !info.IsIM || info.User != "U1" {
		t.Errorf("conversations.info of the DM = %+v, %v; want an IM with user U1", info, err)
	}
	if _, _, err := api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("posting in the DM: %v", err)
	}
	resumed, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{ChannelID: ch.ID})
	if err != nil || resumed.ID != ch.ID {
		t.Errorf("resumed by channel: %+v, %v", resumed, err)
	}

	for _, tt := range []struct {
		params slack.OpenConversationParameters
		code   string
	}{
		{slack.OpenConversationParameters{}, "users_list_not_supplied"},
		{slack.OpenConversationParameters{Users: []string{"UNOPE"}}, "user_not_found"},
		{slack.OpenConversationParameters{Users: []string{"U3"}}, "user_disabled"},
		{slack.OpenConversationParameters{Users: strings.Split("U1,U2,U3,U4,U5,U6,U7,U8,U9", ",")}, "too_many_users"},
		{slack.OpenConversationParameters{ChannelID: "DNOPE"}, "channel_not_found"},
		{slack.OpenConversationParameters{ChannelID: "C1"}, "method_not_supported_for_channel_type"},
	} {
		_, _, _, err := api.OpenConversationContext(ctx, &tt.params)
		assertSlackError(t, err, tt.code)
	}

	// return_im=true answers the whole IM, as Slack does.
	_, body := rawCall(t, srv, http.MethodPost, "conversations.open", url.Values{
		"token": {slackfake.DefaultBotToken}, "users": {"U1"}, "return_im": {"true"},
	}, nil)
	var full struct {
		OK      bool `json:"ok"`
		Channel struct {
			ID   string `json:"id"`
			IsIM bool   `json:"is_im"`
			User string `json:"user"`
		} `json:"channel"`
	}
	if err := json.Unmarshal([]byte(body), &full); err != nil || !full.OK || full.Channel.ID != ch.ID || !full.Channel.IsIM || full.Channel.User != "U1" {
		t.Errorf("return_im answer: %s", body)
	}
}

func TestPostEphemeral(t *testing.T) {
	srv, api := workspace(t)
	ctx := testContext(t)
	ts, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("only you", false), slack.MsgOptionTS("1.5"))
	if err != nil || ts == "" {
		t.Fatalf("chat.postEphemeral: %q, %v", ts, err)
	}
	e, err := srv.WaitEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Channel != "C1" || e.User != "U1" || e.Text != "only you" || e.ThreadTS != "1.5" || e.TS != ts {
		t.Errorf("ephemeral = %+v", e)
	}
	if len(srv.Posts()) != 0 {
		t.Errorf("an ephemeral message was recorded as a post")
	}

	tests := []struct {
		channel, user, text, code string
	}{
		{"C1", "U2", "x", "user_not_in_channel"},
		{"C1", "UNOPE", "x", "user_not_in_channel"},
		{"CNOPE", "U1", "x", "channel_not_found"},
		{"C2", "U1", "x", "channel_not_found"}, // the bot not in it: no not_in_channel in the spec of chat.postEphemeral
		{"C4", "U1", "x", "channel_not_found"}, // private, without the bot: invisible
		{"C5", "U1", "x", "is_archived"},
		{"C1", "U1", "", "no_text"},
		{"C1", "U1", strings.Repeat("x", 40001), "msg_too_long"},
	}
	for _, tt := range tests {
		_, err := api.PostEphemeralContext(ctx, tt.channel, tt.user, slack.MsgOptionText(tt.text, false))
		assertSlackError(t, err, tt.code)
	}
	if n := len(srv.Ephemerals()); n != 1 {
		t.Errorf("%d ephemeral messages recorded; want 1", n)
	}
}

// TestPostMessageWhere: chat.postMessage answers as Slack does for
// channels that do not exist, that the bot is not in, or that are archived.
func TestPostMessageWhere(t *testing.T) {
	_, api := workspace(t)
	ctx := testContext(t)
	for _, tt := range []struct{ channel, code string }{
		{"C1", ""},
		{"C3", ""},
		{"CNOPE", "channel_not_found"},
		{"", "channel_not_found"},
		{"general", "channel_not_found"}, // names are not modelled
		{"C2", "not_in_channel"},
		{"C4", "channel_not_found"},
		{"C5", "is_archived"},
	} {
		_, _, err := api.PostMessageContext(ctx, tt.channel, slack.MsgOptionText("hi", false))
		if tt.code == "" {
			if err != nil {
				t.Errorf("post to %q: %v", tt.channel, err)
			}
			continue
		}
		assertSlackError(t, err, tt.code)
	}
}

// TestEventAddsChannel: a message event from a channel the fake does not
// know makes it exist, with the bot and the author in it.
func TestEventAddsChannel(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	_, _, err := api.PostMessageContext(ctx, "C9", slack.MsgOptionText("hi", false))
	assertSlackError(t, err, "channel_not_found")
	startRTM(t, srv)
	if err := srv.SendRTM(ctx, map[string]any{"type": "message", "channel": "C9", "user": "U1", "text": "hello", "ts": "1.1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C9", slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("post after an event in the channel: %v", err)
	}
	if _, err := api.PostEphemeralContext(ctx, "C9", "U1", slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("ephemeral to the event's author: %v", err)
	}
}

func TestUsersListPagination(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	want := []string{"UBOT"} // the bot is a user of the workspace
	for i := range 1233 {
		u := slackfake.User{ID: fmt.Sprintf("U%05d", i), Name: fmt.Sprintf("user%d", i), DisplayName: fmt.Sprintf("User %d", i)}
		srv.AddUsers(u)
		want = append(want, u.ID)
	}
	users, err := api.GetUsersContext(ctx, slack.GetUsersOptionLimit(100))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d users; want the %d in order", len(got), len(want))
	}
	if u := users[8]; u.Name != "user7" || u.Profile.DisplayName != "User 7" || u.Profile.DisplayNameNormalized != "User 7" ||
		u.Profile.RealNameNormalized != "user7" || u.IsBot || u.Deleted {
		t.Errorf("users[8] = %+v", u)
	}
	if n := srv.Calls("users.list"); n != 13 {
		t.Errorf("Calls(users.list) = %d; want 13 pages of 100", n)
	}

	for _, tt := range []struct {
		form url.Values
		code string
	}{
		{url.Values{}, "limit_required"}, // more than 1,000 users
		{url.Values{"limit": {"10"}, "cursor": {"bm9wZQ=="}}, "invalid_cursor"},
		{url.Values{"limit": {"ten"}}, "invalid_arguments"},
	} {
		tt.form.Set("token", slackfake.DefaultBotToken)
		_, body := rawCall(t, srv, http.MethodPost, "users.list", tt.form, nil)
		if !strings.Contains(body, `"error":"`+tt.code+`"`) {
			t.Errorf("users.list %v: %s; want %s", tt.form, body, tt.code)
		}
	}
	// The last page says so with an empty next_cursor, as Slack does.
	_, body := rawCall(t, srv, http.MethodPost, "users.list", url.Values{
		"token": {slackfake.DefaultBotToken}, "limit": {"1000"},
		"cursor": {"dXNlcjpVMDEwMDA="}, // "user:U01000"
	}, nil)
	if !strings.Contains(body, `"response_metadata":{"next_cursor":""}`) || strings.Count(body, `"id":"U0`) != 233 {
		t.Errorf("last page: %.300s", body)
	}
}

func TestConversationsListPagination(t *testing.T) {
	_, api := workspace(t)
	ctx := testContext(t)
	if _, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}}); err != nil {
		t.Fatal(err)
	}
	list := func(p slack.GetConversationsParameters) ([]string, int) {
		t.Helper()
		var names []string
		pages := 0
		for {
			chans, next, err := api.GetConversationsContext(ctx, &p)
			if err != nil {
				t.Fatalf("conversations.list %+v: %v", p, err)
			}
			pages++
			for _, c := range chans {
				name := c.Name
				if c.IsIM {
					name = "@" + c.User
				}
				names = append(names, name)
			}
			if next == "" {
				return names, pages
			}
			p.Cursor = next
		}
	}
	for _, tt := range []struct {
		params slack.GetConversationsParameters
		want   string
		pages  int
	}{
		{slack.GetConversationsParameters{}, "general lounge old", 1},
		{slack.GetConversationsParameters{ExcludeArchived: true}, "general lounge", 1},
		{slack.GetConversationsParameters{Types: []string{"private_channel"}}, "secret", 1},
		{slack.GetConversationsParameters{Types: []string{"im"}}, "@U1", 1},
		// Pages of 2 over the 6 conversations: a page may hold fewer than
		// the limit, as Slack's filtered pages do.
		{slack.GetConversationsParameters{Limit: 2, ExcludeArchived: true, Types: []string{"public_channel", "private_channel", "im"}},
			"general lounge secret @U1", 3},
	} {
		names, pages := list(tt.params)
		if got := strings.Join(names, " "); got != tt.want || pages != tt.pages {
			t.Errorf("conversations.list %+v: %q in %d pages; want %q in %d", tt.params, got, pages, tt.want, tt.pages)
		}
	}
	for _, tt := range []struct {
		params slack.GetConversationsParameters
		code   string
	}{
		{slack.GetConversationsParameters{Types: []string{"channels"}}, "invalid_types"},
		{slack.GetConversationsParameters{Limit: 1001}, "invalid_limit"},
		{slack.GetConversationsParameters{Cursor: "garbage"}, "invalid_cursor"},
	} {
		_, _, err := api.GetConversationsContext(ctx, &tt.params)
		assertSlackError(t, err, tt.code)
	}
}
