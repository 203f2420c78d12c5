package slackfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// testTimeout bounds every wait: generous, since waits end as soon as what
// they wait for happens.
const testTimeout = 10 * time.Second

func newServer(t *testing.T, opts ...slackfake.Option) *slackfake.Server {
	t.Helper()
	srv := slackfake.New(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newAPI(srv *slackfake.Server, token string, opts ...slack.Option) *slack.Client {
	return slack.New(token, append([]slack.Option{slack.OptionAPIURL(srv.APIURL())}, opts...)...)
}

// startRTM runs a slack-go RTM client against srv until the test ends.
func startRTM(t *testing.T, srv *slackfake.Server, opts ...slack.RTMOption) *slack.RTM {
	rtm := newAPI(srv, slackfake.DefaultClassicBotToken).NewRTM(opts...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rtm.ManageConnection()
	}()
	t.Cleanup(func() {
		// Disconnect waits for the manager, which blocks on sends to
		// IncomingEvents (never closed): drain them until it returns.
		disconnected := make(chan struct{})
		go func() {
			defer close(disconnected)
			_ = rtm.Disconnect()
		}()
		for {
			select {
			case <-rtm.IncomingEvents:
			case <-done:
				<-disconnected
				return
			}
		}
	})
	return rtm
}

// waitRTM returns the next RTM event whose data is a T, skipping others.
func waitRTM[T any](ctx context.Context, t *testing.T, rtm *slack.RTM) T {
	t.Helper()
	for {
		select {
		case ev := <-rtm.IncomingEvents:
			if data, ok := ev.Data.(T); ok {
				return data
			}
		case <-ctx.Done():
			var zero T
			t.Fatalf("waiting for RTM event %T: %v", zero, ctx.Err())
		}
	}
}

// startSocketMode runs a slack-go Socket Mode client against srv until the
// test ends. Its RunContext error is sent on the returned channel.
func startSocketMode(t *testing.T, srv *slackfake.Server, appToken string, opts ...socketmode.Option) (*socketmode.Client, *slack.Client, <-chan error) {
	api := newAPI(srv, slackfake.DefaultBotToken, slack.OptionAppLevelToken(appToken))
	client := socketmode.New(api, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runErr <- client.RunContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("socketmode RunContext did not return after cancel")
		}
	})
	return client, api, runErr
}

// waitSocket returns the next Socket Mode event of the type, skipping others.
func waitSocket(ctx context.Context, t *testing.T, client *socketmode.Client, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	for {
		select {
		case ev := <-client.Events:
			if ev.Type == typ {
				return ev
			}
		case <-ctx.Done():
			t.Fatalf("waiting for Socket Mode event %q: %v", typ, ctx.Err())
		}
	}
}

// messageEvent is a test's own message event for SendEvent and SendRTM,
// which add what Slack always sends (see TestSendEventFillsWhatSlackAlwaysSends).
func messageEvent(text string) map[string]any {
	return map[string]any{"type": "message", "channel": "C1", "user": "U1", "text": text, "ts": "1700000000.000100"}
}

// u1 is a message of U1 in C1 (see envelopeServer).
func u1(text string) slackfake.Message {
	return slackfake.Message{User: "U1", Channel: "C1", Text: text}
}

func TestAuthTest(t *testing.T) {
	srv := newServer(t, slackfake.WithTeam("T9", "Team Nine"))
	ctx := testContext(t)

	got, err := newAPI(srv, slackfake.DefaultBotToken).AuthTestContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "UBOT" || got.BotID != "BBOT" || got.User != "rulebot" || got.TeamID != "T9" || got.Team != "Team Nine" {
		t.Errorf("auth.test = %+v", got)
	}

	_, err = newAPI(srv, "xoxb-unknown").AuthTestContext(ctx)
	assertSlackError(t, err, "invalid_auth")

	srv.SetToken("xoxb-old", slackfake.TokenRevoked)
	_, err = newAPI(srv, "xoxb-old").AuthTestContext(ctx)
	assertSlackError(t, err, "token_revoked")

	if n := srv.Calls("auth.test"); n != 3 {
		t.Errorf("Calls(auth.test) = %d, want 3", n)
	}
}

func assertSlackError(t *testing.T, err error, code string) {
	t.Helper()
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != code {
		t.Errorf("error = %v, want Slack error %q", err, code)
	}
}

func TestDirectory(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	srv.AddUser("U1", "alice")
	srv.AddChannel("C1", "general", false)
	srv.AddChannel("D1", "U1", true) // a DM: its other user, not a name

	u, err := api.GetUserInfoContext(ctx, "U1")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "U1" || u.Name != "alice" {
		t.Errorf("users.info = %+v", u)
	}
	_, err = api.GetUserInfoContext(ctx, "U2")
	assertSlackError(t, err, "user_not_found")

	ch, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID != "C1" || ch.Name != "general" || ch.IsIM || !ch.IsChannel {
		t.Errorf("conversations.info(C1) = %+v", ch)
	}
	im, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "D1"})
	if err != nil {
		t.Fatal(err)
	}
	if !im.IsIM || im.IsChannel || im.User != "U1" {
		t.Errorf("conversations.info(D1) = %+v", im)
	}
	_, err = api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C2"})
	assertSlackError(t, err, "channel_not_found")

	if got := srv.Calls("users.info"); got != 2 {
		t.Errorf("Calls(users.info) = %d, want 2", got)
	}
	if got := srv.Calls("conversations.info"); got != 3 {
		t.Errorf("Calls(conversations.info) = %d, want 3", got)
	}
}

func TestPostMessage(t *testing.T) {
	srv := newServer(t)
	srv.AddChannel("C1", "general", false)
	srv.AddChannel("C2", "random", false)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)

	ch, ts1, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("one", false),
		slack.MsgOptionTS("1.5"), slack.MsgOptionDisableLinkUnfurl())
	if err != nil {
		t.Fatal(err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("two", false))
	if err != nil {
		t.Fatal(err)
	}
	if ch != "C1" || ts1 == "" || ts2 <= ts1 {
		t.Errorf("answers: channel %q, ts %q then %q", ch, ts1, ts2)
	}

	p, err := srv.WaitPost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channel != "C1" || p.Text != "one" || p.ThreadTS != "1.5" || p.TS != ts1 ||
		p.Token != slackfake.DefaultBotToken || p.UnfurlLinks == nil || *p.UnfurlLinks ||
		p.UnfurlMedia != nil || p.Form.Get("channel") != "C1" || p.Time.IsZero() {
		t.Errorf("first post = %+v", p)
	}
	p, err = srv.WaitPost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channel != "C2" || p.Text != "two" || p.TS != ts2 {
		t.Errorf("second post = %+v", p)
	}
	if n := len(srv.Posts()); n != 2 {
		t.Errorf("len(Posts()) = %d, want 2", n)
	}

	// No third post: WaitPost ends with its context.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := srv.WaitPost(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitPost without post: %v, want deadline exceeded", err)
	}
}

func TestPostMessageRateLimitedOnce(t *testing.T) {
	srv := newServer(t)
	srv.AddChannel("C1", "general", false)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	srv.RateLimitNext("chat.postMessage", 1, 2*time.Second)

	_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Fatalf("first PostMessage: %v, want rate limited for 2s", err)
	}
	if n := len(srv.Posts()); n != 0 {
		t.Errorf("rate-limited call recorded %d posts", n)
	}

	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("second PostMessage: %v", err)
	}
	p, err := srv.WaitPost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != "hi" {
		t.Errorf("post = %+v", p)
	}
	if n := srv.Calls("chat.postMessage"); n != 2 {
		t.Errorf("Calls(chat.postMessage) = %d, want 2", n)
	}
}

func TestWaitCalls(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	srv.RateLimitNext("chat.postMessage", 1, time.Second)
	done := make(chan error, 1)
	go func() {
		_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
		done <- err
	}()
	// A call counts whatever its answer, here a 429.
	if err := srv.WaitCalls(ctx, "chat.postMessage", 1); err != nil {
		t.Fatal(err)
	}
	var rl *slack.RateLimitedError
	if err := <-done; !errors.As(err, &rl) {
		t.Errorf("PostMessage: %v, want rate limited", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := srv.WaitCalls(short, "chat.postMessage", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitCalls for a call never made: %v, want deadline exceeded", err)
	}
}

func TestRateLimitedBody(t *testing.T) {
	srv := newServer(t)
	srv.RateLimitNext("chat.postMessage", 1, 0)
	resp, body := rawCall(t, srv, http.MethodPost, "chat.postMessage", url.Values{
		"token": {slackfake.DefaultBotToken}, "channel": {"C1"}, "text": {"x"},
	}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "0" ||
		strings.TrimSpace(body) != `{"ok":false,"error":"ratelimited"}` {
		t.Errorf("answer: %s, Retry-After %q, body %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
}

func TestPostMessageInjectedError(t *testing.T) {
	srv := newServer(t)
	srv.AddChannel("C1", "general", false)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	srv.FailNext("chat.postMessage", 2, "channel_not_found")

	for range 2 {
		_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
		assertSlackError(t, err, "channel_not_found")
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Posts()); n != 1 {
		t.Errorf("len(Posts()) = %d, want 1", n)
	}
}

func TestReactions(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	api := newAPI(srv, slackfake.DefaultBotToken)
	item := slack.NewRefToMessage("C1", "1.000001")
	assertSlackError(t, api.AddReactionContext(ctx, "eyes", item), "channel_not_found")
	srv.AddChannel("C1", "general", false)
	assertSlackError(t, api.AddReactionContext(ctx, "eyes", item), "message_not_found")
	srv.AddMessage("C1", "1.000001")

	if err := api.AddReactionContext(ctx, "eyes", item); err != nil {
		t.Fatal(err)
	}
	r, err := srv.WaitReaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (slackfake.Reaction{Channel: "C1", Timestamp: "1.000001", Name: "eyes"}); r != want {
		t.Errorf("reaction = %+v, want %+v", r, want)
	}
	assertSlackError(t, api.AddReactionContext(ctx, "eyes", item), "already_reacted")
	assertSlackError(t, api.AddReactionContext(ctx, ":eyes:", item), "invalid_name")
	if n := len(srv.Reactions()); n != 1 {
		t.Errorf("len(Reactions()) = %d, want 1", n)
	}
}

// rawCall calls the Web API with net/http: form values in the query (GET) or
// body (POST), or a JSON body if jsonBody is not nil.
func rawCall(t *testing.T, srv *slackfake.Server, method, apiMethod string, form url.Values, jsonBody any, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	u := srv.APIURL() + apiMethod
	contentType := "application/x-www-form-urlencoded"
	switch {
	case jsonBody != nil:
		b, err := json.Marshal(jsonBody)
		if err != nil {
			t.Fatal(err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case method == http.MethodGet:
		u += "?" + form.Encode()
	default:
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(testContext(t), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestBearerTokenGETAndJSON(t *testing.T) {
	srv := newServer(t)
	srv.AddChannel("C1", "general", false)
	srv.AddUser("U1", "alice")
	bearer := []string{"Authorization", "Bearer " + slackfake.DefaultBotToken}

	_, body := rawCall(t, srv, http.MethodGet, "users.info", url.Values{"user": {"U1"}}, nil, bearer...)
	if !strings.Contains(body, `"ok":true`) || !strings.Contains(body, `"name":"alice"`) {
		t.Errorf("GET users.info: %s", body)
	}

	_, body = rawCall(t, srv, http.MethodPost, "chat.postMessage", nil,
		map[string]any{"channel": "C1", "text": "hi", "unfurl_links": false}, bearer...)
	if !strings.Contains(body, `"ok":true`) {
		t.Fatalf("JSON chat.postMessage: %s", body)
	}
	p, err := srv.WaitPost(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != "hi" || p.UnfurlLinks == nil || *p.UnfurlLinks || p.Token != slackfake.DefaultBotToken {
		t.Errorf("post = %+v", p)
	}

	_, body = rawCall(t, srv, http.MethodPost, "auth.test", url.Values{}, nil)
	if !strings.Contains(body, `"error":"not_authed"`) {
		t.Errorf("auth.test without token: %s", body)
	}
	_, body = rawCall(t, srv, http.MethodPost, "no.such.method", url.Values{"token": {slackfake.DefaultBotToken}}, nil)
	if !strings.Contains(body, `"error":"unknown_method"`) {
		t.Errorf("unknown method: %s", body)
	}
}

func TestConnectTokenKinds(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)

	_, _, err := newAPI(srv, slackfake.DefaultBotToken).ConnectRTMContext(ctx)
	assertSlackError(t, err, "not_allowed_token_type")
	_, _, err = newAPI(srv, slackfake.DefaultAppToken).ConnectRTMContext(ctx)
	assertSlackError(t, err, "not_allowed_token_type")
	_, _, err = newAPI(srv, "xoxb-unknown").ConnectRTMContext(ctx)
	assertSlackError(t, err, "invalid_auth")

	info, wsURL, err := newAPI(srv, slackfake.DefaultClassicBotToken).ConnectRTMContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wsURL, "ws://127.0.0.1:") || !strings.Contains(wsURL, "/rtm/") ||
		info.User.ID != "UBOT" || info.User.Name != "rulebot" || info.Team.ID != "T1" {
		t.Errorf("rtm.connect = %q, %+v, %+v", wsURL, info.User, info.Team)
	}

	_, wsURL, err = newAPI(srv, "", slack.OptionAppLevelToken(slackfake.DefaultAppToken)).StartSocketModeContext(ctx)
	if err != nil || !strings.Contains(wsURL, "/socket/") {
		t.Errorf("apps.connections.open = %q, %v", wsURL, err)
	}
	// A bot token where the app-level token belongs: Slack's documented
	// answer, which slack-go's socketmode client retries (see
	// TestSocketModeInvalidAppToken).
	_, _, err = newAPI(srv, "", slack.OptionAppLevelToken(slackfake.DefaultBotToken)).StartSocketModeContext(ctx)
	assertSlackError(t, err, "not_allowed_token_type")
}

func TestRTM(t *testing.T) {
	srv := envelopeServer(t)
	ctx := testContext(t)
	rtm := startRTM(t, srv)

	connected := waitRTM[*slack.ConnectedEvent](ctx, t, rtm)
	if connected.Info.User.ID != "UBOT" {
		t.Errorf("connected as %+v", connected.Info.User)
	}
	waitRTM[*slack.HelloEvent](ctx, t, rtm)

	if _, err := srv.SayRTM(ctx, u1("hello bot")); err != nil {
		t.Fatal(err)
	}
	msg := waitRTM[*slack.MessageEvent](ctx, t, rtm)
	if msg.Text != "hello bot" || msg.Channel != "C1" || msg.User != "U1" {
		t.Errorf("message = %+v", msg)
	}

	_, ts, err := rtm.PostMessageContext(ctx, msg.Channel, slack.MsgOptionText("hi U1", false), slack.MsgOptionTS(msg.Timestamp))
	if err != nil {
		t.Fatal(err)
	}
	p, err := srv.WaitPost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channel != "C1" || p.Text != "hi U1" || p.ThreadTS != msg.Timestamp || p.TS != ts {
		t.Errorf("post = %+v", p)
	}

	// Reconnection: the client notices the dropped websocket, reconnects,
	// and gets events on the new connection.
	srv.DropConnections()
	if err := srv.WaitConnections(ctx, slackfake.RTM, 2); err != nil {
		t.Fatal(err)
	}
	waitRTM[*slack.DisconnectedEvent](ctx, t, rtm)
	if _, err := srv.SayRTM(ctx, u1("again")); err != nil {
		t.Fatal(err)
	}
	if msg := waitRTM[*slack.MessageEvent](ctx, t, rtm); msg.Text != "again" {
		t.Errorf("message after reconnection = %+v", msg)
	}
}

func TestRTMPingPong(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	// slack-go sends {"id":N,"type":"ping","timestamp":T}; a pong turns into
	// a latency report (a missing one, after 4 intervals, into a reconnection).
	rtm := startRTM(t, srv, slack.RTMOptionPingInterval(50*time.Millisecond))
	waitRTM[*slack.LatencyReport](ctx, t, rtm)
}

func TestSocketMode(t *testing.T) {
	srv := envelopeServer(t)
	ctx := testContext(t)
	client, api, _ := startSocketMode(t, srv, slackfake.DefaultAppToken)

	hello := waitSocket(ctx, t, client, socketmode.EventTypeHello)
	if hello.Request.NumConnections != 1 || hello.Request.ConnectionInfo.AppID != "A1" {
		t.Errorf("hello = %+v", hello.Request)
	}

	// receive checks the next events_api event and acks it.
	receive := func(wantType, wantText string) *socketmode.Request {
		t.Helper()
		ev := waitSocket(ctx, t, client, socketmode.EventTypeEventsAPI)
		api, ok := ev.Data.(slackevents.EventsAPIEvent)
		if !ok {
			t.Fatalf("events_api data is %T", ev.Data)
		}
		var text string
		switch inner := api.InnerEvent.Data.(type) {
		case *slackevents.MessageEvent:
			text = inner.Text
		case *slackevents.AppMentionEvent:
			text = inner.Text
		}
		if api.Type != slackevents.CallbackEvent || api.TeamID != "T1" || api.APIAppID != "A1" ||
			api.InnerEvent.Type != wantType || text != wantText {
			t.Errorf("event = %+v, inner %+v", api, api.InnerEvent.Data)
		}
		if err := client.Ack(*ev.Request); err != nil {
			t.Fatal(err)
		}
		return ev.Request
	}

	sent, err := srv.Say(ctx, u1("hello bot"))
	if err != nil {
		t.Fatal(err)
	}
	id := sent.EnvelopeID
	req := receive("message", "hello bot")
	if req.EnvelopeID != id || req.RetryAttempt != 0 {
		t.Errorf("envelope = %+v, want ID %q", req, id)
	}
	if err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if acks := srv.Acks(); len(acks) != 1 || acks[0].EnvelopeID != id {
		t.Errorf("acks = %+v", acks)
	}

	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi U1", false)); err != nil {
		t.Fatal(err)
	}
	if p, err := srv.WaitPost(ctx); err != nil || p.Text != "hi U1" {
		t.Fatalf("WaitPost = %+v, %v", p, err)
	}

	// A redelivery: same envelope and event, next attempt; WaitAck now
	// waits for the second ack.
	opts := slackfake.EventOptions{EnvelopeID: id, EventID: "Ev1", RetryAttempt: 1, RetryReason: "timeout"}
	if _, err := srv.SendEvent(ctx, sent.Event, opts); err != nil {
		t.Fatal(err)
	}
	req = receive("message", "hello bot")
	if req.EnvelopeID != id || req.RetryAttempt != 1 || req.RetryReason != "timeout" {
		t.Errorf("redelivered envelope = %+v", req)
	}
	if err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Acks()); n != 2 {
		t.Errorf("len(Acks()) = %d, want 2", n)
	}

	// The same message as both "message" and "app_mention".
	sent, err = srv.Say(ctx, u1("<@UBOT> hi"))
	if err != nil {
		t.Fatal(err)
	}
	receive("message", "<@UBOT> hi")
	receive("app_mention", "<@UBOT> hi")
	for _, id := range []string{sent.EnvelopeID, sent.MentionEnvelopeID} {
		if err := srv.WaitAck(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	// Reconnection after a dropped websocket.
	srv.DropConnections()
	if err := srv.WaitConnections(ctx, slackfake.SocketMode, 2); err != nil {
		t.Fatal(err)
	}
	sent, err = srv.Say(ctx, u1("again"))
	if err != nil {
		t.Fatal(err)
	}
	id = sent.EnvelopeID
	receive("message", "again")
	if err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestSocketModeReconnectsWithoutPings(t *testing.T) {
	srv := newServer(t, slackfake.WithSocketPingInterval(0))
	ctx := testContext(t)
	// socketmode expects a websocket ping at least every OptionPingInterval
	// and otherwise drops the connection and opens a new one.
	startSocketMode(t, srv, slackfake.DefaultAppToken, socketmode.OptionPingInterval(100*time.Millisecond))
	if err := srv.WaitConnections(ctx, slackfake.SocketMode, 2); err != nil {
		t.Fatal(err)
	}
}

func TestSocketModeInvalidAppToken(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	_, _, runErr := startSocketMode(t, srv, "xapp-unknown")
	select {
	case err := <-runErr:
		if err == nil || err.Error() != "invalid_auth" {
			t.Errorf("RunContext with an unknown token: %v, want invalid_auth", err)
		}
	case <-ctx.Done():
		t.Fatal("RunContext with an unknown token did not fail")
	}

	// A bot token in the app-level token's place answers
	// not_allowed_token_type, as Slack documents; slack-go does not give up
	// on it but reports it in a connection error and retries, so a client
	// must watch for it (rulebot's slackbot does).
	client, _, runErr := startSocketMode(t, srv, slackfake.DefaultBotToken)
	ev := waitSocket(ctx, t, client, socketmode.EventTypeConnectionError)
	if ce, _ := ev.Data.(*slack.ConnectionErrorEvent); ce == nil || ce.Error() != "not_allowed_token_type" {
		t.Errorf("connection error %+v, want not_allowed_token_type", ev.Data)
	}
	select {
	case err := <-runErr:
		t.Errorf("RunContext returned %v: slack-go now gives up on not_allowed_token_type", err)
	default:
	}
	if n := srv.Connections(slackfake.SocketMode); n != 0 {
		t.Errorf("%d connections, want 0", n)
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	rtm := startRTM(t, srv)
	client, _, _ := startSocketMode(t, srv, slackfake.DefaultAppToken)
	waitRTM[*slack.HelloEvent](ctx, t, rtm)
	waitSocket(ctx, t, client, socketmode.EventTypeHello)

	srv.Close() // with both websockets live
	srv.Close()

	if _, err := srv.WaitPost(ctx); !errors.Is(err, slackfake.ErrClosed) {
		t.Errorf("WaitPost after Close: %v", err)
	}
	if err := srv.SendRTM(ctx, messageEvent("x")); !errors.Is(err, slackfake.ErrClosed) {
		t.Errorf("SendRTM after Close: %v", err)
	}

	// Close waited for the fake's goroutines; poll only for them to finish
	// unwinding past their last deferred call.
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "internal/slackfake.(*") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("goroutines of the fake left after Close:\n%s", stacks)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestAnswerNext(t *testing.T) {
	srv := newServer(t)
	srv.AnswerNext("auth.test", 1, `{"ok":true,"user":"rulebot"}`)
	for i, want := range []string{`{"ok":true,"user":"rulebot"}`, `"user_id":"UBOT"`} {
		resp, body := rawCall(t, srv, http.MethodPost, "auth.test", url.Values{"token": {slackfake.DefaultBotToken}}, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("call %d: %s %s, want %s", i+1, resp.Status, body, want)
		}
	}
}

func TestHold(t *testing.T) {
	srv := newServer(t)
	ctx := testContext(t)
	release := srv.Hold("auth.test")
	answered := make(chan error, 1)
	go func() {
		_, err := newAPI(srv, slackfake.DefaultBotToken).AuthTestContext(ctx)
		answered <- err
	}()
	if err := srv.WaitCalls(ctx, "auth.test", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		t.Fatalf("a held call was answered: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	release()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}

	// A call still held when the Server closes does not keep Close waiting.
	srv.Hold("users.info")
	go newAPI(srv, slackfake.DefaultBotToken).GetUserInfoContext(ctx, "U1")
	if err := srv.WaitCalls(ctx, "users.info", 1); err != nil {
		t.Fatal(err)
	}
	srv.Close()
}
