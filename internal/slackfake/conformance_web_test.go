package slackfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// The conformance test of the Web API: every answer the fake gives, success
// and each error, is checked against the schema of Slack's published
// specification in testdata/spec/web (see its README).

// webSpecBase is the base URL the spec's schema files are known by.
const webSpecBase = "https://slackfake.test/spec/web/"

// webSchema returns part ("success" or "error") of the schema of the Web
// API method's answers, from testdata/spec/web/METHOD.json. It fails the
// test when the method has no schema.
func webSchema(t *testing.T, method, part string) *jsonschema.Schema {
	t.Helper()
	c := slackfake.SpecCompiler(t, "web", webSpecBase)
	sch, err := c.Compile(webSpecBase + method + ".json#/$defs/" + part)
	if err != nil {
		t.Fatalf("no %s schema for %s: %v", part, method, err)
	}
	return sch
}

// webExchange is one Web API call as it went over the wire.
type webExchange struct {
	method string
	status int
	header http.Header
	body   []byte
}

// webRecorder is an http.RoundTripper that keeps every webExchange, so that the
// raw answers slack-go's client got can be checked.
type webRecorder struct {
	mu  sync.Mutex
	log []webExchange
}

func (r *webRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, webExchange{path.Base(req.URL.Path), resp.StatusCode, resp.Header.Clone(), body})
	return resp, nil
}

// take returns the exchanges since the last take.
func (r *webRecorder) take() []webExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.log
	r.log = nil
	return log
}

// webConformant checks an answer of method against its schema: the success
// schema when want is "", else the error schema, with want as the error.
func webConformant(t *testing.T, method, want string, x webExchange) {
	t.Helper()
	wantStatus := http.StatusOK
	if want == "ratelimited" {
		wantStatus = http.StatusTooManyRequests
		if n, err := strconv.Atoi(x.header.Get("Retry-After")); err != nil || n < 0 {
			t.Errorf("%s: HTTP 429 with Retry-After %q, want whole seconds", method, x.header.Get("Retry-After"))
		}
	}
	if x.status != wantStatus {
		t.Fatalf("%s: HTTP %d, want %d: %s", method, x.status, wantStatus, x.body)
	}
	if ct := x.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", method, ct)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(x.body))
	if err != nil {
		t.Fatalf("%s: %v: %s", method, err, x.body)
	}
	part := "success"
	if want != "" {
		part = "error"
	}
	if err := webSchema(t, method, part).Validate(v); err != nil {
		t.Errorf("%s answer does not conform to Slack's %s schema: %s\n%v", method, part, x.body, err)
	}
	var a struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(x.body, &a); err != nil {
		t.Fatal(err)
	}
	if a.OK != (want == "") || a.Error != want {
		t.Errorf("%s answered %s, want error %q", method, x.body, want)
	}
}

// Identities that match the spec's ID patterns (the fake's defaults, such
// as UBOT and T1, are shorter than Slack's).
const (
	webBot    = "U0BOT0001"
	webTeam   = "T0TEAM0001"
	webAlice  = "U0ALICE01"
	webBob    = "U0BOB0001"
	webGone   = "U0GONE001"
	webHelper = "U0HELPER1"
	webDM     = "D0ALICE001"
)

// webWorkspace is the workspace the conformance cases run in.
func webWorkspace(t *testing.T) *slackfake.Server {
	srv := slackfake.New(slackfake.WithBotUser(webBot, "B0BOT0001", "rulebot"),
		slackfake.WithTeam(webTeam, "Slackfake"), slackfake.WithAppID("A0APP0001"))
	t.Cleanup(srv.Close)
	srv.AddUsers(
		slackfake.User{ID: webAlice, Name: "alice", RealName: "Alice Liddell"},
		slackfake.User{ID: webBob, Name: "bob"},
		slackfake.User{ID: webGone, Name: "gone", Deleted: true},
		slackfake.User{ID: webHelper, Name: "helper", IsBot: true},
	)
	srv.AddConversations(
		slackfake.Conversation{ID: "C0GENERAL1", Name: "general", Members: []string{webAlice, webBob}},
		slackfake.Conversation{ID: "C0SECRET01", Name: "secret", Private: true, Members: []string{webAlice}},
		slackfake.Conversation{ID: "C0HIDDEN01", Name: "hidden", Private: true, BotNotMember: true},
		slackfake.Conversation{ID: "C0OUTSIDE1", Name: "outside", BotNotMember: true, Members: []string{webAlice}},
		slackfake.Conversation{ID: "C0ARCHIVE1", Name: "archive", Archived: true},
	)
	srv.AddDM(webDM, webAlice)
	srv.AddMessage("C0GENERAL1", "1700000000.000100")
	return srv
}

// webClient calls the fake, recording every webExchange.
type webClient struct {
	srv  *slackfake.Server
	rec  *webRecorder
	http *http.Client
}

// api returns slack-go's client with the token (an app-level token for
// apps.connections.open when app).
func (c *webClient) api(token string, app bool) *slack.Client {
	opts := []slack.Option{slack.OptionAPIURL(c.srv.APIURL()), slack.OptionHTTPClient(c.http)}
	if app {
		return slack.New("", append(opts, slack.OptionAppLevelToken(token))...)
	}
	return slack.New(token, opts...)
}

func (c *webClient) bot() *slack.Client { return c.api(slackfake.DefaultBotToken, false) }

// raw calls method with the form, the token in the Authorization header
// (none when ""); a body other than "" is sent instead, as contentType.
func (c *webClient) raw(ctx context.Context, method, token string, form url.Values, contentType, body string) error {
	if body == "" {
		body, contentType = form.Encode(), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.srv.APIURL()+method, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (c *webClient) form(ctx context.Context, method string, kv ...string) error {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return c.raw(ctx, method, slackfake.DefaultBotToken, f, "", "")
}

// webCase is one answer of one method the conformance test checks.
type webCase struct {
	method, name string
	want         string // the error code, or "" for success
	call         func(ctx context.Context, c *webClient) error
}

func webCases() []webCase {
	ref := slack.NewRefToMessage
	long := strings.Repeat("x", 40001)
	return []webCase{
		{"auth.test", "bot", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().AuthTestContext(ctx)
			return err
		}},

		{"users.info", "person", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetUserInfoContext(ctx, webAlice)
			return err
		}},
		{"users.info", "bot user", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetUserInfoContext(ctx, webHelper)
			return err
		}},
		{"users.info", "the bot itself", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetUserInfoContext(ctx, webBot)
			return err
		}},
		{"users.info", "deleted", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetUserInfoContext(ctx, webGone)
			return err
		}},
		{"users.info", "unknown", "user_not_found", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetUserInfoContext(ctx, "U0NOBODY1")
			return err
		}},
		{"users.info", "no user", "user_not_found", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "users.info")
		}},

		{"users.list", "all", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetUsersContext(ctx)
			return err
		}},
		{"users.list", "a page", "", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "users.list", "limit", "2")
		}},
		{"users.list", "bad cursor", "invalid_cursor", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "users.list", "cursor", "bm9wZQ==")
		}},
		{"users.list", "bad limit", "invalid_arguments", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "users.list", "limit", "many")
		}},
		{"users.list", "too many without a limit", "limit_required", func(ctx context.Context, c *webClient) error {
			for i := range 1001 {
				c.srv.AddUsers(slackfake.User{ID: fmt.Sprintf("U0MANY%04d", i), Name: fmt.Sprintf("many%d", i)})
			}
			return c.form(ctx, "users.list")
		}},

		{"conversations.info", "channel", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C0GENERAL1"})
			return err
		}},
		{"conversations.info", "private channel", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C0SECRET01"})
			return err
		}},
		{"conversations.info", "DM", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: webDM})
			return err
		}},
		{"conversations.info", "multi-person DM", "", func(ctx context.Context, c *webClient) error {
			ch, _, _, err := c.bot().OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{webAlice, webBob}})
			if err != nil {
				return err
			}
			c.rec.take()
			_, err = c.bot().GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: ch.ID})
			return err
		}},
		{"conversations.info", "unknown", "channel_not_found", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C0NOWHERE1"})
			return err
		}},
		{"conversations.info", "private, the bot not in it", "channel_not_found", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C0HIDDEN01"})
			return err
		}},
		{"conversations.info", "no channel", "channel_not_found", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.info")
		}},

		{"conversations.list", "every type", "", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().GetConversationsContext(ctx, &slack.GetConversationsParameters{
				Types: []string{"public_channel", "private_channel", "im", "mpim"}})
			return err
		}},
		{"conversations.list", "bad cursor", "invalid_cursor", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.list", "cursor", "bm9wZQ==")
		}},
		{"conversations.list", "limit over 1,000", "invalid_limit", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.list", "limit", "1001")
		}},
		{"conversations.list", "bad types", "invalid_types", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.list", "types", "public_channel,rooms")
		}},

		{"conversations.open", "new DM", "", func(ctx context.Context, c *webClient) error {
			_, _, _, err := c.bot().OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{webBob}})
			return err
		}},
		{"conversations.open", "DM already open, return_im", "", func(ctx context.Context, c *webClient) error {
			_, _, _, err := c.bot().OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{webAlice}, ReturnIM: true})
			return err
		}},
		{"conversations.open", "by channel", "", func(ctx context.Context, c *webClient) error {
			_, _, _, err := c.bot().OpenConversationContext(ctx, &slack.OpenConversationParameters{ChannelID: webDM})
			return err
		}},
		{"conversations.open", "multi-person DM, return_im", "", func(ctx context.Context, c *webClient) error {
			_, _, _, err := c.bot().OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{webAlice, webBob}, ReturnIM: true})
			return err
		}},
		{"conversations.open", "unknown channel", "channel_not_found", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.open", "channel", "D0NOWHERE1")
		}},
		{"conversations.open", "a channel", "method_not_supported_for_channel_type", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.open", "channel", "C0GENERAL1")
		}},
		{"conversations.open", "nobody", "users_list_not_supplied", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.open")
		}},
		{"conversations.open", "nine users", "too_many_users", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.open", "users", "U0A0000001,U0A0000002,U0A0000003,U0A0000004,U0A0000005,U0A0000006,U0A0000007,U0A0000008,U0A0000009")
		}},
		{"conversations.open", "unknown user", "user_not_found", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.open", "users", "U0NOBODY1")
		}},
		{"conversations.open", "deleted user", "user_disabled", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "conversations.open", "users", webGone)
		}},

		{"chat.postEphemeral", "to a member", "", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().PostEphemeralContext(ctx, "C0GENERAL1", webAlice, slack.MsgOptionText("psst", false))
			return err
		}},
		{"chat.postEphemeral", "unknown channel", "channel_not_found", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().PostEphemeralContext(ctx, "C0NOWHERE1", webAlice, slack.MsgOptionText("psst", false))
			return err
		}},
		{"chat.postEphemeral", "archived", "is_archived", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().PostEphemeralContext(ctx, "C0ARCHIVE1", webAlice, slack.MsgOptionText("psst", false))
			return err
		}},
		{"chat.postEphemeral", "the bot not in it", "channel_not_found", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().PostEphemeralContext(ctx, "C0OUTSIDE1", webAlice, slack.MsgOptionText("psst", false))
			return err
		}},
		{"chat.postEphemeral", "the user not in it", "user_not_in_channel", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().PostEphemeralContext(ctx, "C0SECRET01", webBob, slack.MsgOptionText("psst", false))
			return err
		}},
		{"chat.postEphemeral", "no text", "no_text", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "chat.postEphemeral", "channel", "C0GENERAL1", "user", webAlice)
		}},
		{"chat.postEphemeral", "40,001 characters", "msg_too_long", func(ctx context.Context, c *webClient) error {
			_, err := c.bot().PostEphemeralContext(ctx, "C0GENERAL1", webAlice, slack.MsgOptionText(long, false))
			return err
		}},

		{"chat.postMessage", "to a channel", "", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, "C0GENERAL1", slack.MsgOptionText("hello", false))
			return err
		}},
		{"chat.postMessage", "in a thread of a DM", "", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, webDM, slack.MsgOptionText("hello", false), slack.MsgOptionTS("1700000000.000100"))
			return err
		}},
		{"chat.postMessage", "40,000 characters", "", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, "C0GENERAL1", slack.MsgOptionText(long[1:], false))
			return err
		}},
		{"chat.postMessage", "unknown channel", "channel_not_found", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, "C0NOWHERE1", slack.MsgOptionText("hello", false))
			return err
		}},
		{"chat.postMessage", "no channel", "channel_not_found", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "chat.postMessage", "text", "hello")
		}},
		{"chat.postMessage", "archived", "is_archived", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, "C0ARCHIVE1", slack.MsgOptionText("hello", false))
			return err
		}},
		{"chat.postMessage", "the bot not in it", "not_in_channel", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, "C0OUTSIDE1", slack.MsgOptionText("hello", false))
			return err
		}},
		{"chat.postMessage", "no text", "no_text", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "chat.postMessage", "channel", "C0GENERAL1")
		}},
		{"chat.postMessage", "40,001 characters", "msg_too_long", func(ctx context.Context, c *webClient) error {
			_, _, err := c.bot().PostMessageContext(ctx, "C0GENERAL1", slack.MsgOptionText(long, false))
			return err
		}},

		{"reactions.add", "to a message", "", func(ctx context.Context, c *webClient) error {
			return c.bot().AddReactionContext(ctx, "tada", ref("C0GENERAL1", "1700000000.000100"))
		}},
		{"reactions.add", "to the bot's own post", "", func(ctx context.Context, c *webClient) error {
			_, ts, err := c.bot().PostMessageContext(ctx, "C0GENERAL1", slack.MsgOptionText("hello", false))
			if err != nil {
				return err
			}
			c.rec.take()
			return c.bot().AddReactionContext(ctx, "thumbsup::skin-tone-2", ref("C0GENERAL1", ts))
		}},
		{"reactions.add", "twice", "already_reacted", func(ctx context.Context, c *webClient) error {
			c.bot().AddReactionContext(ctx, "eyes", ref("C0GENERAL1", "1700000000.000100"))
			c.rec.take()
			return c.bot().AddReactionContext(ctx, "eyes", ref("C0GENERAL1", "1700000000.000100"))
		}},
		{"reactions.add", "colons", "invalid_name", func(ctx context.Context, c *webClient) error {
			return c.bot().AddReactionContext(ctx, ":tada:", ref("C0GENERAL1", "1700000000.000100"))
		}},
		{"reactions.add", "no name", "invalid_name", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "reactions.add", "channel", "C0GENERAL1", "timestamp", "1700000000.000100")
		}},
		{"reactions.add", "no timestamp", "no_item_specified", func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "reactions.add", "channel", "C0GENERAL1", "name", "tada")
		}},
		{"reactions.add", "unknown channel", "channel_not_found", func(ctx context.Context, c *webClient) error {
			return c.bot().AddReactionContext(ctx, "tada", ref("C0NOWHERE1", "1700000000.000100"))
		}},
		{"reactions.add", "archived channel", "is_archived", func(ctx context.Context, c *webClient) error {
			c.srv.AddMessage("C0ARCHIVE1", "1700000000.000100")
			return c.bot().AddReactionContext(ctx, "tada", ref("C0ARCHIVE1", "1700000000.000100"))
		}},
		{"reactions.add", "unknown message", "message_not_found", func(ctx context.Context, c *webClient) error {
			return c.bot().AddReactionContext(ctx, "tada", ref("C0GENERAL1", "1700000000.999999"))
		}},

		{"rtm.connect", "classic bot", "", func(ctx context.Context, c *webClient) error {
			_, _, err := c.api(slackfake.DefaultClassicBotToken, false).ConnectRTMContext(ctx)
			return err
		}},
		{"apps.connections.open", "app token", "", func(ctx context.Context, c *webClient) error {
			_, _, err := c.api(slackfake.DefaultAppToken, true).StartSocketModeContext(ctx)
			return err
		}},
	}
}

// webAuthCases are the errors every method may answer before it looks at its
// parameters, called as raw HTTP.
func webAuthCases(method string) []webCase {
	call := func(token, contentType, body string) func(context.Context, *webClient) error {
		return func(ctx context.Context, c *webClient) error {
			return c.raw(ctx, method, token, url.Values{}, contentType, body)
		}
	}
	right, wrong := slackfake.DefaultBotToken, slackfake.DefaultAppToken
	switch method {
	case "rtm.connect":
		right, wrong = slackfake.DefaultClassicBotToken, slackfake.DefaultBotToken
	case "apps.connections.open":
		right, wrong = slackfake.DefaultAppToken, slackfake.DefaultBotToken
	}
	return []webCase{
		{method, "no token", "not_authed", call("", "", "")},
		{method, "unknown token", "invalid_auth", call("xoxb-unknown", "", "")},
		{method, "revoked token", "token_revoked", call("xoxb-conformance-revoked", "", "")},
		{method, "wrong token type", "not_allowed_token_type", call(wrong, "", "")},
		{method, "rate limited", "ratelimited", func(ctx context.Context, c *webClient) error {
			c.srv.RateLimitNext(method, 1, 1500*time.Millisecond)
			return c.raw(ctx, method, right, url.Values{}, "", "")
		}},
		{method, "bad form", "invalid_form_data", call(right, "application/x-www-form-urlencoded", "a=%zz")},
		{method, "bad JSON", "invalid_json", call(right, "application/json", `{"channel":`)},
		{method, "JSON not an object", "json_not_object", call(right, "application/json", `["C0GENERAL1"]`)},
	}
}

// TestWebConformance drives every Web API method the fake serves, with
// slack-go's client where it has the method and raw HTTP for what it
// cannot send, and checks each answer against Slack's published schema.
// Every method the fake serves must have a success case and a case for
// every error it declares (Server.Errors).
func TestWebConformance(t *testing.T) {
	srv := webWorkspace(t)
	srv.SetToken("xoxb-conformance-revoked", slackfake.TokenRevoked)
	rec := &webRecorder{}
	c := &webClient{srv: srv, rec: rec, http: &http.Client{Transport: rec}}
	cases := webCases()
	for _, m := range srv.Methods() {
		cases = append(cases, webAuthCases(m)...)
	}
	cases = append(cases, webCase{"unknown_method", "a method Slack does not have", "unknown_method",
		func(ctx context.Context, c *webClient) error {
			return c.form(ctx, "chat.postMesage", "channel", "C0GENERAL1")
		}})

	covered := map[string]map[string]bool{} // method → answers checked ("" for success)
	for _, tc := range cases {
		t.Run(tc.method+"/"+tc.name, func(t *testing.T) {
			ctx := testContext(t)
			rec.take()
			_ = tc.call(ctx, c) // the error slack-go makes of the answer does not matter here
			var last *webExchange
			for _, x := range rec.take() {
				if x.method == tc.method || tc.method == "unknown_method" {
					last = &x
				}
			}
			if last == nil {
				t.Fatalf("%s was not called", tc.method)
			}
			webConformant(t, tc.method, tc.want, *last)
			if !t.Failed() {
				if covered[tc.method] == nil {
					covered[tc.method] = map[string]bool{}
				}
				covered[tc.method][tc.want] = true
			}
		})
	}

	for _, m := range append(srv.Methods(), "unknown_method") {
		answers := srv.Errors(m)
		if m != "unknown_method" {
			answers = append(answers, "")
		}
		for _, want := range answers {
			if !covered[m][want] {
				what := "error " + want
				if want == "" {
					what = "success"
				}
				t.Errorf("%s: no conformance case checked its %s", m, what)
			}
		}
	}
}
