package slackbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	fake.AddUser("UALICE", "alice")
	fake.AddUser("UBOB", "bob")
	fake.AddChannel("CGENERAL", "general", false)
	fake.AddChannel("CRANDOM", "random", false)
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

// send delivers a message event over the harness's transport; extra fields
// override the defaults. It returns the message's ts.
func (h *harness) send(text string, extra map[string]any) string {
	h.t.Helper()
	h.mu.Lock()
	h.seq++
	ts := fmt.Sprintf("1700000000.%06d", h.seq)
	h.mu.Unlock()
	ev := map[string]any{"type": "message", "channel": "CGENERAL", "channel_type": "channel", "user": "UALICE", "text": text, "ts": ts}
	for k, v := range extra {
		if v == nil {
			delete(ev, k)
		} else {
			ev[k] = v
		}
	}
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
	return ts
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

		h.send("<@UBOT> hi", nil)
		p := h.post()
		if p.Channel != "CGENERAL" || p.Text != "hi alice in general" || p.ThreadTS != "" {
			t.Errorf("post = %+v", p)
		}
		if boolp(p.UnfurlLinks) != "false" || boolp(p.UnfurlMedia) == "false" {
			t.Errorf("unfurl links %s media %s; want false and not false", boolp(p.UnfurlLinks), boolp(p.UnfurlMedia))
		}

		// A reply to a message in a thread goes into the thread; thread: true starts one.
		h.send("<@UBOT> hi", map[string]any{"thread_ts": "1600000000.000001", "user": "UBOB", "channel": "CRANDOM"})
		if p := h.post(); p.ThreadTS != "1600000000.000001" || p.Channel != "CRANDOM" || p.Text != "hi bob in random" {
			t.Errorf("thread reply = %+v", p)
		}
		ts := h.send("<@UBOT> thread", nil)
		if p := h.post(); p.ThreadTS != ts {
			t.Errorf("thread: true reply in thread %q, want %q", p.ThreadTS, ts)
		}
		h.send("<@UBOT> links", nil)
		if p := h.post(); boolp(p.UnfurlLinks) != "true" || boolp(p.UnfurlMedia) != "false" {
			t.Errorf("per-rule unfurl: links %s media %s", boolp(p.UnfurlLinks), boolp(p.UnfurlMedia))
		}
		// Entities are decoded before matching, and escaped again on the way out.
		h.send("<@UBOT> echo a &lt;b&gt; &amp; <!channel> <http://x.test/|x.test>", nil)
		if p := h.post(); p.Text != "a &lt;b&gt; &amp; &lt;!channel&gt; http://x.test/" {
			t.Errorf("echo = %q", p.Text)
		}

		ts = h.send("nice", nil)
		r, err := fake.WaitReaction(h.ctx)
		if err != nil || r.Name != "thumbsup" || r.Channel != "CGENERAL" || r.Timestamp != ts {
			t.Errorf("reaction = %+v, %v", r, err)
		}

		// Names are cached: two more messages from alice, no more users.info calls.
		before := fake.Calls("users.info")
		h.send("<@UBOT> hi", nil)
		h.send("<@UBOT> hi", nil)
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
		h.send("<@UBOT> echo self", map[string]any{"user": "UBOT"})
		h.send("<@UBOT> echo bot", map[string]any{"user": "UDEPLOY", "bot_id": "BDEPLOY"})
		h.send("<@UBOT> echo bot message", map[string]any{"user": nil, "subtype": "bot_message", "bot_id": "BDEPLOY"})
		h.send("<@UBOT> echo edited", map[string]any{"subtype": "message_changed",
			"message": map[string]any{"type": "message", "user": "UALICE", "text": "<@UBOT> echo edited", "ts": "1.1"}})
		h.send("", map[string]any{"subtype": "message_deleted", "deleted_ts": "1.1"})
		h.send("<@UALICE> has joined the channel", map[string]any{"subtype": "channel_join"})
		h.send("<@UBOT> echo last", nil)
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
	ev := map[string]any{"type": "message", "channel": "CGENERAL", "channel_type": "channel", "user": "UALICE", "text": "<@UBOT> echo once", "ts": "1700000001.000001"}
	env, err := fake.SendEvent(h.ctx, ev, slackfake.EventOptions{EventID: "Ev1", AppMention: true})
	if err != nil {
		t.Fatal(err)
	}
	// Slack redelivers when it thinks an ack was lost.
	if _, err := fake.SendEvent(h.ctx, ev, slackfake.EventOptions{EnvelopeID: env, EventID: "Ev1", RetryAttempt: 1, RetryReason: "timeout"}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{env, env + "-mention"} {
		if err := fake.WaitAck(h.ctx, e); err != nil {
			t.Fatalf("envelope %s not acked: %v", e, err)
		}
	}
	h.send("<@UBOT> echo marker", nil)
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
		h.send("<@UBOT> echo patient", nil)
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
		h.send("<@UBOT> echo lost", nil)
		h.send("<@UBOT> echo next", nil)
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
		h.send("<@UBOT> echo back", nil)
		if p := h.post(); p.Text != "back" {
			t.Errorf("post %q", p.Text)
		}
	})
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
	h.send("<@UBOT> slow", map[string]any{"channel": "CRANDOM"})
	for i := range 20 {
		h.send(fmt.Sprintf("<@UBOT> echo %d", i), nil)
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
