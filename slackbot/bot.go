// Package slackbot connects an engine to Slack. It receives messages over
// Socket Mode (every new Slack app) or RTM (classic apps), hands each to the
// engine, and performs the actions the engine returns through the Web API.
//
// The flow is one way: a transport event becomes an engine.Message, a
// per-channel queue keeps the order of messages in a channel while channels
// proceed in parallel, and the resulting actions become chat.postMessage and
// reactions.add calls.
package slackbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/pace"
)

// Transports.
const (
	Auto   = "auto"
	RTM    = "rtm"
	Socket = "socket"
)

// Config says how to reach Slack.
type Config struct {
	BotToken   string        // xoxb-…, required
	AppToken   string        // xapp-…, for Socket Mode
	APIURL     string        // the Web API base URL; default Slack's
	Transport  string        // Auto, RTM or Socket; default Auto
	Grace      time.Duration // how long replies in flight may take after the stop
	HTTPClient *http.Client  // for the Web API; default a client with a 30s timeout
	Logger     *slog.Logger

	// MaxInFlight bounds how many messages are handled at once; default 32.
	MaxInFlight int
	// PingInterval is how long Socket Mode waits for a ping from Slack
	// before it reconnects; default slack-go's 30s. Tests shorten it.
	PingInterval time.Duration

	// Posts to one channel are paced: PostBurst at once, then one per
	// PostInterval; defaults 3 and 1s, as Slack asks.
	PostInterval time.Duration
	PostBurst    int
	// RetryLimit is how long a call Slack answers 429 Too Many Requests is
	// retried (after each Retry-After) before it is given up; default 2m.
	RetryLimit time.Duration
	// MaxBacklog bounds the messages waiting per channel; past it the
	// oldest waiting message is dropped. Default 1,000.
	MaxBacklog int
}

// A FatalError is a problem that retrying will not fix, such as a rejected
// token. Its message names what to change.
type FatalError struct{ Msg string }

func (e *FatalError) Error() string { return e.Msg }

// A Bot is a connection to one Slack workspace.
type Bot struct {
	UserID string // the bot's user id (U…)
	BotID  string // the bot's bot id (B…)
	Name   string // the bot user's name in Slack
	Team   string

	cfg       Config
	transport string
	api       *slack.Client
	log       *slog.Logger
	names     *names
	seen      *dedupe
	pacer     *pace.Pacer // paces posts per channel
	stats     Stats
}

// Dial checks the tokens with auth.test and learns who the bot is. A
// missing or rejected token is a *FatalError.
func Dial(ctx context.Context, cfg Config) (*Bot, error) {
	if cfg.BotToken == "" {
		return nil, &FatalError{"SLACK_BOT_TOKEN is not set: give it the bot token (xoxb-…) from your Slack app's OAuth & Permissions page"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 32
	}
	transport := cfg.Transport
	switch transport {
	case "", Auto:
		transport = RTM
		if cfg.AppToken != "" {
			transport = Socket
		}
	case RTM, Socket:
	default:
		return nil, &FatalError{fmt.Sprintf("-transport %q: use auto, rtm or socket", cfg.Transport)}
	}
	if transport == Socket {
		if cfg.AppToken == "" {
			return nil, &FatalError{"Socket Mode needs SLACK_APP_TOKEN: an app-level token (xapp-…) with the connections:write scope, from your Slack app's Basic Information page"}
		}
		if !strings.HasPrefix(cfg.AppToken, "xapp-") {
			return nil, &FatalError{"SLACK_APP_TOKEN must be an app-level token starting with xapp- (from your Slack app's Basic Information page)"}
		}
	}
	opts := []slack.Option{slack.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		opts = append(opts, slack.OptionAPIURL(u))
	}
	if transport == Socket {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	api := slack.New(cfg.BotToken, opts...)
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return nil, authError("SLACK_BOT_TOKEN", err)
	}
	b := &Bot{
		UserID: auth.UserID, BotID: auth.BotID, Name: auth.User, Team: auth.Team,
		cfg: cfg, transport: transport, api: api, log: cfg.Logger,
		names: newNames(api, 4096, time.Hour), seen: newDedupe(8192),
		pacer: newPacer(cfg),
	}
	return b, nil
}

// authError explains a failed auth.test or connection for the variable that
// holds the token.
func authError(variable string, err error) error {
	msg := err.Error()
	switch msg {
	case "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired":
		return &FatalError{fmt.Sprintf("%s was rejected by Slack (%s): check the token, or reinstall the app to your workspace and copy the new one", variable, msg)}
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return fmt.Errorf("auth.test: %w", err)
	}
	return fmt.Errorf("cannot reach Slack to check %s: %w", variable, err)
}

// Transport returns the transport Run uses: RTM or Socket.
func (b *Bot) Transport() string { return b.transport }

// Run receives messages and answers them with eng until ctx ends, then
// stops taking events, lets replies in flight finish within the grace
// period and returns nil. It returns a *FatalError for problems a retry
// will not fix.
func (b *Bot) Run(ctx context.Context, eng *engine.Engine) error {
	// Work outlives ctx by the grace period, so replies in flight finish.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	d := b.newDispatcher(func(j job) { b.handle(work, eng, j) })

	var err error
	switch b.transport {
	case Socket:
		err = b.runSocket(ctx, d)
	default:
		err = b.runRTM(ctx, d)
	}

	drained := make(chan struct{})
	go func() { d.wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(b.cfg.Grace):
		b.log.Warn("grace period over: canceling replies still in flight", "grace", b.cfg.Grace.String())
		stopWork()
		<-drained
	}
	return err
}
