package slackbot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/slackfake"
)

// These tests drive perform, the unit that turns an engine.Action into
// Slack calls, with hand-made actions, through slack-go against the fake.

// records returns the JSON log records logged at level.
func records(t *testing.T, l *logBuffer, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["level"] == level {
			out = append(out, r)
		}
	}
	return out
}

// routeFake is a fake workspace with channels and users to send replies to.
func routeFake(t *testing.T) *slackfake.Server {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.AddUsers(
		slackfake.User{ID: "UALICE", Name: "alice", DisplayName: "Alice L."},
		slackfake.User{ID: "UBOB", Name: "bob", DisplayName: "Bobby B"},
		slackfake.User{ID: "UCAROL", Name: "carol"},
		slackfake.User{ID: "UIMPOSTOR", Name: "notcarol", DisplayName: "carol"},
		slackfake.User{ID: "UALEX1", Name: "alex.one", DisplayName: "alex"},
		slackfake.User{ID: "UALEX2", Name: "alex.two", DisplayName: "Alex"},
		slackfake.User{ID: "UGONE", Name: "gone", Deleted: true},
	)
	fake.AddConversations(
		slackfake.Conversation{ID: "CGENERAL", Name: "general", Members: []string{"UALICE", "UBOB"}},
		slackfake.Conversation{ID: "COPS", Name: "ops"},
		slackfake.Conversation{ID: "CPRIV", Name: "private-ops", Private: true},
		slackfake.Conversation{ID: "CLOUNGE", Name: "lounge", BotNotMember: true},
		slackfake.Conversation{ID: "COLD", Name: "old", Archived: true},
	)
	return fake
}

// routeBot is a bot on fake that performs actions without a transport.
func routeBot(t *testing.T, fake *slackfake.Server, configure func(*Config)) (*Bot, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := Config{BotToken: slackfake.DefaultBotToken, APIURL: fake.APIURL(),
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PostInterval: time.Millisecond}
	if configure != nil {
		configure(&cfg)
	}
	bot, err := Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return bot, logs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// performNow performs a as a job of its own would.
func performNow(ctx context.Context, b *Bot, a engine.Action) {
	s := &slot{sem: make(chan struct{}, 1)}
	s.take()
	defer s.free()
	b.perform(ctx, s, a, time.Now())
}

func reply(rule string, set func(*engine.Action)) engine.Action {
	a := engine.Action{Kind: engine.Reply, Rule: rule, Channel: "CGENERAL", ThreadTS: "1700000000.000001", Text: "text of " + rule}
	set(&a)
	return a
}

// TestReplyDestinations: each kind of destination is posted where Slack
// says it is; a reply sent elsewhere leaves the message's thread behind.
func TestReplyDestinations(t *testing.T) {
	fake := routeFake(t)
	bot, logs := routeBot(t, fake, nil)
	ctx := testCtx(t)
	tests := []struct {
		name      string
		set       func(*engine.Action)
		channel   string // "DM:USER" for the DM with USER
		thread    string
		ephemeral string // the user who alone sees it
	}{
		{"same channel, in the thread", func(a *engine.Action) {}, "CGENERAL", "1700000000.000001", ""},
		{"channel by name", func(a *engine.Action) { a.To = "#ops" }, "COPS", "", ""},
		{"channel name in capitals", func(a *engine.Action) { a.To = "#OPS" }, "COPS", "", ""},
		{"private channel the bot is in", func(a *engine.Action) { a.To = "#private-ops" }, "CPRIV", "", ""},
		{"user by username", func(a *engine.Action) { a.To = "@alice" }, "DM:UALICE", "", ""},
		{"user by display name", func(a *engine.Action) { a.To = "@bobby b" }, "DM:UBOB", "", ""},
		{"a username wins over a display name", func(a *engine.Action) { a.To = "@Carol" }, "DM:UCAROL", "", ""},
		{"to: dm", func(a *engine.Action) { a.DMUser = "UBOB" }, "DM:UBOB", "", ""},
		{"ephemeral in a thread", func(a *engine.Action) { a.Ephemeral = "UALICE" }, "CGENERAL", "1700000000.000001", "UALICE"},
		{"ephemeral in the channel", func(a *engine.Action) { a.Ephemeral = "UBOB"; a.ThreadTS = "" }, "CGENERAL", "", "UBOB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := reply(tt.name, tt.set)
			performNow(ctx, bot, a)
			want := tt.channel
			if user, ok := strings.CutPrefix(want, "DM:"); ok {
				if want = fake.DM(user); want == "" {
					t.Fatalf("no DM opened with %s", user)
				}
			}
			var channel, thread, text, who string
			if tt.ephemeral != "" {
				e, err := fake.WaitEphemeral(ctx)
				if err != nil {
					t.Fatal(err)
				}
				channel, thread, text, who = e.Channel, e.ThreadTS, e.Text, e.User
			} else {
				p, err := fake.WaitPost(ctx)
				if err != nil {
					t.Fatal(err)
				}
				channel, thread, text = p.Channel, p.ThreadTS, p.Text
			}
			if channel != want || thread != tt.thread || text != a.Text || who != tt.ephemeral {
				t.Errorf("sent to %q thread %q text %q for %q; want %q thread %q text %q for %q",
					channel, thread, text, who, want, tt.thread, a.Text, tt.ephemeral)
			}
		})
	}
	if errs := records(t, logs, "ERROR"); len(errs) > 0 {
		t.Errorf("errors logged: %v", errs)
	}
	if n := len(fake.Posts()) + len(fake.Ephemerals()); n != len(tests) {
		t.Errorf("%d messages sent; want %d", n, len(tests))
	}
	// The DMs are opened once per user, and remembered.
	if n := fake.Calls("conversations.open"); n != 3 {
		t.Errorf("conversations.open called %d times; want 3 (alice, bob, carol)", n)
	}
}

// TestReplyDestinationFailures: a destination that cannot be reached is
// logged at ERROR with the rule's name and the destination, counted, and
// does not stop the bot.
func TestReplyDestinationFailures(t *testing.T) {
	fake := routeFake(t)
	bot, logs := routeBot(t, fake, nil)
	ctx := testCtx(t)
	tests := []struct {
		name string
		set  func(*engine.Action)
		want string // in the logged error
	}{
		{"unknown channel", func(a *engine.Action) { a.To = "#nope" }, `no channel has the name "nope"`},
		{"archived channel", func(a *engine.Action) { a.To = "#old" }, `no channel has the name "old"`},
		{"channel the bot is not in", func(a *engine.Action) { a.To = "#lounge" }, "not_in_channel"},
		{"unknown user", func(a *engine.Action) { a.To = "@nobody" }, `no user has the username or display name "nobody"`},
		{"deleted user", func(a *engine.Action) { a.To = "@gone" }, `no user has the username or display name "gone"`},
		{"shared display name", func(a *engine.Action) { a.To = "@alex" }, `2 users have the display name "alex"`},
		{"to neither # nor @", func(a *engine.Action) { a.To = "ops" }, `to "ops" is neither #NAME nor @NAME`},
		{"dm with an unknown user", func(a *engine.Action) { a.DMUser = "UGHOST" }, "user_not_found"},
		{"to the bot itself", func(a *engine.Action) { a.To = "@rulebot" }, "the bot itself (UBOT)"},
		{"dm with the bot itself", func(a *engine.Action) { a.DMUser = "UBOT" }, "the bot itself (UBOT)"},
		{"ephemeral to a user not in the channel", func(a *engine.Action) { a.Ephemeral = "UCAROL" }, "user_not_in_channel"},
		{"ephemeral and to", func(a *engine.Action) { a.Ephemeral = "UALICE"; a.To = "#ops" }, "more than one destination"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := reply(fmt.Sprintf("rule%d", i), tt.set)
			performNow(ctx, bot, a)
			errs := records(t, logs, "ERROR")
			if len(errs) != i+1 {
				t.Fatalf("%d errors logged; want %d", len(errs), i+1)
			}
			r := errs[i]
			dest := a.To
			if a.DMUser != "" {
				dest = "dm"
			}
			if r["rule"] != a.Rule || (dest != "" && r["to"] != dest) || !strings.Contains(fmt.Sprint(r["error"]), tt.want) {
				t.Errorf("logged %v; want rule %q, to %q, error containing %q", r, a.Rule, dest, tt.want)
			}
		})
	}
	if n := bot.Stats().GivenUp.Load(); n != int64(len(tests)) {
		t.Errorf("GivenUp = %d; want %d", n, len(tests))
	}
	if n := len(fake.Posts()) + len(fake.Ephemerals()); n != 0 {
		t.Errorf("%d messages sent; want none", n)
	}
	// The bot goes on.
	performNow(ctx, bot, reply("after", func(a *engine.Action) { a.To = "#ops" }))
	if p, err := fake.WaitPost(ctx); err != nil || p.Channel != "COPS" {
		t.Errorf("post after the failures: %+v, %v", p, err)
	}
}

// TestReplyPacedPerDestination: pacing counts a reply sent elsewhere
// against the channel it is posted in, not the message's.
func TestReplyPacedPerDestination(t *testing.T) {
	fake := routeFake(t)
	bot, _ := routeBot(t, fake, func(c *Config) { c.PostInterval, c.PostBurst = time.Hour, 1 })
	ctx := testCtx(t)
	performNow(ctx, bot, reply("first", func(a *engine.Action) {}))
	// A second post to CGENERAL would wait an hour: this one goes to #ops.
	short, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	performNow(short, bot, reply("elsewhere", func(a *engine.Action) { a.To = "#ops" }))
	posts := fake.Posts()
	if len(posts) != 2 || posts[1].Channel != "COPS" {
		t.Errorf("posts = %+v; want the #ops reply posted at once", posts)
	}
}

// TestReplyRateLimitedWhileResolving: a 429 while listing or opening a DM
// is waited out, as for posts.
func TestReplyRateLimitedWhileResolving(t *testing.T) {
	fake := routeFake(t)
	bot, logs := routeBot(t, fake, nil)
	ctx := testCtx(t)
	fake.RateLimitNext("users.list", 1, 0)
	fake.RateLimitNext("conversations.open", 1, 0)
	performNow(ctx, bot, reply("patient", func(a *engine.Action) { a.To = "@alice" }))
	if p, err := fake.WaitPost(ctx); err != nil || p.Channel != fake.DM("UALICE") {
		t.Fatalf("post %+v, %v; want in alice's DM", p, err)
	}
	if u, o := fake.Calls("users.list"), fake.Calls("conversations.open"); u != 2 || o != 2 {
		t.Errorf("users.list called %d times, conversations.open %d; want 2 each (429, then success)", u, o)
	}
	if errs := records(t, logs, "ERROR"); len(errs) > 0 {
		t.Errorf("errors logged: %v", errs)
	}
}

// TestResolveLargeWorkspace: in a workspace of 50,000 users, a name is
// found by listing only the pages up to it, then from the cache; a name
// nobody has costs one full listing per dirMissTTL, however often asked.
func TestResolveLargeWorkspace(t *testing.T) {
	const n = 50000
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	users := make([]slackfake.User, n)
	for i := range users {
		users[i] = slackfake.User{ID: fmt.Sprintf("U%06d", i), Name: fmt.Sprintf("user%06d", i), DisplayName: fmt.Sprintf("Person %06d", i)}
	}
	fake.AddUsers(users...)
	bot, _ := routeBot(t, fake, nil)
	ctx := testCtx(t)
	clock := time.Now()
	dir := bot.routes.users
	dir.now = func() time.Time { return clock }
	retry := func(f func() error) error { return f() }

	// The pages listed to reach users[index]: the bot itself is listed first.
	pages := func(index int) int { return (index+1)/pageSize + 1 }
	full := pages(n - 1)
	tests := []struct {
		name  string
		after time.Duration // the clock advances this much first
		calls int           // users.list calls it may make
		want  string        // the id, or "" for unknown
	}{
		{"first lookup lists up to its page", 0, pages(30123), "U030123"},
		{"asked again: cached", 0, 0, "U030123"},
		{"a name on a page already listed: cached", 0, 0, "U025000"},
		{"a name further on lists from the start", 0, pages(40000), "U040000"},
		{"a name nobody has lists everything once", 0, full, ""},
		{"asked again: no listing", 0, 0, ""},
		{"another unknown name within the window: no listing", time.Minute, 0, ""},
		{"a display name, after the full listing: cached", 0, 0, "U049999"},
		{"after the window, an unknown name lists again", dirMissTTL, full, ""},
	}
	names := []string{"user030123", "USER030123", "user025000", "user040000", "nobody", "nobody", "typo", "person 049999", "nobody"}
	for i, tt := range tests {
		clock = clock.Add(tt.after)
		before := fake.Calls("users.list")
		id, err := dir.lookup(ctx, names[i], nil, retry)
		calls := fake.Calls("users.list") - before
		if id != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("%s: lookup(%q) = %q, %v; want %q", tt.name, names[i], id, err, tt.want)
		}
		if calls > tt.calls {
			t.Errorf("%s: %d users.list calls; want at most %d", tt.name, calls, tt.calls)
		}
	}
	t.Logf("users.list calls in all: %d (a full listing is %d pages)", fake.Calls("users.list"), full)
}

// TestResolveChannelsLazily: conversations.list is listed up to the page
// with the channel, and the listing is cached.
func TestResolveChannelsLazily(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	cs := make([]slackfake.Conversation, 5000)
	for i := range cs {
		cs[i] = slackfake.Conversation{ID: fmt.Sprintf("C%06d", i), Name: fmt.Sprintf("chan-%04d", i)}
	}
	fake.AddConversations(cs...)
	bot, _ := routeBot(t, fake, nil)
	ctx := testCtx(t)
	performNow(ctx, bot, reply("r", func(a *engine.Action) { a.To = "#chan-3210" }))
	performNow(ctx, bot, reply("r", func(a *engine.Action) { a.To = "#chan-3210" }))
	performNow(ctx, bot, reply("r", func(a *engine.Action) { a.To = "#chan-0001" }))
	posts := fake.Posts()
	if len(posts) != 3 || posts[0].Channel != "C003210" || posts[1].Channel != "C003210" || posts[2].Channel != "C000001" {
		t.Fatalf("posts = %+v", posts)
	}
	if got, want := fake.Calls("conversations.list"), 3210/pageSize+1; got != want {
		t.Errorf("conversations.list called %d times; want %d", got, want)
	}
}

// TestLookupWaitsWithoutItsSlot: a reply waiting for another reply's
// listing gives up its slot meanwhile, so a long listing (Slack pages
// users.list at about 20 calls a minute) never holds back other channels.
func TestLookupWaitsWithoutItsSlot(t *testing.T) {
	fake := routeFake(t)
	bot, _ := routeBot(t, fake, nil)
	ctx := testCtx(t)
	release := fake.Hold("users.list")
	defer release()
	sem := make(chan struct{}, 2) // MaxInFlight 2
	retry := func(f func() error) error { return f() }
	type result struct {
		id  string
		err error
	}
	lookup := func(name string) <-chan result {
		s := &slot{sem: sem}
		s.take()
		out := make(chan result, 1)
		go func() {
			defer s.free()
			id, err := bot.routes.users.lookup(ctx, name, s, retry)
			out <- result{id, err}
		}()
		return out
	}
	alice := lookup("alice")
	if err := fake.WaitCalls(ctx, "users.list", 1); err != nil {
		t.Fatal(err)
	}
	bob := lookup("bob") // waits for alice's listing
	select {
	case sem <- struct{}{}: // a third job gets a slot
		<-sem
	case <-time.After(20 * time.Second):
		t.Fatal("no slot free while a lookup waits for a listing: the waiting lookup holds its slot")
	}
	release()
	for name, c := range map[string]<-chan result{"alice": alice, "bob": bob} {
		if r := <-c; r.err != nil || r.id != map[string]string{"alice": "UALICE", "bob": "UBOB"}[name] {
			t.Errorf("lookup(%s) = %q, %v", name, r.id, r.err)
		}
	}
	if n := fake.Calls("users.list"); n != 1 {
		t.Errorf("users.list called %d times; want 1 (bob is on alice's page)", n)
	}
}

// TestChannelGoneIsLookedUpAgain: when Slack says a resolved channel is
// not found, the name is forgotten and the next reply lists again.
func TestChannelGoneIsLookedUpAgain(t *testing.T) {
	fake := routeFake(t)
	bot, logs := routeBot(t, fake, nil)
	ctx := testCtx(t)
	toOps := reply("ops", func(a *engine.Action) { a.To = "#ops" })
	performNow(ctx, bot, toOps)
	fake.FailNext("chat.postMessage", 1, "channel_not_found")
	performNow(ctx, bot, toOps) // cached, then refused
	if n := fake.Calls("conversations.list"); n != 1 {
		t.Errorf("conversations.list called %d times; want 1 (the second reply used the cache)", n)
	}
	performNow(ctx, bot, toOps)
	if n := fake.Calls("conversations.list"); n != 2 {
		t.Errorf("conversations.list called %d times; want 2 (listed again after channel_not_found)", n)
	}
	if posts := fake.Posts(); len(posts) != 2 || posts[1].Channel != "COPS" {
		t.Errorf("posts = %+v", posts)
	}
	if errs := records(t, logs, "ERROR"); len(errs) != 1 || errs[0]["to"] != "#ops" || errs[0]["method"] != "chat.postMessage" {
		t.Errorf("errors logged: %v; want the one refusal", errs)
	}
}
