package slackbot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// waitLog waits until a log line contains every one of the strings.
func waitLog(t *testing.T, ctx context.Context, log *logBuffer, with ...string) string {
	t.Helper()
	for {
		if lines := log.lines(with...); len(lines) > 0 {
			return lines[0]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no log line with %q:\n%s", with, log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestPostsArePacedPerChannel: 20 replies to one channel go out as a burst
// of 3 and then one per PostInterval, while a reply in another channel does
// not wait behind them.
func TestPostsArePacedPerChannel(t *testing.T) {
	t.Parallel()
	const interval = 200 * time.Millisecond
	fake := newFake(t)
	h := startWith(t, fake, Socket, testRules, func(c *Config) { c.PostInterval = interval })
	start := time.Now()
	for i := range 20 {
		h.send(fmt.Sprint("<@UBOT> echo ", i))
	}
	h.say(slackfake.Message{Channel: "CRANDOM", Text: "<@UBOT> echo other"})
	var general []slackfake.Post
	otherAt := -1 // how many #general posts came before #random's
	for range 21 {
		p := h.post()
		if p.Channel == "CRANDOM" {
			otherAt = len(general)
			continue
		}
		general = append(general, p)
	}
	for i, p := range general {
		if p.Text != fmt.Sprint(i) {
			t.Fatalf("post %d = %q: order lost", i, p.Text)
		}
		// The 4th post and later come one interval apart at least.
		if min := time.Duration(i-2) * interval; i >= 3 && p.Time.Sub(start) < min {
			t.Errorf("post %d went out %v after the first message, want at least %v", i, p.Time.Sub(start).Round(time.Millisecond), min)
		}
	}
	// The 10th #general post waits 1.4s at least; #random's reply does not wait for it.
	if otherAt < 0 || otherAt >= 10 {
		t.Errorf("#random's reply came after %d of #general's; want it not held back by their pacing", otherAt)
	}
}

// TestRateLimitStorm: a reply Slack answers 429 (Retry-After: 1) seven
// times is posted at the eighth try, after waiting as told.
func TestRateLimitStorm(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	h := start(t, fake, Socket, testRules)
	fake.RateLimitNext("chat.postMessage", 7, time.Second)
	start := time.Now()
	h.send("<@UBOT> echo patient")
	ctx, cancel := context.WithTimeout(h.ctx, 18*time.Second)
	defer cancel()
	p, err := fake.WaitPost(ctx)
	if err != nil {
		t.Fatalf("the reply was not posted: %v", err)
	}
	if p.Text != "patient" {
		t.Errorf("post %q", p.Text)
	}
	if n := fake.Calls("chat.postMessage"); n != 8 {
		t.Errorf("chat.postMessage called %d times, want 8 (7 × 429, then success)", n)
	}
	if d := p.Time.Sub(start); d < 7*time.Second {
		t.Errorf("posted after %v: Retry-After was not waited for", d)
	}
}

// TestRateLimitGivenUp: a reply still rate limited after RetryLimit is
// given up with an ERROR line that names the rule and channel.
func TestRateLimitGivenUp(t *testing.T) {
	t.Parallel()
	const limit = time.Second
	var log logBuffer
	fake := newFake(t)
	h := startWith(t, fake, Socket, testRules, func(c *Config) {
		c.RetryLimit = limit
		c.Logger = log.logger()
	})
	fake.RateLimitNext("chat.postMessage", 1000, 0)
	start := time.Now()
	h.send("<@UBOT> echo lost")
	line := waitLog(t, h.ctx, &log, "reply given up")
	elapsed := time.Since(start)
	for _, want := range []string{"level=ERROR", "rule=echo", "channel=CGENERAL", "method=chat.postMessage", "rate limited for longer than 1s"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	// Retried until the limit was near: the last wait would have passed it.
	if elapsed < limit-minRetryWait {
		t.Errorf("given up after %v, want retries for about %v", elapsed, limit)
	}
	if n := h.bot.Stats().GivenUp.Load(); n != 1 {
		t.Errorf("Stats().GivenUp = %d, want 1", n)
	}
	if n := len(fake.Posts()); n != 0 {
		t.Errorf("%d posts", n)
	}
}

// TestWaitingFreesTheSlot: with one message in flight at most, a reply
// waiting out a 429 or its pacing turn in one channel does not hold back
// another channel.
func TestWaitingFreesTheSlot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		configure func(*Config)
		// setUp readies the wait; waiting returns once #general's reply "waits" is waiting.
		setUp, waiting func(t *testing.T, h *harness, log *logBuffer)
	}{
		{"429", func(*Config) {},
			func(t *testing.T, h *harness, _ *logBuffer) {
				h.fake.RateLimitNext("chat.postMessage", 1, 3*time.Second)
			},
			func(t *testing.T, h *harness, _ *logBuffer) {
				if err := h.fake.WaitCalls(h.ctx, "chat.postMessage", 1); err != nil {
					t.Fatal(err)
				}
			}},
		{"pacing", func(c *Config) { c.PostInterval, c.PostBurst = 3*time.Second, 1 },
			func(t *testing.T, h *harness, _ *logBuffer) {
				h.send("<@UBOT> echo takes the turn")
				h.post()
			},
			func(t *testing.T, h *harness, log *logBuffer) {
				waitLog(t, h.ctx, log, "pacing posts to the channel", "channel=CGENERAL")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log logBuffer
			fake := newFake(t)
			h := startWith(t, fake, Socket, testRules, func(c *Config) {
				c.MaxInFlight = 1
				c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
				tt.configure(c)
			})
			tt.setUp(t, h, &log)
			h.send("<@UBOT> echo waits")
			tt.waiting(t, h, &log)
			h.say(slackfake.Message{Channel: "CRANDOM", Text: "<@UBOT> echo goes first"})
			if p := h.post(); p.Text != "goes first" {
				t.Errorf("first post %q: the wait held the only slot", p.Text)
			}
			if p := h.post(); p.Text != "waits" {
				t.Errorf("second post %q", p.Text)
			}
		})
	}
}

// panicOn is a RoundTripper that panics on Web API calls of one method, as
// a bug would, and passes the others to the default transport.
type panicOn string

func (m panicOn) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/"+string(m)) {
		panic("bug in " + string(m))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestPanicIsRecovered: a panic while performing one message's action is
// logged with the rule and channel, and the next message is answered.
func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	var log logBuffer
	fake := newFake(t)
	h := startWith(t, fake, Socket, testRules, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: panicOn("reactions.add"), Timeout: 10 * time.Second}
		c.Logger = log.logger()
	})
	h.send("nice")
	h.send("<@UBOT> echo still here")
	if p := h.post(); p.Text != "still here" {
		t.Errorf("post %q", p.Text)
	}
	line := waitLog(t, h.ctx, &log, "panic")
	for _, want := range []string{"level=ERROR", "rule=thumbs", "channel=CGENERAL", "bug in reactions.add"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	if n := h.bot.Stats().Panics.Load(); n != 1 {
		t.Errorf("Stats().Panics = %d, want 1", n)
	}
}
