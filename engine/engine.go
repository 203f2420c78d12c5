package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rulebot/rulebot/engine/internal/exprlimit"
	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/netguard"
	"github.com/rulebot/rulebot/internal/warnrate"
)

// A Message is one chat message as a transport received it.
type Message struct {
	Text        string // as Slack sent it: entities encoded, links wrapped
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string // in a DM, the other person's name
	DM          bool
	TS          string // the message's own timestamp (its id in the channel)
	ThreadTS    string // the thread it was posted in, or ""
	BotID       string // set when another bot (or this one) sent it
	Subtype     string // Slack's message subtype: "" for a plain message
}

// ActionKind says what an Action does.
type ActionKind int

const (
	Reply ActionKind = iota // post Text to Channel (in ThreadTS when set)
	React                   // add Emoji to the message MessageTS in Channel
)

// An Action is one thing the bot does in answer to a message.
//
// A Reply goes to exactly one place: Channel (an id) when To and DMUser are
// empty; else the channel or user named by To ("#ops", "@alice"), which the
// transport resolves; else the direct message with the user id DMUser,
// which the transport opens. Ephemeral replies (to the user id Ephemeral,
// in Channel and ThreadTS) are shown only to that user.
//
// With To or DMUser set, Channel still names the triggering message's
// channel (for logs; ThreadTS is empty), and is empty for the replies of a
// schedule rule (Engine.Fire), which always have To. A React always
// concerns the triggering message, wherever its rule's reply went.
type Action struct {
	Kind      ActionKind
	Rule      string // the rule that made it ("help" for the built-in help)
	Channel   string // the channel id: Reply's destination unless To or DMUser is set; React's message's channel
	To        string // Reply: "#NAME" or "@NAME", a destination by name (rule key to)
	DMUser    string // Reply: the user id whose direct message receives it (to: dm)
	Ephemeral string // Reply: the user id that alone sees it (chat.postEphemeral)
	ThreadTS  string // Reply: the thread to post into, or "" for the channel
	Text      string // Reply: the text, ready for Slack
	Unfurl    Unfurl // Reply: whether Slack should expand links and media
	Emoji     string // React: the emoji name, without colons
	MessageTS string // React: the message reacted to
}

// Options are what an Engine needs from its surroundings. Every field is
// optional.
type Options struct {
	BotUserID  string // the bot's user id: its own messages are ignored and <@BotUserID> addresses it
	BotID      string // the bot's bot id (B…): its own messages are ignored
	HTTPClient *http.Client
	Now        func() time.Time    // the clock for cooldowns and now()
	Intn       func(n int) int     // random choice in [0, n) for reply lists and pick()
	Getenv     func(string) string // env() in expressions
	Logger     *slog.Logger
	// Dropped, when set, is called once for every answer or part of one
	// that a limit kept from being sent, with the reason (DropBotFlood,
	// DropReplyTruncated): a hook for a metric such as
	// rulebot_dropped_total{reason}. It must be safe for concurrent use.
	Dropped func(reason string)
	// Memory is the bot's memory for remember, recall and recall_all
	// (SPEC §6); default a fresh RAM store on Now.
	Memory memory.Store
	// Fired, when set, is called with a rule's name each time the rule
	// fires (its match, addressed, when and cooldown passed; for a
	// schedule rule, its when), whether or not its actions then succeed
	// or send anything: a hook for rulebot_rule_fires_total and for test
	// -cover. It must be safe for concurrent use.
	Fired func(rule string)
	// FetchFailed, when set, is called with a rule's name each time its
	// fetch fails (no 2xx answer of at most max_bytes, a refused host, a
	// timeout): a hook for rulebot_fetch_errors_total. It must be safe for
	// concurrent use.
	FetchFailed func(rule string)
	// Claim, when set, is a claim in a store replicas share, such as
	// memory.Store's Claim on Redis (SPEC §9): a rule's cooldown in a
	// channel is then the claim "cooldown/<rule>/<channel>" for the
	// cooldown, so that it holds across replicas, instead of a map in this
	// process. A failing claim falls back to this process's map and is
	// logged: the cooldown then holds per replica until the store is back,
	// rather than silencing the rule or letting it fire on every message.
	Claim func(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// An Engine decides what to do with messages according to its current
// Rules. It is safe for concurrent use; Swap replaces the rules atomically
// while calls to Handle in flight finish on the rules they started with.
type Engine struct {
	rules atomic.Pointer[Rules]
	opts  Options

	mu        sync.Mutex
	cooldowns map[cooldownKey]time.Time // when the rule may fire again in the channel
	pruneAt   int                       // prune expired cooldowns when there are more than this

	flood     floodGuard       // answers to other bots' messages, per channel
	claimWarn warnrate.Limiter // paces the warning about a failing Options.Claim
}

type cooldownKey struct{ rule, channel string }

// New returns an Engine serving rules.
//
// When opts.HTTPClient is nil, fetches connect only to public addresses and
// to those bot.fetch.allow lists, checked as each connection is dialled
// (netguard.Transport). A client given in opts connects wherever its
// transport does (the test runner's answers from canned responses), but
// the engine still applies the redirect rules of netguard.CheckRedirect to
// it and refuses a URL whose host is an address bot.fetch.allow does not
// allow.
func New(rules *Rules, opts Options) *Engine {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: &netguard.Transport{}}
	}
	client := *opts.HTTPClient
	client.CheckRedirect = netguard.CheckRedirect
	opts.HTTPClient = &client
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Intn == nil {
		opts.Intn = rand.IntN
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Memory == nil {
		opts.Memory, _ = memory.NewRAM(nil, opts.Now) // cannot fail without a seed
	}
	e := &Engine{opts: opts, cooldowns: map[cooldownKey]time.Time{}, pruneAt: 1024}
	e.claimWarn.Every = claimWarnEvery
	e.rules.Store(rules)
	return e
}

// Rules returns the rules the engine serves now.
func (e *Engine) Rules() *Rules { return e.rules.Load() }

// Swap makes rules the engine's rules for every message handled from now
// on. Cooldowns of rules that keep their name carry over.
func (e *Engine) Swap(rules *Rules) {
	e.rules.Store(rules)
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make(map[string]bool, len(rules.rules))
	for _, r := range rules.rules {
		if r.cooldown > 0 {
			names[r.name] = true
		}
	}
	for k := range e.cooldowns {
		if !names[k.rule] {
			delete(e.cooldowns, k)
		}
	}
}

// Ignored reports whether the engine never answers m: the bot's own
// messages, other bots' (unless the rules say otherwise), and edits,
// deletions, joins and other events that are not plain messages.
func (e *Engine) Ignored(m Message) bool {
	return e.ignored(e.rules.Load(), m)
}

func (e *Engine) ignored(rs *Rules, m Message) bool {
	if m.UserID != "" && m.UserID == e.opts.BotUserID {
		return true
	}
	if m.BotID != "" && (m.BotID == e.opts.BotID || rs.Bot.IgnoreBots) {
		return true
	}
	switch m.Subtype {
	case "", "thread_broadcast", "file_share", "me_message":
		return false
	case "bot_message":
		return rs.Bot.IgnoreBots
	}
	return true
}

// Handle decides what to do with m and returns the actions in the order
// they should be performed. It blocks while rules fetch; ctx bounds that.
// A rule that fails at run time affects only its own actions.
func (e *Engine) Handle(ctx context.Context, m Message) []Action {
	rs := e.rules.Load()
	if e.ignored(rs, m) {
		return nil
	}
	acts := e.handle(ctx, rs, m)
	if len(acts) > 0 && (m.BotID != "" || m.Subtype == "bot_message") && !e.floodOK(rs, m, acts) {
		return nil
	}
	return acts
}

// floodOK records an answer to another bot's message and reports whether
// it may be sent: no more than bot.flood answers per channel and window.
// An answer counts once however many messages and reactions it holds: a
// loop goes message for message, and a reaction can feed one too.
func (e *Engine) floodOK(rs *Rules, m Message, acts []Action) bool {
	ok, warn := e.flood.take(m.ChannelID, e.opts.Now(), rs.Bot.Flood)
	if !ok {
		if warn {
			e.opts.Logger.Warn("bot.flood reached: not answering other bots' messages in this channel for now",
				"channel", m.ChannelID, "limit", rs.Bot.Flood.String(), "rule", acts[0].Rule, "bot_id", m.BotID)
		}
		e.dropped(DropBotFlood)
	}
	return ok
}

func (e *Engine) dropped(reason string) {
	if e.opts.Dropped != nil {
		e.opts.Dropped(reason)
	}
}

func (e *Engine) handle(ctx context.Context, rs *Rules, m Message) []Action {
	in := e.prepare(rs, m)
	if acts, ok := e.help(rs, in); ok {
		return acts
	}
	var acts []Action
	var buf [64]int32
	for _, i := range rs.index.candidates(in, buf[:0]) {
		r := rs.rules[i]
		b, ok := r.matches(in)
		if !ok || (r.addressed != nil && *r.addressed != in.addressed) {
			continue
		}
		if r.when != nil {
			env := in.bind(ctx, b)
			v, err := exprlimit.Run(r.when, env)
			if err != nil {
				e.opts.Logger.Warn("when failed; the rule does not fire", "rule", r.name, "channel", m.ChannelID, "error", runError(err).Error())
				continue
			}
			if ok, _ := v.(bool); !ok {
				continue
			}
		}
		if r.cooldown > 0 && !e.takeCooldown(ctx, r, m.ChannelID) {
			continue
		}
		if e.opts.Fired != nil {
			e.opts.Fired(r.name)
		}
		acts = append(acts, e.fireSafely(ctx, rs, r, in, b)...)
		if !r.cont {
			break
		}
	}
	return acts
}

// takeCooldown reports whether r may fire in channel now, and if so starts
// its cooldown there: in the shared store when Options.Claim is set, else
// (or when the claim fails) in this process.
func (e *Engine) takeCooldown(ctx context.Context, r *rule, channel string) bool {
	if e.opts.Claim != nil {
		ctx, cancel := context.WithTimeout(ctx, claimTimeout)
		defer cancel()
		won, err := e.opts.Claim(ctx, cooldownClaimKey(r.name, channel), r.cooldown)
		if err == nil {
			return won
		}
		if warn, unlogged := e.claimWarn.Allow(e.opts.Now()); warn {
			e.opts.Logger.Warn("shared cooldown failed: holding it in this replica only", "rule", r.name, "channel", channel,
				"error", err.Error(), "failed_since_last_warning", unlogged)
		}
	}
	return e.takeLocalCooldown(r, channel)
}

// takeLocalCooldown is takeCooldown in this process's map.
func (e *Engine) takeLocalCooldown(r *rule, channel string) bool {
	now := e.opts.Now()
	k := cooldownKey{r.name, channel}
	e.mu.Lock()
	defer e.mu.Unlock()
	if until, ok := e.cooldowns[k]; ok && now.Before(until) {
		return false
	}
	e.cooldowns[k] = now.Add(r.cooldown)
	if len(e.cooldowns) > e.pruneAt {
		for k, until := range e.cooldowns {
			if !now.Before(until) {
				delete(e.cooldowns, k)
			}
		}
		e.pruneAt = max(1024, 2*len(e.cooldowns))
	}
	return true
}

// fireSafely is fire, except that a panic fails only the rule: it is
// logged with the rule and channel, and the rule sends nothing.
func (e *Engine) fireSafely(ctx context.Context, rs *Rules, r *rule, in *input, b bindings) (acts []Action) {
	defer func() {
		if p := recover(); p != nil {
			e.logWith(r, in).Error("rule panicked; it sends nothing", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			acts = nil
		}
	}()
	return e.fire(ctx, rs, r, in, b)
}

// fire runs a rule's actions: fetch, then the remember writes, then
// reply, then react.
func (e *Engine) fire(ctx context.Context, rs *Rules, r *rule, in *input, b bindings) []Action {
	var env map[string]any // nothing can fail without an expression, so fail never sees it nil
	if !r.literal {
		env = in.bind(ctx, b)
	}
	if r.fetch != nil {
		res, err := e.fetch(ctx, rs, r, in, env)
		env["fetch"] = res
		if err != nil {
			return e.fail(r, in, env, err)
		}
	}
	if len(r.remember) > 0 {
		if err := e.remember(ctx, r, in, env); err != nil {
			return e.fail(r, in, env, err)
		}
	}
	var acts []Action
	if len(r.replies) > 0 {
		t := r.replies[0]
		if len(r.replies) > 1 {
			t = r.replies[e.opts.Intn(len(r.replies))]
		}
		text, err := t.render(in, env, escapeSlack)
		if err != nil {
			return e.fail(r, in, env, err)
		}
		var ok bool
		if acts, ok = e.send(r, in, env, text); !ok {
			return nil
		}
	}
	if r.react != "" {
		acts = append(acts, Action{Kind: React, Rule: r.name, Channel: in.msg.ChannelID, Emoji: r.react, MessageTS: in.msg.TS})
	}
	return acts
}

// fail handles a rule whose fetch, memory write or expression failed:
// on_error, sent where the reply would go, if the rule has one, else a log
// line and nothing sent.
func (e *Engine) fail(r *rule, in *input, env map[string]any, err error) []Action {
	if r.onError == nil {
		e.logWith(r, in).Warn("rule failed", "error", err.Error())
		return nil
	}
	e.logWith(r, in).Info("rule failed; sending on_error", "error", err.Error())
	env["error"] = err.Error()
	text, err := r.onError.render(in, env, escapeSlack)
	if err != nil {
		e.logWith(r, in).Warn("on_error failed", "error", err.Error())
		return nil
	}
	acts, _ := e.send(r, in, env, text)
	return acts
}

// send returns the Reply actions that send r's text where r's replies go.
// It reports false when that place cannot be worked out (to renders no
// destination): a failure of the rule, logged, for which there is nowhere
// to send on_error.
func (e *Engine) send(r *rule, in *input, env map[string]any, text string) ([]Action, bool) {
	parts, truncated := splitReply(trimReply(sanitize(text)))
	if len(parts) == 0 {
		return nil, true
	}
	d, err := e.dest(r, in, env)
	if err != nil {
		e.logWith(r, in).Warn("rule failed: its reply has nowhere to go", "error", runError(err).Error())
		return nil, false
	}
	return e.reply(r.name, d, r.unfurl, parts, truncated, text), true
}

// reply returns the Reply actions that send parts, the pieces of text, to
// d. truncated says whether text was cut to fit.
func (e *Engine) reply(rule string, d dest, u Unfurl, parts []string, truncated bool, text string) []Action {
	if truncated {
		e.opts.Logger.Warn(fmt.Sprintf("reply too long: sending it as %d messages of at most %d characters, the last cut with …", MaxReplyParts, MaxReplyChars),
			"rule", rule, "channel", d.where(), "chars", utf8.RuneCountInString(text))
		e.dropped(DropReplyTruncated)
	}
	acts := make([]Action, len(parts))
	for i, p := range parts {
		acts[i] = Action{Kind: Reply, Rule: rule, Channel: d.channel, To: d.to, DMUser: d.dmUser, Ephemeral: d.ephemeral,
			ThreadTS: d.thread, Text: p, Unfurl: u}
	}
	return acts
}

// trimReply drops trailing white space from every line and from the end.
func trimReply(s string) string {
	if !strings.Contains(s, "\n") {
		return strings.TrimRightFunc(s, unicode.IsSpace)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// help answers the built-in help command, unless a rule has command: help.
func (e *Engine) help(rs *Rules, in *input) ([]Action, bool) {
	if rs.helpCmd || !in.addressed || len(in.fields) == 0 || !strings.EqualFold(in.word(0), "help") {
		return nil, false
	}
	for _, i := range rs.index.commands["help"] {
		if _, ok := rs.rules[i].matches(in); ok {
			return nil, false // a rule such as command: help deploy answers it
		}
	}
	var text string
	if len(in.fields) == 1 {
		var lines []string
		for _, r := range rs.rules {
			if r.help != "" {
				lines = append(lines, r.help)
			}
		}
		text = strings.Join(lines, "\n")
		if text == "" {
			text = "No help is written for any rule yet."
		}
	} else {
		name := strings.Join(strings.Fields(in.text[in.fields[1].start:]), " ")
		text = "No help for " + escapeSlackText(name) + "."
		for _, r := range rs.rules {
			if r.help != "" && (strings.EqualFold(r.name, name) || r.hasCommand(name)) {
				text = r.help
				break
			}
		}
	}
	parts, truncated := splitReply(trimReply(sanitize(text)))
	return e.reply("help", dest{channel: in.msg.ChannelID, thread: in.msg.ThreadTS}, rs.Bot.Unfurl, parts, truncated, text), true
}

func (r *rule) hasCommand(name string) bool {
	if r.kind != matchCommand {
		return false
	}
	for _, c := range r.commands {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// runtimeFuncs are the expression functions bound to this engine. Those
// bound to each message are in bindFuncs.
func (e *Engine) runtimeFuncs(env map[string]any) {
	env["pick"] = func(list any) (any, error) {
		v := reflect.ValueOf(list)
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return nil, fmt.Errorf("pick: %s is not a list", describe(list))
		}
		if v.Len() == 0 {
			return nil, fmt.Errorf("pick: the list is empty")
		}
		return v.Index(e.opts.Intn(v.Len())).Interface(), nil
	}
	env["env"] = func(name string) (string, error) {
		if forbiddenEnv(name) {
			return "", fmt.Errorf("env(%q): SLACK_* variables and REDIS_URL cannot be read by rules", name)
		}
		return e.opts.Getenv(name), nil
	}
}
