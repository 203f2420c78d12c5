package slackfake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"maps"
	"regexp"
	"strings"
)

// Events as Slack builds them. A test says who posts what where
// ([Server.Say], [Server.SayRTM]); the fake builds the event from its model
// of users, bots and conversations with every field Slack always sends,
// refuses what Slack would never deliver, and adds the app_mention twin
// Slack sends for a message that mentions the bot outside a DM.

// Message is a message posted in the workspace, for Say and SayRTM.
type Message struct {
	// User is the author: a user added with AddUsers, or the bot's own user
	// (its own post coming back as an event, with its bot_id). Leave it
	// empty for a post by another app (Bot).
	User string
	// Bot is the bot ID of another app that posted the message (see
	// AddBots). A bot with a user posts as that user, with bot_id and
	// app_id, as apps using a bot token do; a bot without one posts as
	// Slack's subtype "bot_message" (incoming webhooks, legacy bots).
	Bot string
	// Channel is the conversation posted in. DM instead posts in the bot's
	// direct message with User, opening it if needed (as conversations.open).
	Channel string
	DM      bool
	Text    string
	// ThreadTS, when set, makes the message a reply in the thread of that
	// top-level message of the channel (sent earlier with Say or SayRTM, or
	// posted by the bot).
	ThreadTS string
}

// Bot is another app's bot, for AddBots.
type Bot struct {
	ID     string // the bot ID, e.g. "BDEPLOY"
	AppID  string // the app it belongs to; default "A" + ID without its first letter
	Name   string // its name; default ID
	UserID string // its bot user, if any: add it with AddUsers (IsBot) and Join
}

// Sent says what Say or SayRTM sent.
type Sent struct {
	// TS is the message's timestamp: the thread_ts of replies in its
	// thread, the timestamp of reactions to it.
	TS string
	// EnvelopeID is the Socket Mode envelope holding the message event, for
	// WaitAck ("" over RTM). MentionEnvelopeID is the one holding its
	// app_mention twin, "" when there is none.
	EnvelopeID        string
	MentionEnvelopeID string
	// Event is the event as sent (the message event), and Mention its
	// app_mention twin or nil.
	Event   map[string]any
	Mention map[string]any
}

// ErrUndeliverable is wrapped by the errors of Say and SayRTM for a
// message Slack would never deliver to the bot: an unknown author or
// conversation, an author who is not in the conversation, a conversation
// the bot is not in, a thread that does not exist.
var ErrUndeliverable = errors.New("slackfake: Slack would not deliver this message")

// eventModel is the part of the model only events need. Its maps are made
// on first use; Server.mu guards it.
type eventModel struct {
	bots map[string]Bot
	// msgs holds every message sent with Say or SayRTM by channel and ts:
	// its author, and its thread_ts ("" for a top-level message).
	msgs map[string]sentMessage
}

type sentMessage struct{ user, threadTS string }

// AddBots adds (or replaces) other apps' bots, which may then post
// messages (Message.Bot).
func (s *Server) AddBots(bots ...Bot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ev.bots == nil {
		s.ev.bots = make(map[string]Bot)
	}
	for _, b := range bots {
		if b.AppID == "" {
			b.AppID = "A" + strings.TrimPrefix(b.ID, "B")
		}
		if b.Name == "" {
			b.Name = b.ID
		}
		s.ev.bots[b.ID] = b
	}
}

// Say delivers the message event Slack sends the bot for m over Socket
// Mode, as SendEvent does, followed, when m mentions the bot (<@BOTUSER>)
// outside a direct message, by its app_mention twin in an envelope of its
// own. It returns an error wrapping ErrUndeliverable, and sends nothing,
// for a message Slack would never deliver.
func (s *Server) Say(ctx context.Context, m Message) (Sent, error) {
	sent, err := s.build(m, false)
	if err != nil {
		return Sent{}, err
	}
	envs := []map[string]any{sent.Event}
	if sent.Mention != nil {
		envs = append(envs, sent.Mention)
	}
	ids, err := s.deliver(ctx, envs, EventOptions{})
	if err != nil {
		return Sent{}, err
	}
	sent.EnvelopeID = ids[0]
	if len(ids) > 1 {
		sent.MentionEnvelopeID = ids[1]
	}
	return sent.clone(), nil
}

// SayRTM writes the message event Slack sends for m over RTM to every
// live RTM connection, as SendRTM does. RTM has no app_mention events.
func (s *Server) SayRTM(ctx context.Context, m Message) (Sent, error) {
	sent, err := s.build(m, true)
	if err != nil {
		return Sent{}, err
	}
	if err := s.writeRTM(ctx, sent.Event); err != nil {
		return Sent{}, err
	}
	return sent.clone(), nil
}

// clone gives the caller events of its own: the fake's may still be
// redelivered.
func (s Sent) clone() Sent {
	s.Event = maps.Clone(s.Event)
	if s.Mention != nil {
		s.Mention = maps.Clone(s.Mention)
	}
	return s
}

// build checks m against the model and builds its events, recording the
// message as sent.
func (s *Server) build(m Message, rtm bool) (Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	undeliverable := func(format string, args ...any) (Sent, error) {
		return Sent{}, fmt.Errorf("%w: %s", ErrUndeliverable, fmt.Sprintf(format, args...))
	}
	cfg := s.cfg
	var (
		author string // the user posting, "" for a bot without a user
		bot    *Bot
	)
	switch {
	case m.User != "" && m.Bot != "":
		return undeliverable("a message has a User or a Bot, not both")
	case m.Bot != "":
		b, ok := s.ev.bots[m.Bot]
		if !ok {
			return undeliverable("unknown bot %q (add it with AddBots)", m.Bot)
		}
		bot, author = &b, b.UserID
	case m.User == cfg.userID:
		bot, author = &Bot{ID: cfg.botID, AppID: cfg.appID, Name: cfg.userName, UserID: cfg.userID}, cfg.userID
	case m.User == "":
		return undeliverable("a message needs a User or a Bot")
	default:
		author = m.User
	}
	if author != "" && author != cfg.userID {
		u, ok := s.users[author]
		switch {
		case !ok:
			return undeliverable("unknown user %q (add it with AddUsers)", author)
		case u.Deleted:
			return undeliverable("user %q is deactivated", author)
		}
	}
	if strings.TrimSpace(m.Text) == "" {
		return undeliverable("a message needs text")
	}

	id := m.Channel
	if m.DM {
		if m.Channel != "" || author == "" || author == cfg.userID {
			return undeliverable("DM is a person's message to the bot, without a Channel")
		}
		id = s.openDMLocked(author)
	}
	ch := s.channels[id]
	switch {
	case ch == nil:
		return undeliverable("unknown conversation %q (add it with AddConversations or AddChannel)", id)
	case !ch.members[cfg.userID]:
		return undeliverable("the bot is not in %q, so it gets no events from it", id)
	case ch.archived:
		return undeliverable("%q is archived", id)
	case author != "" && !ch.members[author]:
		return undeliverable("user %q is not in %q (add it with Join)", author, id)
	}
	parent := ""
	if m.ThreadTS != "" {
		p, ok := s.parentLocked(id, m.ThreadTS)
		switch {
		case !ok:
			return undeliverable("no message %s in %q to reply to", m.ThreadTS, id)
		case p.threadTS != "":
			return undeliverable("message %s in %q is itself a reply: threads have one level", m.ThreadTS, id)
		}
		parent = p.user
	}

	ts := s.newTSLocked()
	ev := object{"type": "message", "text": m.Text, "ts": ts, "channel": id}
	switch {
	case bot != nil && author == "":
		ev["subtype"] = "bot_message"
		ev["bot_id"] = bot.ID
		ev["app_id"] = bot.AppID
		ev["username"] = bot.Name
	case bot != nil:
		ev["user"] = author
		ev["bot_id"] = bot.ID
		ev["app_id"] = bot.AppID
		ev["team"] = cfg.teamID
		ev["bot_profile"] = object{"id": bot.ID, "app_id": bot.AppID, "name": bot.Name, "deleted": false, "team_id": cfg.teamID}
		ev["blocks"] = richText(m.Text)
	default:
		ev["user"] = author
	}
	if m.ThreadTS != "" {
		ev["thread_ts"] = m.ThreadTS
		if parent != "" {
			ev["parent_user_id"] = parent
		}
	}
	// What every message carries (event_ts, channel_type; a person's team,
	// client_msg_id and blocks; RTM's team fields) is added as for a
	// test's own event.
	s.fillLocked(ev, rtm)
	if s.ev.msgs == nil {
		s.ev.msgs = make(map[string]sentMessage)
	}
	s.ev.msgs[id+"/"+ts] = sentMessage{user: author, threadTS: m.ThreadTS}
	s.noteMessageLocked(id, ts)

	sent := Sent{TS: ts, Event: ev}
	if !rtm && !ch.isIM && strings.Contains(m.Text, "<@"+cfg.userID+">") {
		sent.Mention = appMention(ev)
	}
	return sent, nil
}

// parentLocked finds the message ts in channel id: one sent with Say or
// SayRTM, or one the bot posted. s.mu must be held.
func (s *Server) parentLocked(id, ts string) (sentMessage, bool) {
	if p, ok := s.ev.msgs[id+"/"+ts]; ok {
		return p, true
	}
	for _, p := range s.posts {
		if p.Channel == id && p.TS == ts {
			return sentMessage{user: s.cfg.userID, threadTS: p.ThreadTS}, true
		}
	}
	return sentMessage{}, false
}

// openDMLocked returns the bot's DM with user, opening it as
// conversations.open does. s.mu must be held.
func (s *Server) openDMLocked(user string) string {
	if id, ok := s.dms[user]; ok {
		return id
	}
	id := s.newIDLocked("D")
	s.addDMLocked(id, user)
	return id
}

// channelType is a message event's channel_type for a conversation.
func channelType(ch *channel) string {
	switch {
	case ch.isIM:
		return "im"
	case ch.isMPIM:
		return "mpim"
	case ch.private:
		return "group"
	}
	return "channel"
}

// appMention is the app_mention twin of message event ev: the same
// message, typed app_mention, without channel_type, which Slack's
// app_mention does not carry.
func appMention(ev map[string]any) map[string]any {
	m := maps.Clone(ev)
	m["type"] = "app_mention"
	delete(m, "channel_type")
	return m
}

// fillLocked adds to event, a test's own event for SendEvent or SendRTM,
// the fields Slack always sends that it lacks: event_ts (the ts, else a
// fresh one) and, for a person's message (no subtype, not a bot's), team,
// client_msg_id and blocks; over the Events API a message's channel_type
// from the model, over RTM a message's source_team, user_team and
// suppress_notification. s.mu must be held.
func (s *Server) fillLocked(event map[string]any, rtm bool) {
	t, _ := event["type"].(string)
	if t == "" {
		return
	}
	if _, ok := event["event_ts"]; !ok {
		if ts, ok := event["ts"].(string); ok && ts != "" {
			event["event_ts"] = ts
		} else {
			event["event_ts"] = s.newTSLocked()
		}
	}
	if t != "message" && t != "app_mention" {
		return
	}
	_, hasSubtype := event["subtype"]
	_, hasBot := event["bot_id"]
	user, _ := event["user"].(string)
	text, _ := event["text"].(string)
	if !hasSubtype && !hasBot && user != "" && user != s.cfg.userID {
		setDefault(event, "team", s.cfg.teamID)
		if _, ok := event["client_msg_id"]; !ok {
			event["client_msg_id"] = newUUID()
		}
		if _, ok := event["blocks"]; !ok && text != "" {
			event["blocks"] = richText(text)
		}
	}
	if t == "message" && rtm {
		setDefault(event, "source_team", s.cfg.teamID)
		setDefault(event, "suppress_notification", false)
		if user != "" {
			setDefault(event, "user_team", s.cfg.teamID)
		}
	}
	if t == "message" && !rtm {
		id, _ := event["channel"].(string)
		if _, ok := event["channel_type"]; !ok && s.channels[id] != nil {
			event["channel_type"] = channelType(s.channels[id])
		}
	}
}

// setDefault sets m[key] to v unless m has key.
func setDefault(m map[string]any, key string, v any) {
	if _, ok := m[key]; !ok {
		m[key] = v
	}
}

// mentionRE finds Slack's markup in a message text: <@U…>, <#C…|name>,
// <!here>, <url|label>.
var mentionRE = regexp.MustCompile(`<([^<>]*)>`)

// richText is the rich_text block Slack's clients add to a person's
// message: the text as one section of text, user, channel, broadcast and
// link elements.
func richText(text string) []object {
	var elems []object
	addText := func(t string) {
		if t != "" {
			elems = append(elems, object{"type": "text", "text": html.UnescapeString(t)})
		}
	}
	last := 0
	for _, loc := range mentionRE.FindAllStringSubmatchIndex(text, -1) {
		addText(text[last:loc[0]])
		last = loc[1]
		inner := text[loc[2]:loc[3]]
		target, label, _ := strings.Cut(inner, "|")
		switch {
		case strings.HasPrefix(target, "@"):
			elems = append(elems, object{"type": "user", "user_id": target[1:]})
		case strings.HasPrefix(target, "#"):
			elems = append(elems, object{"type": "channel", "channel_id": target[1:]})
		case strings.HasPrefix(target, "!"):
			elems = append(elems, object{"type": "broadcast", "range": target[1:]})
		default:
			l := object{"type": "link", "url": target}
			if label != "" {
				l["text"] = label
			}
			elems = append(elems, l)
		}
	}
	addText(text[last:])
	return []object{{
		"type":     "rich_text",
		"block_id": randomID(4),
		"elements": []object{{"type": "rich_text_section", "elements": elems}},
	}}
}

// newUUID returns a random (version 4) UUID, as client_msg_id.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// randomID returns n random bytes as unpadded URL-safe base64.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// eventContext is an events_api payload's event_context: an opaque text
// naming the event, for apps.event.authorizations.list.
func eventContext(eventID string) string {
	b, _ := json.Marshal(object{"id": eventID})
	return "4-" + base64.RawURLEncoding.EncodeToString(b)
}

// wireTypes names every kind of message the fake writes on its
// websockets: Socket Mode messages by type ("socket_hello"), the events it
// builds into events_api envelopes ("event_message"), and RTM messages
// ("rtm_hello"). The conformance test holds a schema of Slack's for each,
// named so, and sees each on the wire; anything else it sees fails it.
func wireTypes() []string {
	return []string{
		"socket_hello", "socket_disconnect", "socket_events_api",
		"event_message", "event_app_mention",
		"rtm_hello", "rtm_pong", "rtm_message",
	}
}
