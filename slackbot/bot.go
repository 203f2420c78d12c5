// Package slackbot connects an engine to Slack. It receives messages over
// Socket Mode (every new Slack app) or RTM (classic apps), hands each to the
// engine, and performs the actions the engine returns through the Web API.
//
// The flow is one way: a transport event becomes an engine.Message, a
// per-channel queue keeps the order of messages in a channel while channels
// proceed in parallel, and the resulting actions become chat.postMessage,
// chat.postEphemeral and reactions.add calls. A reply sent elsewhere than
// the message's channel is routed by name (conversations.list, users.list,
// looked up lazily and cached) or to a direct message (conversations.open).
package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	// Claim, when set, is the duplicate detection replicas share (SPEC
	// §9), such as memory.Store's Claim on Redis: a message is handled only
	// by the replica that first claims it, so a Socket Mode redelivery or
	// the message/app_mention twin reaching another replica is answered
	// once. It reports whether key was unclaimed, and holds it for ttl.
	// Unset, duplicates are detected within this process only.
	Claim func(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// Observer, when set, is told of messages, replies and the state of
	// the connection, for metrics and health.
	Observer *Observer
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
	routes    *routes // where replies sent elsewhere go
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
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = slack.APIURL
	}
	auth, err := authTest(ctx, cfg.HTTPClient, strings.TrimSuffix(apiURL, "/")+"/auth.test", cfg.BotToken)
	if err != nil {
		return nil, err
	}
	b := &Bot{
		UserID: auth.UserID, BotID: auth.BotID, Name: auth.User, Team: auth.Team,
		cfg: cfg, transport: transport, api: api, log: cfg.Logger,
		names: newNames(api, 4096, time.Hour), routes: newRoutes(api), seen: newDedupe(8192),
		pacer: newPacer(cfg),
	}
	return b, nil
}

// authAnswer is Slack's answer to auth.test.
type authAnswer struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	UserID string `json:"user_id"`
	BotID  string `json:"bot_id"`
	User   string `json:"user"`
	Team   string `json:"team"`
}

// authTest asks Slack who the bot token belongs to. It is stricter than
// slack-go, which takes {"ok": false} without an error, and an answer
// without a user id, for success: the bot must never start without knowing
// its own id, or it would answer itself. An answer without "ok": true and a
// user id is a *FatalError; failing to get an answer is not.
func authTest(ctx context.Context, client *http.Client, url, token string) (*authAnswer, error) {
	const variable = "SLACK_BOT_TOKEN"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, &FatalError{fmt.Sprintf("SLACK_API_URL: %v", err)}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Slack to check %s: %w", variable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot check %s: Slack answered auth.test with HTTP %s", variable, resp.Status)
	}
	var a authAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return nil, &FatalError{fmt.Sprintf("cannot check %s: the answer to auth.test is not Slack's JSON (is SLACK_API_URL Slack's Web API?)", variable)}
	}
	switch {
	case !a.OK && a.Error != "":
		err := authError(variable, errors.New(a.Error))
		if fe := (*FatalError)(nil); errors.As(err, &fe) {
			return nil, err
		}
		return nil, &FatalError{fmt.Sprintf("Slack refused auth.test for %s (%s)", variable, a.Error)}
	case !a.OK:
		return nil, &FatalError{fmt.Sprintf(`cannot check %s: Slack answered auth.test without "ok": true and without an error (is SLACK_API_URL Slack's Web API?)`, variable)}
	case a.UserID == "":
		return nil, &FatalError{fmt.Sprintf("Slack's answer to auth.test for %s has no user_id, so the bot cannot know its own id: use the bot token (xoxb-…) of a Slack app with a bot user", variable)}
	case !isSlackID(a.UserID):
		return nil, &FatalError{fmt.Sprintf("Slack's answer to auth.test for %s has a user_id that is not a Slack id (%q)", variable, a.UserID)}
	}
	return &a, nil
}

// isSlackID reports whether s looks like a Slack id: upper-case letters and
// digits, as U123ABC.
func isSlackID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
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

// abandonAfter is how long Run waits, once the grace period is over and the
// replies still in flight are canceled, for replies that ignore their
// cancellation (a costly expression cannot be interrupted) before it
// abandons them and returns.
const abandonAfter = time.Second

// Run receives messages and answers them with eng until ctx ends, then
// stops taking events, lets replies in flight finish within the grace
// period (counted from the end of ctx) and returns nil. Replies still
// running when the grace period is over are canceled, and abandoned a
// second later if they ignore it. It returns a *FatalError for problems a
// retry will not fix.
func (b *Bot) Run(ctx context.Context, eng *engine.Engine) error {
	// Work outlives ctx by the grace period, so replies in flight finish.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	d := b.newDispatcher(func(j job) { b.handle(work, eng, j) })

	// The grace period starts when ctx ends (or the transport fails),
	// however long the transport then takes to close.
	stopped, stop := context.WithCancel(ctx)
	defer stop()
	graceOver := make(chan struct{})
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-stopped.Done():
		case <-finished:
			return
		}
		t := time.NewTimer(b.cfg.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			close(graceOver)
		case <-finished:
		}
	}()

	var err error
	switch b.transport {
	case Socket:
		err = b.runSocket(ctx, d)
	default:
		err = b.runRTM(ctx, d)
	}
	stop()

	drained := make(chan struct{})
	go func() { d.wait(); close(drained) }()
	select {
	case <-drained:
		return err
	case <-graceOver:
	}
	stopWork()
	b.log.Warn("grace period over: canceling replies still in flight", "grace", b.cfg.Grace.String(),
		"dropped_waiting", d.dropWaiting())
	select {
	case <-drained:
	case <-time.After(abandonAfter):
		b.log.Error("replies still running after the grace period ignore their cancellation: abandoning them", "grace", b.cfg.Grace.String())
	}
	return err
}
