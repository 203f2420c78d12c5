// Package slackfake is a fake Slack for hermetic tests.
//
// A [Server] listens on loopback and speaks Slack's real wire protocols, so
// that unmodified slack-go clients (github.com/slack-go/slack and its
// socketmode package) can be pointed at it:
//
//   - the Web API under [Server.APIURL] (auth.test, users.info, users.list,
//     conversations.info, conversations.list, conversations.open,
//     chat.postMessage, chat.postEphemeral, reactions.add, rtm.connect and
//     apps.connections.open), taking form-encoded, query or JSON parameters
//     and the token as a "token" parameter or an "Authorization: Bearer"
//     header, and answering Slack's JSON shapes and Slack's errors: a post
//     to a channel that does not exist answers channel_not_found, to one
//     the bot has not joined not_in_channel (see [Server.AddConversations]),
//     a text over 40,000 characters msg_too_long, a reaction to a message
//     the model does not have message_not_found, a token of the wrong kind
//     not_allowed_token_type. Every answer, success or error, has what
//     Slack's published schema of the method requires, and only the errors
//     [Server.Errors] lists (TestWebConformance checks both against the
//     spec, testdata/spec/web);
//   - the RTM websocket handed out by rtm.connect, which greets with
//     {"type":"hello"} and answers the client's pings with pongs;
//   - the Socket Mode websockets handed out by apps.connections.open, which
//     greet with Slack's hello message, send websocket ping frames the way
//     Slack does, deliver events_api envelopes and record the acks.
//
// Socket Mode behaves as Slack does with several connections (several
// replicas of a bot): up to [MaxSocketConnections] may be open at once, and
// one more is told {"type":"disconnect","reason":"too_many_websockets"} and
// closed; each envelope goes to exactly one open connection, in turn
// (round-robin); an envelope not acknowledged within the ack timeout (3s,
// see [WithAckTimeout]), or whose connection drops before it is
// acknowledged, is redelivered to another open connection (the same one if
// it is the only one) with retry_attempt raised and retry_reason
// "http_timeout", up to Slack's three retries (see [WithRetryDelays]).
// [Server.Deliveries] and [Server.Acks] say which connection got and acked
// what.
//
// The fake keeps a model of the workspace: users ([Server.AddUsers]; the
// bot is one, a bot user, and a test may add others), other apps' bots
// ([Server.AddBots]), channels with their members and whether the bot is
// in them ([Server.AddConversations], [Server.AddChannel], [Server.Join]),
// the bot's direct messages ([Server.AddDM], or opened by
// conversations.open, see [Server.DM]) and multi-person DMs, and the
// messages in each that reactions.add finds (sent as events, posted by the
// bot, or [Server.AddMessage]). Tests say who posts what where
// ([Server.Say] over Socket Mode, [Server.SayRTM] over RTM) and the fake
// builds the event as Slack does: event_ts, channel_type, team,
// client_msg_id, blocks, thread_ts and parent_user_id, bot_id and app_id
// for apps' posts, and the app_mention twin of a message that mentions the
// bot outside a DM. A message Slack would never deliver (an unknown author
// or conversation, an author not in it, a conversation the bot is not in,
// an unknown thread) is an error wrapping [ErrUndeliverable].
// [Server.SendEvent] and [Server.SendRTM] send a test's own event for what
// Say cannot build (edits, deletions, joins, redeliveries by hand), adding
// only the fields Slack always sends that it lacks; a message event they
// send from a channel the fake does not know adds that channel, with the
// bot and the author in it. Ephemeral messages are recorded apart from
// posts ([Server.WaitEphemeral]).
//
// Tests configure the fake (tokens, users, channels, injected failures),
// push events to the bot, and then wait, always bounded by a context, for
// what the bot did (posts, reactions, acks, connections):
//
//	srv := slackfake.New()
//	t.Cleanup(srv.Close)
//	srv.AddUser("UALICE", "alice")
//	srv.AddConversations(slackfake.Conversation{ID: "CGENERAL", Name: "general", Members: []string{"UALICE"}})
//	api := slack.New(slackfake.DefaultBotToken,
//		slack.OptionAPIURL(srv.APIURL()),
//		slack.OptionAppLevelToken(slackfake.DefaultAppToken))
//	// ... start the bot (socketmode.New(api)) ...
//	sent, err := srv.Say(ctx, slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "<@UBOT> hi"})
//	// ...
//	err = srv.WaitAck(ctx, sent.EnvelopeID) // and sent.MentionEnvelopeID, its app_mention twin
//	post, err := srv.WaitPost(ctx)          // what the bot answered
//
// All methods of a Server are safe for concurrent use. Close closes every
// websocket and the HTTP server and waits for every goroutine of the fake to
// end.
package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Tokens that every new Server accepts. Use [Server.SetToken] to add others or
// to revoke these.
const (
	// DefaultBotToken is a modern (granular) bot token: it may call the Web
	// API but not rtm.connect.
	DefaultBotToken = "xoxb-slackfake-bot"
	// DefaultClassicBotToken is a classic bot token: it may also call rtm.connect.
	DefaultClassicBotToken = "xoxb-slackfake-classic"
	// DefaultAppToken is an app-level token: it may only call apps.connections.open.
	DefaultAppToken = "xapp-1-slackfake-app"
)

// ErrClosed is returned by the waiting and sending methods once the Server is closed.
var ErrClosed = errors.New("slackfake: server closed")

// TokenKind says what a token may do.
type TokenKind int

const (
	// TokenBot is a modern bot token: rtm.connect answers not_allowed_token_type.
	TokenBot TokenKind = iota + 1
	// TokenClassicBot is a classic bot token, allowed to use rtm.connect.
	TokenClassicBot
	// TokenApp is an app-level (xapp-) token: apps.connections.open only; other
	// methods answer not_allowed_token_type.
	TokenApp
	// TokenRevoked answers token_revoked to every method.
	TokenRevoked
)

// ConnKind is the kind of a websocket connection.
type ConnKind int

const (
	// RTM is a Real Time Messaging connection, opened after rtm.connect.
	RTM ConnKind = iota + 1
	// SocketMode is a Socket Mode connection, opened after apps.connections.open.
	SocketMode
)

func (k ConnKind) String() string {
	switch k {
	case RTM:
		return "RTM"
	case SocketMode:
		return "Socket Mode"
	}
	return fmt.Sprintf("ConnKind(%d)", int(k))
}

// Post is one successful chat.postMessage call.
type Post struct {
	Channel  string
	Text     string
	ThreadTS string
	// UnfurlLinks and UnfurlMedia are nil when the parameter was not sent
	// (or was not a boolean; Form has it as sent).
	UnfurlLinks *bool
	UnfurlMedia *bool
	// Token is the token the call was made with.
	Token string
	// TS is the message timestamp the fake answered with.
	TS string
	// Form holds every parameter as received, including the token.
	Form url.Values
	// Time is when the call was received.
	Time time.Time
}

// Reaction is one successful reactions.add call.
type Reaction struct {
	Channel   string
	Timestamp string
	Name      string
}

// Ack is one Socket Mode acknowledgement written by the client.
type Ack struct {
	EnvelopeID string
	// Conn is the Socket Mode connection the ack came on, numbered from 1
	// in the order the connections were established (as Delivery.Conn).
	Conn int
	// Payload is the ack's response payload, if any.
	Payload json.RawMessage
	Time    time.Time
}

// Option configures a Server.
type Option func(*config)

type config struct {
	userID, botID, userName string
	teamID, teamName        string
	appID                   string
	pingInterval            time.Duration
	ackTimeout              time.Duration
	retryDelays             []time.Duration
}

// WithBotUser sets the identity of the bot, as answered by auth.test and
// rtm.connect: its user ID (default "UBOT"), bot ID (default "BBOT") and user
// name (default "rulebot"). The bot is a user of the model: users.info
// answers it as a bot user (is_bot, profile.bot_id).
func WithBotUser(userID, botID, name string) Option {
	return func(c *config) { c.userID, c.botID, c.userName = userID, botID, name }
}

// WithTeam sets the workspace's ID and name (both default to "T1").
func WithTeam(id, name string) Option {
	return func(c *config) { c.teamID, c.teamName = id, name }
}

// WithAppID sets the app ID sent in Socket Mode messages (default "A1").
func WithAppID(id string) Option {
	return func(c *config) { c.appID = id }
}

// WithSocketPingInterval sets how often websocket ping frames are sent on
// Socket Mode connections (default 1s). slack-go's socketmode client takes a
// connection that went its own ping interval (socketmode.OptionPingInterval,
// default 30s) without a ping for dead, and reconnects; so d must be shorter,
// or <= 0, which disables pings to exercise exactly that.
func WithSocketPingInterval(d time.Duration) Option {
	return func(c *config) { c.pingInterval = d }
}

// WithAckTimeout sets how long a Socket Mode envelope may wait for its
// ack before the fake takes it as lost and redelivers it (default 3s, as
// Slack). Tests shorten it; a long one keeps a slow client from seeing
// redeliveries.
func WithAckTimeout(d time.Duration) Option {
	return func(c *config) { c.ackTimeout = d }
}

// WithRetryDelays sets Slack's retries of an envelope that was not acked
// in time: one retry per delay, each sent that long after the previous
// delivery was taken as lost. The default is Slack's three retries, nearly
// immediately, after a minute and after five minutes (0, 1m, 5m); no
// delays turns redelivery off.
func WithRetryDelays(delays ...time.Duration) Option {
	return func(c *config) { c.retryDelays = slices.Clone(delays) }
}

// Server is a fake Slack. Create it with [New]; the zero value is not usable.
type Server struct {
	cfg      config
	ts       *httptest.Server
	upgrader websocket.Upgrader
	tsBase   int64 // Unix seconds of the first message timestamp
	// wg counts the websocket goroutines: their connections are hijacked, so
	// httptest.Server.Close does not wait for them.
	wg sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever the state below changes
	closed  bool
	done    chan struct{} // closed by Close: releases held calls

	api map[string]route // the Web API methods served (see routes)

	holds map[string]chan struct{} // Web API method → closed on release

	tokens    map[string]TokenKind
	users     map[string]User     // ID → user
	userOrder []string            // user IDs in the order users.list lists them
	userPos   map[string]int      // ID → index in userOrder
	channels  map[string]*channel // ID → channel
	chanOrder []string            // channel IDs in the order conversations.list lists them
	chanPos   map[string]int      // ID → index in chanOrder
	dms       map[string]string   // user ID → the bot's DM with them
	ev        eventModel          // bots and messages, for events (events.go)
	mpims     map[string]string   // sorted member IDs, comma-separated → multi-person DM
	calls     map[string]int      // Web API method → calls
	failures  map[string][]failure

	tsSeq int64
	idSeq int

	posts         []Post
	postsSeen     int
	reactions     []Reaction
	reactionsSeen int
	ephemerals    []Ephemeral
	ephemSeen     int

	pending   map[string]ConnKind // websocket IDs handed out and not yet used
	conns     []*wsConn           // live websockets, oldest first
	connCount map[ConnKind]int    // websockets ever established
	opening   int                 // Socket Mode connections admitted and not yet live
	refused   int                 // Socket Mode connections refused as too many

	turn        int                  // round-robin position among live Socket Mode connections
	deliveries  []Delivery           // every envelope written, in order
	byEnvelope  map[string][]int     // envelope ID → its indexes in deliveries
	outstanding map[string]*envelope // envelope ID → envelope whose latest delivery is not acked
	acks        []Ack
	loseAcks    int // acks still to lose (LoseAcks)
}

// New starts a fake Slack on a loopback address. Call Close when done.
func New(opts ...Option) *Server {
	cfg := config{
		userID: "UBOT", botID: "BBOT", userName: "rulebot",
		teamID: "T1", teamName: "T1",
		appID:        "A1",
		pingInterval: time.Second,
		ackTimeout:   3 * time.Second,
		retryDelays:  []time.Duration{0, time.Minute, 5 * time.Minute},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Server{
		cfg: cfg,
		// Slack's clients send "Origin: https://api.slack.com", which the
		// default origin check would refuse.
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
		holds:    make(map[string]chan struct{}),
		tokens: map[string]TokenKind{
			DefaultBotToken:        TokenBot,
			DefaultClassicBotToken: TokenClassicBot,
			DefaultAppToken:        TokenApp,
		},
		users:       make(map[string]User),
		userPos:     make(map[string]int),
		channels:    make(map[string]*channel),
		chanPos:     make(map[string]int),
		dms:         make(map[string]string),
		mpims:       make(map[string]string),
		calls:       make(map[string]int),
		failures:    make(map[string][]failure),
		tsBase:      time.Now().Unix(),
		pending:     make(map[string]ConnKind),
		connCount:   make(map[ConnKind]int),
		byEnvelope:  make(map[string][]int),
		outstanding: make(map[string]*envelope),
	}
	s.api = s.routes()
	// The bot is a user of the workspace, as Slack's users.info says.
	s.AddUsers(User{ID: cfg.userID, Name: cfg.userName, IsBot: true, BotID: cfg.botID, AppID: cfg.appID})
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("GET /rtm/{id}", s.serveWebsocket(RTM))
	mux.HandleFunc("GET /socket/{id}", s.serveWebsocket(SocketMode))
	s.ts = httptest.NewServer(mux)
	s.wg.Go(s.redeliverLost)
	return s
}

// APIURL returns the Web API's base URL, ending in "/api/", for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.ts.URL + "/api/" }

// Close closes every websocket and the HTTP server, and waits for all the
// fake's goroutines to end. Waiting methods then return ErrClosed. Close may
// be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.DropConnections()
	s.ts.Close()
	s.wg.Wait()
}

// SetToken makes the Web API accept token as the given kind (or, for
// TokenRevoked, answer token_revoked to it).
func (s *Server) SetToken(token string, kind TokenKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = kind
}

// Calls returns how many times the Web API method (e.g. "users.info") has
// been called, whatever the answer.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// WaitCalls waits until the Web API method has been called n times in
// total, whatever the answers.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) error {
	return s.waitFor(ctx, fmt.Sprintf("%d %s call(s)", n, method), func() bool {
		return s.calls[method] >= n
	})
}

// FailNext makes the next n calls of the Web API method that pass
// authentication answer {"ok":false,"error":code}, e.g. "channel_not_found".
// Failures queue up with those of RateLimitNext, in order.
func (s *Server) FailNext(method string, n int, code string) {
	s.addFailures(method, n, failure{code: code})
}

// RateLimitNext makes the next n calls of the Web API method that pass
// authentication answer HTTP 429 Too Many Requests with a "Retry-After"
// header of retryAfter, rounded up to whole seconds, and Slack's body
// {"ok":false,"error":"ratelimited"}. Failures queue up with those of
// FailNext, in order.
func (s *Server) RateLimitNext(method string, n int, retryAfter time.Duration) {
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	s.addFailures(method, n, failure{rateLimited: true, retryAfter: max(secs, 0)})
}

// AnswerNext makes the next n calls of the Web API method that pass
// authentication answer body, a JSON text, with HTTP 200, e.g. `{"ok":true}`
// for an auth.test that does not say who the token belongs to. Answers queue
// up with those of FailNext and RateLimitNext, in order.
func (s *Server) AnswerNext(method string, n int, body string) {
	s.addFailures(method, n, failure{body: body})
}

// Hold makes every call of the Web API method wait, once counted by Calls,
// until release is called (or the client gives up, or the Server closes).
// release may be called more than once.
func (s *Server) Hold(method string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.holds[method] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[method] == ch {
				delete(s.holds, method)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

func (s *Server) addFailures(method string, n int, f failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[method] = append(s.failures[method], f)
	}
}

// Posts returns every successful chat.postMessage call so far, in order.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.posts)
	for i := range out {
		out[i].Form = cloneValues(out[i].Form)
	}
	return out
}

// WaitPost returns the oldest post that no earlier WaitPost returned,
// waiting for it if needed.
func (s *Server) WaitPost(ctx context.Context) (Post, error) {
	var p Post
	err := s.waitFor(ctx, "a post", func() bool {
		if s.postsSeen == len(s.posts) {
			return false
		}
		p = s.posts[s.postsSeen]
		p.Form = cloneValues(p.Form)
		s.postsSeen++
		return true
	})
	return p, err
}

// Reactions returns every successful reactions.add call so far, in order.
func (s *Server) Reactions() []Reaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reactions)
}

// WaitReaction returns the oldest reaction that no earlier WaitReaction
// returned, waiting for it if needed.
func (s *Server) WaitReaction(ctx context.Context) (Reaction, error) {
	var r Reaction
	err := s.waitFor(ctx, "a reaction", func() bool {
		if s.reactionsSeen == len(s.reactions) {
			return false
		}
		r = s.reactions[s.reactionsSeen]
		s.reactionsSeen++
		return true
	})
	return r, err
}

// Connections returns how many websocket connections of the kind have been
// established so far, live or not.
func (s *Server) Connections(kind ConnKind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connCount[kind]
}

// WaitConnections waits until n websocket connections of the kind have been
// established in total (so after the first connection, n=2 waits for a
// reconnection). When it returns nil, the nth connection is live and
// accepts events, which it gets after its hello message.
func (s *Server) WaitConnections(ctx context.Context, kind ConnKind, n int) error {
	return s.waitFor(ctx, fmt.Sprintf("%d %s connection(s)", n, kind), func() bool {
		return s.connCount[kind] >= n
	})
}

// DropConnections abruptly closes every live websocket, without a close
// frame, as a network failure would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	for _, c := range conns {
		c.gone = true
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
}

// notifyLocked wakes every waitFor. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor calls cond with s.mu held until it reports true, the context ends
// or the server is closed. what describes the awaited thing in errors.
func (s *Server) waitFor(ctx context.Context, what string, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		closed, changed := s.closed, s.changed
		s.mu.Unlock()
		if closed {
			return fmt.Errorf("waiting for %s: %w", what, ErrClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("slackfake: waiting for %s: %w", what, context.Cause(ctx))
		}
	}
}

// newIDLocked returns a fresh identifier with the prefix. s.mu must be held.
func (s *Server) newIDLocked(prefix string) string {
	s.idSeq++
	return fmt.Sprintf("%s%08d", prefix, s.idSeq) // Slack's IDs have 8 or more characters after the prefix
}

// newTSLocked returns a fresh message timestamp, greater than all earlier
// ones. s.mu must be held.
func (s *Server) newTSLocked() string {
	s.tsSeq++
	return fmt.Sprintf("%d.%06d", s.tsBase+s.tsSeq/1e6, s.tsSeq%1e6)
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
