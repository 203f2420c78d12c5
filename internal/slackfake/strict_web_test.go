package slackfake_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// TestWebStrictness: the fake answers as Slack does where it used to
// forgive. Each case calls one method as raw HTTP, with the bot token unless
// it says otherwise, and looks for parts of Slack's answer.
func TestWebStrictness(t *testing.T) {
	bot := slackfake.DefaultBotToken
	tests := []struct {
		name   string
		setup  func(*slackfake.Server)
		method string
		form   url.Values
		// body, when not "", is sent as application/json instead of form.
		body string
		want []string
	}{
		{"a DM's info names its user", func(s *slackfake.Server) { s.AddChannel("D1", "U1", true) },
			"conversations.info", url.Values{"channel": {"D1"}}, "", []string{`"user":"U1"`, `"is_im":true`}},
		{"a DM's info has only a DM's fields", func(s *slackfake.Server) { s.AddChannel("D1", "U1", true) },
			"conversations.info", url.Values{"channel": {"D1"}}, "", []string{`"priority":0`, `!"is_channel"`, `!"is_private"`}},
		{"a channel has what the spec requires", func(s *slackfake.Server) { s.AddChannel("C1", "general", false) },
			"conversations.info", url.Values{"channel": {"C1"}}, "", []string{`"creator":"UBOT"`, `"topic":{`, `"purpose":{`, `"is_org_shared":false`}},
		{"a channel known from an event has a name", func(s *slackfake.Server) {
			webNoteMessage(s, "CNEW", "1.000001")
		}, "conversations.info", url.Values{"channel": {"CNEW"}}, "", []string{`"name":"cnew"`}},
		{"the bot is a bot user", nil,
			"users.info", url.Values{"user": {"UBOT"}}, "", []string{`"is_bot":true`, `"bot_id":"BBOT"`, `"is_app_user":false`, `"name":"rulebot"`}},
		{"a bot user added by a test", func(s *slackfake.Server) { s.AddUsers(slackfake.User{ID: "UHELPER", Name: "helper", IsBot: true}) },
			"users.info", url.Values{"user": {"UHELPER"}}, "", []string{`"is_bot":true`, `"bot_id":"BHELPER"`, `"api_app_id":"A1"`}},
		{"a user has what Slack always sends", func(s *slackfake.Server) { s.AddUser("U1", "alice") },
			"users.info", url.Values{"user": {"U1"}}, "", []string{`"avatar_hash":"`, `"is_app_user":false`, `"is_bot":false`,
				`"display_name_normalized":"alice"`, `"real_name_normalized":"alice"`, `"updated":`, `"deleted":false`}},
		{"users.info without a user", nil, "users.info", url.Values{}, "", []string{`"error":"user_not_found"`}},
		{"conversations.info without a channel", nil, "conversations.info", url.Values{}, "", []string{`"error":"channel_not_found"`}},
		{"chat.postMessage without a channel", nil, "chat.postMessage", url.Values{"text": {"hi"}}, "", []string{`"error":"channel_not_found"`}},
		{"chat.postMessage to an unknown channel", nil, "chat.postMessage", url.Values{"channel": {"CNOPE"}, "text": {"hi"}}, "", []string{`"error":"channel_not_found"`}},
		{"chat.postMessage without text", func(s *slackfake.Server) { s.AddChannel("C1", "general", false) },
			"chat.postMessage", url.Values{"channel": {"C1"}}, "", []string{`"error":"no_text"`}},
		{"chat.postMessage of 40,001 characters", func(s *slackfake.Server) { s.AddChannel("C1", "general", false) },
			"chat.postMessage", url.Values{"channel": {"C1"}, "text": {strings.Repeat("é", 40001)}}, "", []string{`"error":"msg_too_long"`}},
		{"chat.postMessage of 40,000 characters", func(s *slackfake.Server) { s.AddChannel("C1", "general", false) },
			"chat.postMessage", url.Values{"channel": {"C1"}, "text": {strings.Repeat("é", 40000)}}, "", []string{`"ok":true`, `"app_id":"A1"`, `"bot_profile":{`}},
		{"reactions.add to an unknown channel", nil,
			"reactions.add", url.Values{"channel": {"CNOPE"}, "timestamp": {"1.000001"}, "name": {"eyes"}}, "", []string{`"error":"channel_not_found"`}},
		{"reactions.add to an unknown message", func(s *slackfake.Server) { s.AddChannel("C1", "general", false) },
			"reactions.add", url.Values{"channel": {"C1"}, "timestamp": {"1.000001"}, "name": {"eyes"}}, "", []string{`"error":"message_not_found"`}},
		{"reactions.add to a message sent as an event", func(s *slackfake.Server) {
			webNoteMessage(s, "C1", "1.000001")
		}, "reactions.add", url.Values{"channel": {"C1"}, "timestamp": {"1.000001"}, "name": {"eyes"}}, "", []string{`"ok":true`}},
		{"reactions.add with colons", func(s *slackfake.Server) {
			webNoteMessage(s, "C1", "1.000001")
		}, "reactions.add", url.Values{"channel": {"C1"}, "timestamp": {"1.000001"}, "name": {":eyes:"}}, "", []string{`"error":"invalid_name"`}},
		{"conversations.open finds a DM added by a test", func(s *slackfake.Server) { s.AddUser("U1", "alice"); s.AddChannel("D1", "U1", true) },
			"conversations.open", url.Values{"users": {"U1"}}, "", []string{`"channel":{"id":"D1"}`, `"already_open":true`}},
		{"conversations.open of several users", func(s *slackfake.Server) { s.AddUser("U1", "alice"); s.AddUser("U2", "bob") },
			"conversations.open", url.Values{"users": {"U1,U2"}, "return_im": {"true"}}, "", []string{`"is_mpim":true`, `"name":"mpdm-alice--bob--rulebot-1"`}},
		{"a body that is not JSON", nil, "auth.test", nil, `{"token":`, []string{`"error":"invalid_json"`}},
		{"a JSON body that is not an object", nil, "auth.test", nil, `[]`, []string{`"error":"json_not_object"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			if tt.setup != nil {
				tt.setup(srv)
			}
			contentType, body := "application/json", tt.body
			if body == "" {
				contentType, body = "application/x-www-form-urlencoded", tt.form.Encode()
			}
			req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, srv.APIURL()+tt.method, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("Authorization", "Bearer "+bot)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			if _, err := io.Copy(&b, resp.Body); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			if len(got) > 600 {
				got = got[:600] + "…"
			}
			for _, w := range tt.want {
				if not, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(b.String(), not) {
						t.Errorf("answer has %s: %s", not, got)
					}
				} else if !strings.Contains(b.String(), w) {
					t.Errorf("answer lacks %s: %s", w, got)
				}
			}
		})
	}
}

// webNoteMessage makes a message event of U1 in channel known to the model
// the way sending it does, without a connection to send it on: SendRTM
// notes the event, then finds its context done.
func webNoteMessage(s *slackfake.Server, channel, ts string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.SendRTM(ctx, map[string]any{"type": "message", "channel": channel, "user": "U1", "text": "hi", "ts": ts})
}
