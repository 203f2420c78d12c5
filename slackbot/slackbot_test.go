package slackbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/slackfake"
)

const testRules = `
rules:
  - name: hi
    match: {command: hi}
    reply: "hi {{ user.name }} in {{ channel.name }}"
  - name: thumbs
    match: {exact: nice}
    react: thumbsup
  - name: threaded
    match: {command: thread}
    thread: true
    reply: in a thread
  - name: links
    match: {command: links}
    unfurl: {links: true, media: false}
    reply: see https://example.com
  - name: echo
    match: {command: echo}
    reply: "{{ rest }}"
`

// harness is a bot connected to a fake Slack over one transport.
type harness struct {
	t      testing.TB
	fake   *slackfake.Server
	kind   string
	ctx    context.Context
	bot    *Bot
	seq    int
	mu     sync.Mutex
	runErr chan error
}

func newFake(t testing.TB, opts ...slackfake.Option) *slackfake.Server {
	t.Helper()
	fake := slackfake.New(append([]slackfake.Option{slackfake.WithSocketPingInterval(50 * time.Millisecond)}, opts...)...)
	t.Cleanup(fake.Close)
	fake.AddUsers(slackfake.User{ID: "UALICE", Name: "alice"}, slackfake.User{ID: "UBOB", Name: "bob"},
		slackfake.User{ID: "UDEPLOY", Name: "deploybot", IsBot: true})
	// deploybot is an app posting with its bot token, hook an incoming webhook.
	fake.AddBots(slackfake.Bot{ID: "BDEPLOY", Name: "deploybot", UserID: "UDEPLOY"}, slackfake.Bot{ID: "BHOOK", Name: "hook"})
	fake.AddChannel("CGENERAL", "general", false)
	fake.AddChannel("CRANDOM", "random", false)
	fake.Join("CGENERAL", "UALICE", "UBOB", "UDEPLOY")
	fake.Join("CRANDOM", "UALICE", "UBOB")
	return fake
}

func compile(t testing.TB, src string) *engine.Rules {
	t.Helper()
	rs, err := engine.Compile("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// start connects a bot over kind (RTM or Socket) and runs it until the test ends.
func start(t testing.TB, fake *slackfake.Server, kind string, rules string) *harness {
	t.Helper()
	return startWith(t, fake, kind, rules, nil)
}

// startWith is start with a Config that configure may change first.
func startWith(t testing.TB, fake *slackfake.Server, kind string, rules string, configure func(*Config)) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	cfg := Config{APIURL: fake.APIURL(), Transport: kind, Grace: 5 * time.Second, PingInterval: 500 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), PostInterval: 10 * time.Millisecond}
	if kind == Socket {
		cfg.BotToken, cfg.AppToken = slackfake.DefaultBotToken, slackfake.DefaultAppToken
	} else {
		cfg.BotToken = slackfake.DefaultClassicBotToken
	}
	if configure != nil {
		configure(&cfg)
	}
	bot, err := Dial(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("Dial: %v", err)
	}
	if bot.UserID != "UBOT" || bot.BotID != "BBOT" {
		t.Errorf("Dial learned user %q bot %q; want UBOT, BBOT", bot.UserID, bot.BotID)
	}
	eng := engine.New(compile(t, rules), engine.Options{BotUserID: bot.UserID, BotID: bot.BotID})
	runCtx, stop := context.WithCancel(ctx)
	h := &harness{t: t, fake: fake, kind: kind, ctx: ctx, bot: bot, runErr: make(chan error, 1)}
	go func() { h.runErr <- bot.Run(runCtx, eng) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-h.runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		cancel()
	})
	ck := slackfake.RTM
	if kind == Socket {
		ck = slackfake.SocketMode
	}
	if err := fake.WaitConnections(ctx, ck, 1); err != nil {
		t.Fatal(err)
	}
	return h
}

// send posts text as alice in #general; see say.
func (h *harness) send(text string) string {
	h.t.Helper()
	return h.say(slackfake.Message{Text: text})
}

// say posts m over the harness's transport, by default as alice (unless
// m is a bot's) in #general (unless m is a DM), and waits for the acks of
// its envelopes. It returns the message's ts.
func (h *harness) say(m slackfake.Message) string {
	h.t.Helper()
	if m.User == "" && m.Bot == "" {
		m.User = "UALICE"
	}
	if m.Channel == "" && !m.DM {
		m.Channel = "CGENERAL"
	}
	var (
		sent slackfake.Sent
		err  error
	)
	if h.kind == Socket {
		sent, err = h.fake.Say(h.ctx, m)
		for _, env := range []string{sent.EnvelopeID, sent.MentionEnvelopeID} {
			if err == nil && env != "" {
				err = h.fake.WaitAck(h.ctx, env)
			}
		}
	} else {
		sent, err = h.fake.SayRTM(h.ctx, m)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return sent.TS
}

// raw sends ev, an event Say cannot build (an edit, a deletion, a join, a
// redelivery), over the harness's transport.
func (h *harness) raw(ev map[string]any) {
	h.t.Helper()
	var err error
	if h.kind == Socket {
		var env string
		env, err = h.fake.SendEvent(h.ctx, ev, slackfake.EventOptions{})
		if err == nil {
			err = h.fake.WaitAck(h.ctx, env)
		}
	} else {
		err = h.fake.SendRTM(h.ctx, ev)
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) post() slackfake.Post {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	p, err := h.fake.WaitPost(ctx)
	if err != nil {
		h.t.Fatalf("waiting for a post: %v", err)
	}
	return p
}

func boolp(p *bool) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func forBoth(t *testing.T, f func(t *testing.T, fake *slackfake.Server, kind string)) {
	for _, kind := range []string{RTM, Socket} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, newFake(t), kind)
		})
	}
}

func TestReplies(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		h := start(t, fake, kind, testRules)

		h.send("<@UBOT> hi")
		p := h.post()
		if p.Channel != "CGENERAL" || p.Text != "hi alice in general" || p.ThreadTS != "" {
			t.Errorf("post = %+v", p)
		}
		if boolp(p.UnfurlLinks) != "false" || boolp(p.UnfurlMedia) == "false" {
			t.Errorf("unfurl links %s media %s; want false and not false", boolp(p.UnfurlLinks), boolp(p.UnfurlMedia))
		}

		// A reply to a message in a thread goes into the thread; thread: true starts one.
		top := h.say(slackfake.Message{Channel: "CRANDOM", Text: "a thread"})
		h.say(slackfake.Message{User: "UBOB", Channel: "CRANDOM", Text: "<@UBOT> hi", ThreadTS: top})
		if p := h.post(); p.ThreadTS != top || p.Channel != "CRANDOM" || p.Text != "hi bob in random" {
			t.Errorf("thread reply = %+v", p)
		}
		ts := h.send("<@UBOT> thread")
		if p := h.post(); p.ThreadTS != ts {
			t.Errorf("thread: true reply in thread %q, want %q", p.ThreadTS, ts)
		}
		h.send("<@UBOT> links")
		if p := h.post(); boolp(p.UnfurlLinks) != "true" || boolp(p.UnfurlMedia) != "false" {
			t.Errorf("per-rule unfurl: links %s media %s", boolp(p.UnfurlLinks), boolp(p.UnfurlMedia))
		}
		// Entities are decoded before matching, and escaped again on the way out.
		h.send("<@UBOT> echo a &lt;b&gt; &amp; <!channel> <http://x.test/|x.test>")
		if p := h.post(); p.Text != "a &lt;b&gt; &amp; &lt;!channel&gt; http://x.test/" {
			t.Errorf("echo = %q", p.Text)
		}

		ts = h.send("nice")
		r, err := fake.WaitReaction(h.ctx)
		if err != nil || r.Name != "thumbsup" || r.Channel != "CGENERAL" || r.Timestamp != ts {
			t.Errorf("reaction = %+v, %v", r, err)
		}

		// Names are cached: two more messages from alice, no more users.info calls.
		before := fake.Calls("users.info")
		h.send("<@UBOT> hi")
		h.send("<@UBOT> hi")
		h.post()
		h.post()
		if n := fake.Calls("users.info"); n != before {
			t.Errorf("users.info called %d more times; want the cache to answer", n-before)
		}
	})
}

func TestIgnores(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		h := start(t, fake, kind, testRules)
		h.say(slackfake.Message{User: "UBOT", Text: "<@UBOT> echo self"})
		h.say(slackfake.Message{Bot: "BDEPLOY", Text: "<@UBOT> echo bot"})
		h.say(slackfake.Message{Bot: "BHOOK", Text: "<@UBOT> echo bot message"})
		edited := h.send("something to edit")
		h.raw(map[string]any{"type": "message", "subtype": "message_changed", "channel": "CGENERAL", "hidden": true,
			"ts": "1700000001.000001", "message": map[string]any{"type": "message", "user": "UALICE",
				"text": "<@UBOT> echo edited", "ts": edited, "edited": map[string]any{"user": "UALICE", "ts": "1700000001.000001"}}})
		h.raw(map[string]any{"type": "message", "subtype": "message_deleted", "channel": "CGENERAL", "hidden": true,
			"ts": "1700000001.000002", "deleted_ts": edited})
		h.raw(map[string]any{"type": "message", "subtype": "channel_join", "channel": "CGENERAL", "user": "UBOB",
			"text": "<@UBOB> has joined the channel", "ts": "1700000001.000003"})
		h.send("<@UBOT> echo last")
		// Replies in a channel keep the order of the messages, so the first
		// post is the answer to the first message that deserved one.
		if p := h.post(); p.Text != "last" {
			t.Errorf("first post = %q; want %q (an ignored message was answered)", p.Text, "last")
		}
	})
}

func TestSocketModeRedelivery(t *testing.T) {
	fake := newFake(t)
	h := start(t, fake, Socket, testRules)
	sent, err := fake.Say(h.ctx, slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "<@UBOT> echo once"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := fake.WaitDelivery(h.ctx, sent.EnvelopeID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Slack redelivers when it thinks an ack was lost.
	if _, err := fake.SendEvent(h.ctx, sent.Event, slackfake.EventOptions{EnvelopeID: sent.EnvelopeID, EventID: first.EventID,
		RetryAttempt: 1, RetryReason: "http_timeout"}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{sent.EnvelopeID, sent.MentionEnvelopeID} {
		if err := fake.WaitAck(h.ctx, e); err != nil {
			t.Fatalf("envelope %s not acked: %v", e, err)
		}
	}
	h.send("<@UBOT> echo marker")
	if p := h.post(); p.Text != "once" {
		t.Fatalf("first post %q", p.Text)
	}
	if p := h.post(); p.Text != "marker" {
		t.Errorf("second post %q; want marker (the message was answered twice)", p.Text)
	}
}

func TestRateLimitedThenPosted(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		h := start(t, fake, kind, testRules)
		fake.RateLimitNext("chat.postMessage", 1, time.Second)
		h.send("<@UBOT> echo patient")
		if p := h.post(); p.Text != "patient" {
			t.Errorf("post %q", p.Text)
		}
		if n := fake.Calls("chat.postMessage"); n != 2 {
			t.Errorf("chat.postMessage called %d times; want 2 (429, then success)", n)
		}
	})
}

func TestAPIErrorDoesNotStopTheBot(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		h := start(t, fake, kind, testRules)
		fake.FailNext("chat.postMessage", 1, "channel_not_found")
		h.send("<@UBOT> echo lost")
		h.send("<@UBOT> echo next")
		if p := h.post(); p.Text != "next" {
			t.Errorf("post %q; want next", p.Text)
		}
	})
}

func TestReconnects(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		h := start(t, fake, kind, testRules)
		ck := slackfake.RTM
		if kind == Socket {
			ck = slackfake.SocketMode
		}
		fake.DropConnections()
		if err := fake.WaitConnections(h.ctx, ck, 2); err != nil {
			t.Fatalf("no reconnection: %v", err)
		}
		h.send("<@UBOT> echo back")
		if p := h.post(); p.Text != "back" {
			t.Errorf("post %q", p.Text)
		}
	})
}

// TestSlackAsksToReconnect: when Slack asks for a refresh (a Socket Mode
// disconnect message), the bot opens a new connection and goes on
// answering.
func TestSlackAsksToReconnect(t *testing.T) {
	fake := newFake(t)
	h := start(t, fake, Socket, testRules)
	if err := fake.Refresh(h.ctx); err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitConnections(h.ctx, slackfake.SocketMode, 2); err != nil {
		t.Fatalf("no new connection after the refresh: %v", err)
	}
	h.send("<@UBOT> echo still here")
	if p := h.post(); p.Text != "still here" {
		t.Errorf("post %q", p.Text)
	}
}

func TestOrderPerChannelAndParallelChannels(t *testing.T) {
	fake := newFake(t)
	// A fetch that does not answer until the test ends holds #random;
	// #general must not wait for it.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	h := start(t, fake, Socket, `bot: {fetch: {allow: ["127.0.0.1"]}}`+testRules+`
  - name: slow
    match: {command: slow}
    fetch: {url: "`+slow.URL+`", timeout: 30s}
    reply: done
`)
	h.say(slackfake.Message{Channel: "CRANDOM", Text: "<@UBOT> slow"})
	for i := range 20 {
		h.send(fmt.Sprintf("<@UBOT> echo %d", i))
	}
	for i := range 20 {
		if p := h.post(); p.Text != fmt.Sprint(i) {
			t.Fatalf("post %d = %q: order lost", i, p.Text)
		}
	}
}

func TestFatalErrors(t *testing.T) {
	fake := newFake(t)
	fake.SetToken("xoxb-revoked", slackfake.TokenRevoked)
	// Looks like an app-level token, is a bot token: Slack answers
	// not_allowed_token_type, which slack-go's socketmode client retries
	// forever; the bot must give up at once.
	fake.SetToken("xapp-in-fact-a-bot", slackfake.TokenBot)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no token", Config{}, "SLACK_BOT_TOKEN is not set"},
		{"invalid token", Config{BotToken: "xoxb-nope"}, "SLACK_BOT_TOKEN was rejected by Slack (invalid_auth)"},
		{"revoked token", Config{BotToken: "xoxb-revoked"}, "SLACK_BOT_TOKEN was rejected by Slack (token_revoked)"},
		{"modern token on RTM", Config{BotToken: slackfake.DefaultBotToken, Transport: RTM}, "not_allowed_token_type"},
		{"bad app token", Config{BotToken: slackfake.DefaultBotToken, AppToken: "xapp-nope"}, "SLACK_APP_TOKEN"},
		{"bot token as app token", Config{BotToken: slackfake.DefaultBotToken, AppToken: "xapp-in-fact-a-bot"}, "Slack refused SLACK_APP_TOKEN (not_allowed_token_type)"},
		{"app token not xapp", Config{BotToken: slackfake.DefaultBotToken, AppToken: "xoxb-x"}, "SLACK_APP_TOKEN must be an app-level token"},
		{"socket without app token", Config{BotToken: slackfake.DefaultBotToken, Transport: Socket}, "Socket Mode needs SLACK_APP_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tt.cfg.APIURL = fake.APIURL()
			tt.cfg.Grace = time.Second
			bot, err := Dial(ctx, tt.cfg)
			if err == nil {
				err = bot.Run(ctx, engine.New(compile(t, testRules), engine.Options{}))
			}
			var fe *FatalError
			if !errors.As(err, &fe) || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("err = %v; want a FatalError containing %q", err, tt.want)
			}
			if ctx.Err() != nil {
				t.Errorf("took until the test's deadline: the error must be fatal at once")
			}
			for _, tok := range []string{tt.cfg.BotToken, tt.cfg.AppToken} {
				if tok != "" && strings.Contains(fe.Msg, tok) {
					t.Errorf("the message shows the token")
				}
			}
		})
	}
}

// TestDialAuthTest: Dial starts only when auth.test says ok and who the bot
// is; an answer that does not is fatal, while failing to get one is not.
func TestDialAuthTest(t *testing.T) {
	tests := []struct {
		answer string // "" for the fake's own answer
		fatal  bool
		want   string // in the error; for success, the bot's ids
	}{
		{"", false, "UBOT BBOT"},
		{`{"ok":true,"user_id":"W1","user":"bot"}`, false, "W1 "},
		{`{"ok":true}`, true, "has no user_id"},
		{`{"ok":true,"user_id":"","bot_id":"B1"}`, true, "has no user_id"},
		{`{"ok":true,"user_id":"u b"}`, true, "not a Slack id"},
		{`{"ok":false}`, true, `without "ok": true and without an error`},
		{`{"user_id":"UBOT"}`, true, `without "ok": true`},
		{`{"ok":false,"error":"invalid_auth"}`, true, "SLACK_BOT_TOKEN was rejected by Slack (invalid_auth)"},
		{`{"ok":false,"error":"team_access_not_granted"}`, true, "Slack refused auth.test for SLACK_BOT_TOKEN (team_access_not_granted)"},
		{`[]`, true, "not Slack's JSON"},
		{"rate limited", false, "HTTP 429"},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			fake := newFake(t)
			switch tt.answer {
			case "":
			case "rate limited":
				fake.RateLimitNext("auth.test", 1, time.Second)
			default:
				fake.AnswerNext("auth.test", 1, tt.answer)
			}
			bot, err := Dial(ctx, Config{BotToken: slackfake.DefaultBotToken, APIURL: fake.APIURL()})
			if err == nil {
				if got := bot.UserID + " " + bot.BotID; got != tt.want {
					t.Errorf("ids %q, want %q", got, tt.want)
				}
				return
			}
			var fe *FatalError
			if errors.As(err, &fe) != tt.fatal || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (fatal: %v); want fatal %v, containing %q", err, fe != nil, tt.fatal, tt.want)
			}
			if strings.Contains(err.Error(), slackfake.DefaultBotToken) {
				t.Errorf("the error shows the token")
			}
		})
	}
}

// TestDirectMessages: a DM to the bot is addressed without a mention, is
// answered in the DM, and a mention in a DM (which Slack sends without an
// app_mention twin) or in a private channel (with one) is answered once.
func TestDirectMessages(t *testing.T) {
	forBoth(t, func(t *testing.T, fake *slackfake.Server, kind string) {
		fake.AddConversations(slackfake.Conversation{ID: "GSECRET", Name: "secret", Private: true, Members: []string{"UALICE"}})
		h := start(t, fake, kind, testRules)
		h.say(slackfake.Message{DM: true, Text: "hi"})
		if p := h.post(); p.Channel != fake.DM("UALICE") || p.Text != "hi alice in alice" {
			t.Errorf("answer to a DM = %+v; want %q in %s", p, "hi alice in alice", fake.DM("UALICE"))
		}
		h.say(slackfake.Message{DM: true, Text: "<@UBOT> echo once in a DM"})
		h.say(slackfake.Message{Channel: "GSECRET", Text: "<@UBOT> echo once in private"})
		h.say(slackfake.Message{DM: true, Text: "echo marker"})
		h.say(slackfake.Message{Channel: "GSECRET", Text: "<@UBOT> echo marker"})
		got := map[string][]string{}
		for range 4 {
			p := h.post()
			got[p.Channel] = append(got[p.Channel], p.Text)
		}
		want := map[string][]string{
			fake.DM("UALICE"): {"once in a DM", "marker"},
			"GSECRET":         {"once in private", "marker"},
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("posts by channel %q; want %q", got, want)
		}
	})
}

// TestAppMentionSubtypes: an app_mention carries the subtype of its
// message, which slack-go's AppMentionEvent drops. With ignore_bots: false,
// a webhook's post mentioning the bot (subtype bot_message) comes as a
// message and as its app_mention twin: the bot answers once, not once per
// twin. A mention in a canvas (subtype document_mention, with no message
// twin) and an edit that adds a mention (an app_mention with "edited") are
// not messages to answer.
func TestAppMentionSubtypes(t *testing.T) {
	fake := newFake(t)
	h := start(t, fake, Socket, "bot: {ignore_bots: false}\n"+testRules)
	h.say(slackfake.Message{Bot: "BHOOK", Text: "<@UBOT> echo hooked"})
	h.say(slackfake.Message{Bot: "BDEPLOY", Text: "<@UBOT> echo deployed"})
	h.raw(map[string]any{"type": "app_mention", "subtype": "document_mention", "channel": "CGENERAL", "user": "UALICE",
		"text": "<@UBOT> echo canvas", "ts": "1700000001.000001",
		"document_mention": map[string]any{"file_id": "F1", "section_id": "temp:C:1", "mentioning_user_ids": []string{"UALICE"}}})
	// An edit of a message posted before the bot started, so not one it
	// knows as seen.
	h.raw(map[string]any{"type": "app_mention", "channel": "CGENERAL", "user": "UALICE", "text": "<@UBOT> echo edited",
		"ts": "1600000000.000001", "edited": map[string]any{"user": "UALICE", "ts": "1700000001.000002"}})
	h.send("<@UBOT> echo marker")
	var got []string
	for range 3 {
		got = append(got, h.post().Text)
	}
	if want := []string{"hooked", "deployed", "marker"}; !slices.Equal(got, want) {
		t.Errorf("posts %q; want %q (each message answered once)", got, want)
	}
}
