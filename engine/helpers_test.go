package engine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// The ids the tests use, as the golden test runner does: the bot is UBOT,
// user NAME is UNAME, channel NAME is CNAME.
const (
	botUserID = "UBOT"
	botID     = "BBOT"
)

// epoch is the injected clock's starting time.
var epoch = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// msg returns a top-level message from alice in #general.
func msg(text string) engine.Message {
	return engine.Message{
		Text: text, UserID: "UALICE", UserName: "alice",
		ChannelID: "CGENERAL", ChannelName: "general", TS: "1700000000.000100",
	}
}

// at returns a message from alice in #general that starts by mentioning the bot.
func at(text string) engine.Message { return msg("<@" + botUserID + "> " + text) }

// dm returns a direct message from alice to the bot.
func dm(text string) engine.Message {
	m := msg(text)
	m.ChannelID, m.ChannelName, m.DM = "DALICE", "alice", true
	return m
}

// in returns m posted in channel name instead.
func in(channel string, m engine.Message) engine.Message {
	m.ChannelID, m.ChannelName = "C"+strings.ToUpper(channel), channel
	return m
}

// compile compiles src as testdata/rules.yaml and fails the test on error.
func compile(t testing.TB, src string) *engine.Rules {
	t.Helper()
	rs, err := engine.Compile("rules.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Compile:\n%v\nsource:\n%s", err, src)
	}
	return rs
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// options returns Options with the test ids, a fixed clock, an Intn that
// always picks the first element, and no environment.
func options() engine.Options {
	return engine.Options{
		BotUserID: botUserID,
		BotID:     botID,
		Now:       func() time.Time { return epoch },
		Intn:      func(int) int { return 0 },
		Getenv:    func(string) string { return "" },
	}
}

// show renders actions one per line, so that a test failure reads like a
// transcript: "RULE: TEXT" for a reply, "RULE: :EMOJI: on TS" for a
// reaction. Anything unusual is marked: a thread, a channel other than the
// message's, unfurl settings other than the default ones, a destination by
// name (to), a direct message (to: dm), an ephemeral reply.
func show(m engine.Message, acts []engine.Action) []string {
	var out []string
	for _, a := range acts {
		var s string
		switch a.Kind {
		case engine.Reply:
			s = a.Rule + ": " + a.Text
			if a.ThreadTS != "" {
				s += " [thread " + a.ThreadTS + "]"
			}
			if a.Unfurl != (engine.Unfurl{Links: false, Media: true}) {
				s += fmt.Sprintf(" [unfurl links=%t media=%t]", a.Unfurl.Links, a.Unfurl.Media)
			}
			if a.Emoji != "" || a.MessageTS != "" {
				s += " [react fields set]"
			}
			if a.To != "" {
				s += " [to " + a.To + "]"
			}
			if a.DMUser != "" {
				s += " [dm " + a.DMUser + "]"
			}
			if a.Ephemeral != "" {
				s += " [only " + a.Ephemeral + " sees]"
			}
		case engine.React:
			s = fmt.Sprintf("%s: :%s: on %s", a.Rule, a.Emoji, a.MessageTS)
			if a.Text != "" || a.ThreadTS != "" || a.To != "" || a.DMUser != "" || a.Ephemeral != "" {
				s += " [reply fields set]"
			}
		default:
			s = fmt.Sprintf("unknown action kind %d: %+v", a.Kind, a)
		}
		if a.Channel != m.ChannelID {
			s += " [channel " + a.Channel + "]"
		}
		out = append(out, s)
	}
	return out
}

// step is one message and the actions it should cause, as show prints them.
type step struct {
	m    engine.Message
	want []string
}

// run handles each step's message in turn and compares the actions.
func run(t *testing.T, e *engine.Engine, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := show(s.m, e.Handle(context.Background(), s.m))
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d: message %q (dm=%t, subtype=%q, user=%s, bot=%s):\ngot  %q\nwant %q",
				i, s.m.Text, s.m.DM, s.m.Subtype, s.m.UserID, s.m.BotID, got, s.want)
		}
	}
}

// A request is what a test server received.
type request struct {
	Method string
	URI    string // as sent on the request line
	Header http.Header
	Body   string
}

// server is an httptest server on loopback that records every request.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, request{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// reply returns a handler that answers with status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
