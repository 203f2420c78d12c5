package slackfake

import (
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The fake's model of the workspace: its users, its conversations (public
// and private channels, the bot's direct messages) and who is in each. The
// Web API methods that read or post answer from it as Slack would.

// User is a member of the workspace, for AddUsers.
type User struct {
	ID   string
	Name string // the username (Slack's "name"), unique in the workspace
	// DisplayName is profile.display_name; RealName is real_name. Both
	// default to Name when empty.
	DisplayName string
	RealName    string
	// IsBot makes the user a bot user, as Slack's users.info answers the
	// user of an app's bot: is_bot, profile.bot_id (BotID, made up from
	// the user ID when empty) and profile.api_app_id (AppID, the bot's
	// own app ID when empty).
	IsBot   bool
	BotID   string
	AppID   string
	Deleted bool
}

// Conversation is a channel, for AddConversations.
type Conversation struct {
	ID       string
	Name     string
	Private  bool // a private channel: listed and reachable only when the bot is in it
	Archived bool
	// BotNotMember says the bot has not joined it: posting there answers
	// not_in_channel (channel_not_found for a private channel).
	BotNotMember bool
	// Members are the users in it besides the bot.
	Members []string
}

// Ephemeral is one successful chat.postEphemeral call.
type Ephemeral struct {
	Channel  string
	User     string // the user who alone sees it
	Text     string
	ThreadTS string
	TS       string // the message_ts the fake answered with
	Time     time.Time
}

// channel is a conversation of the model.
type channel struct {
	name              string
	isIM, isMPIM      bool
	user              string // for a DM, the other user
	private, archived bool
	members           map[string]bool // user IDs, the bot's included when it is in it
	messages          map[string]bool // timestamps of the messages reactions.add finds
}

// newChannel returns a conversation with the members.
func newChannel(name string, members ...string) *channel {
	ch := &channel{name: name, members: map[string]bool{}, messages: map[string]bool{}}
	for _, u := range members {
		ch.members[u] = true
	}
	return ch
}

// maxTextRunes is the longest text chat.postMessage and
// chat.postEphemeral take; longer is msg_too_long. Slack documents 40,000
// characters (and once truncated longer texts instead).
const maxTextRunes = 40000

// AddUser adds a user that users.info and users.list will find, with name
// as username, display name and real name.
func (s *Server) AddUser(id, name string) {
	s.AddUsers(User{ID: id, Name: name})
}

// AddUsers adds (or replaces) users, listed by users.list in the order
// added.
func (s *Server) AddUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if u.IsBot && u.BotID == "" {
			u.BotID = "B" + strings.TrimLeft(u.ID, "UW")
		}
		if u.IsBot && u.AppID == "" {
			u.AppID = s.cfg.appID
		}
		if u.DisplayName == "" {
			u.DisplayName = u.Name
		}
		if u.RealName == "" {
			u.RealName = u.Name
		}
		if _, ok := s.userPos[u.ID]; !ok {
			s.userPos[u.ID] = len(s.userOrder)
			s.userOrder = append(s.userOrder, u.ID)
		}
		s.users[u.ID] = u
	}
}

// AddChannel adds a conversation the bot is in: a public channel, or a
// direct message when isIM, where name is then the ID of the other user
// (a DM has no name; Slack's conversations.info answers its user).
func (s *Server) AddChannel(id, name string, isIM bool) {
	if isIM {
		s.AddDM(id, name)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addChannelLocked(id, newChannel(name, s.cfg.userID))
}

// AddDM adds the bot's direct message with user, which conversations.open
// then finds.
func (s *Server) AddDM(id, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addDMLocked(id, user)
}

func (s *Server) addDMLocked(id, user string) *channel {
	ch := newChannel("", s.cfg.userID, user)
	ch.isIM, ch.private, ch.user = true, true, user
	s.addChannelLocked(id, ch)
	if _, open := s.dms[user]; !open && user != "" {
		s.dms[user] = id
	}
	return ch
}

// AddMessage adds a message the bot may react to, in a channel of the
// model. Messages sent as events and the bot's posts are added by
// themselves.
func (s *Server) AddMessage(channelID, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteMessageLocked(channelID, ts)
}

// noteMessageLocked records a message in a channel of the model. s.mu must
// be held.
func (s *Server) noteMessageLocked(channelID, ts string) {
	if ch := s.channels[channelID]; ch != nil && ts != "" {
		ch.messages[ts] = true
	}
}

// AddConversations adds (or replaces) channels, listed by
// conversations.list in the order added.
func (s *Server) AddConversations(cs ...Conversation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		ch := newChannel(c.Name, c.Members...)
		ch.private, ch.archived = c.Private, c.Archived
		if !c.BotNotMember {
			ch.members[s.cfg.userID] = true
		}
		s.addChannelLocked(c.ID, ch)
	}
}

func (s *Server) addChannelLocked(id string, ch *channel) {
	if _, ok := s.chanPos[id]; !ok {
		s.chanPos[id] = len(s.chanOrder)
		s.chanOrder = append(s.chanOrder, id)
	}
	s.channels[id] = ch
}

// Join makes users members of the channel, which must have been added.
// The bot joins with its own user ID.
func (s *Server) Join(channelID string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[channelID]; ch != nil {
		for _, u := range users {
			ch.members[u] = true
		}
	}
}

// DM returns the ID of the bot's direct message with user, once
// conversations.open has opened it, or "".
func (s *Server) DM(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dms[user]
}

// Ephemerals returns every successful chat.postEphemeral call so far, in order.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephemerals)
}

// WaitEphemeral returns the oldest ephemeral message that no earlier
// WaitEphemeral returned, waiting for it if needed.
func (s *Server) WaitEphemeral(ctx context.Context) (Ephemeral, error) {
	var e Ephemeral
	err := s.waitFor(ctx, "an ephemeral message", func() bool {
		if s.ephemSeen == len(s.ephemerals) {
			return false
		}
		e = s.ephemerals[s.ephemSeen]
		s.ephemSeen++
		return true
	})
	return e, err
}

// noteEvent updates the model from a message event a test sends: Slack
// delivers messages only from conversations that exist and that the bot is
// in, posted by their members, so a channel the fake does not know is
// added with the bot and the author as members, and the author of a
// message in a known channel is made a member.
func (s *Server) noteEvent(event map[string]any) {
	if t, _ := event["type"].(string); t != "message" && t != "app_mention" {
		return
	}
	id, _ := event["channel"].(string)
	if id == "" {
		return
	}
	user, _ := event["user"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[id]
	if ch == nil {
		ct, _ := event["channel_type"].(string)
		if ct == "im" || (ct == "" && strings.HasPrefix(id, "D")) {
			ch = s.addDMLocked(id, user)
		} else {
			// Slack's channels all have a name; this one is made up.
			ch = newChannel(strings.ToLower(id), s.cfg.userID)
			ch.private = ct == "group"
			s.addChannelLocked(id, ch)
		}
	}
	if user != "" {
		ch.members[user] = true
	}
	if ts, _ := event["ts"].(string); ts != "" {
		ch.messages[ts] = true
	}
}

// userObject is a user as users.info and users.list answer it: every
// field Slack's published schema requires, and those its method docs show
// for every user.
func (s *Server) userObject(u User) object {
	profile := object{
		"avatar_hash":             "g0000000000" + strconv.Itoa(len(u.ID)%10),
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.DisplayName,
		"display_name_normalized": u.DisplayName,
		"first_name":              u.RealName,
		"last_name":               "",
		"title":                   "",
		"phone":                   "",
		"skype":                   "",
		"status_text":             "",
		"status_emoji":            "",
		"status_expiration":       0,
		"team":                    s.cfg.teamID,
	}
	if u.IsBot {
		profile["bot_id"] = u.BotID
		profile["api_app_id"] = u.AppID
		profile["always_active"] = true
	}
	return object{
		"id":                  u.ID,
		"team_id":             s.cfg.teamID,
		"name":                u.Name,
		"real_name":           u.RealName,
		"deleted":             u.Deleted,
		"color":               "9f69e7",
		"tz":                  "Europe/London",
		"tz_label":            "Greenwich Mean Time",
		"tz_offset":           0,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"is_admin":            false,
		"is_owner":            false,
		"is_primary_owner":    false,
		"is_restricted":       false,
		"is_ultra_restricted": false,
		"updated":             s.tsBase,
		"profile":             profile,
	}
}

// channelObjectLocked is a conversation as conversations.info,
// conversations.list and conversations.open answer it: every field
// Slack's published schema requires for its kind (channel, multi-person
// DM, DM), and no field the schema does not allow for it. s.mu must be
// held.
func (s *Server) channelObjectLocked(id string, ch *channel) object {
	if ch.isIM {
		return object{
			"id":              id,
			"created":         s.tsBase,
			"is_archived":     false,
			"is_im":           true,
			"is_org_shared":   false,
			"is_user_deleted": s.users[ch.user].Deleted,
			"is_open":         true,
			"user":            ch.user,
			"priority":        0,
		}
	}
	none := object{"value": "", "creator": "", "last_set": 0}
	o := object{
		"id":                    id,
		"name":                  ch.name,
		"name_normalized":       ch.name,
		"created":               s.tsBase,
		"creator":               s.cfg.userID,
		"is_channel":            !ch.isMPIM,
		"is_group":              ch.private && !ch.isMPIM,
		"is_im":                 false,
		"is_mpim":               ch.isMPIM,
		"is_private":            ch.private,
		"is_archived":           ch.archived,
		"is_general":            false,
		"is_member":             ch.members[s.cfg.userID],
		"is_shared":             false,
		"is_ext_shared":         false,
		"is_org_shared":         false,
		"is_pending_ext_shared": false,
		"unlinked":              0,
		"num_members":           len(ch.members),
		"topic":                 none,
		"purpose":               maps.Clone(none),
		"previous_names":        []string{},
		"pending_shared":        []string{},
	}
	return o
}

// visibleLocked returns the conversation id as the bot sees it: a private
// channel it is not in does not exist for it. s.mu must be held.
func (s *Server) visibleLocked(id string) *channel {
	ch := s.channels[id]
	if ch == nil || (ch.private && !ch.members[s.cfg.userID]) {
		return nil
	}
	return ch
}

// postableLocked returns the error Slack answers to the bot posting in
// channel id, or "". s.mu must be held.
func (s *Server) postableLocked(id string) string {
	ch := s.visibleLocked(id)
	switch {
	case ch == nil:
		return "channel_not_found"
	case ch.archived:
		return "is_archived"
	case !ch.members[s.cfg.userID]:
		return "not_in_channel"
	}
	return ""
}

func (s *Server) usersInfo(call apiCall) (object, string) {
	s.mu.Lock()
	u, ok := s.users[call.form.Get("user")]
	s.mu.Unlock()
	if !ok {
		return nil, "user_not_found"
	}
	return object{"user": s.userObject(u)}, ""
}

func (s *Server) conversationsInfo(call apiCall) (object, string) {
	id := call.form.Get("channel")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.visibleLocked(id)
	if ch == nil {
		return nil, "channel_not_found"
	}
	return object{"channel": s.channelObjectLocked(id, ch)}, ""
}

// Paging, as Slack does it: cursors are opaque base64 texts naming the
// first item of the next page, limit is at most 1,000, and a page may hold
// fewer items than the limit (conversations.list filters after paging).
const maxLimit = 1000

// page parses limit and cursor; prefix is the cursor's kind ("user:" or
// "team:"). It returns the index of the first item and the page size, or a
// Slack error. A limit over 1,000 is invalid_limit when strict (as
// conversations.list documents), else taken as 1,000; a limit that is not
// a number is invalid_limit when strict, else invalid_arguments.
func page(f formValues, prefix string, pos map[string]int, defLimit int, strict bool) (start, limit int, code string) {
	limit = defLimit
	if v := f.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case strict && (err != nil || n < 0 || n > maxLimit):
			return 0, 0, "invalid_limit"
		case err != nil || n < 0:
			return 0, 0, "invalid_arguments"
		}
		if n > 0 {
			limit = min(n, maxLimit)
		}
	}
	if c := f.Get("cursor"); c != "" {
		raw, err := base64.StdEncoding.DecodeString(c)
		id, ok := strings.CutPrefix(string(raw), prefix)
		i, known := pos[id]
		if err != nil || !ok || !known {
			return 0, 0, "invalid_cursor"
		}
		start = i
	}
	return start, limit, ""
}

// formValues is what page needs of url.Values.
type formValues interface{ Get(string) string }

func nextCursor(prefix string, order []string, end int) string {
	if end >= len(order) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(prefix + order[end]))
}

// usersList pages through the users in the order added. Without a limit
// Slack tries to answer everyone, and refuses (limit_required) for large
// workspaces: here, more than 1,000 users.
func (s *Server) usersList(call apiCall) (object, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start, limit, code := page(call.form, "user:", s.userPos, 0, false)
	if code != "" {
		return nil, code
	}
	if limit == 0 {
		if len(s.userOrder) > maxLimit {
			return nil, "limit_required"
		}
		limit = maxLimit
	}
	end := min(start+limit, len(s.userOrder))
	members := make([]object, 0, end-start)
	for _, id := range s.userOrder[start:end] {
		members = append(members, s.userObject(s.users[id]))
	}
	return object{
		"members":           members,
		"cache_ts":          time.Now().Unix(),
		"response_metadata": object{"next_cursor": nextCursor("user:", s.userOrder, end)},
	}, ""
}

// conversationsList pages through the channels in the order added,
// keeping those of the asked types (default public_channel): private
// channels only when the bot is in them, DMs only the bot's.
func (s *Server) conversationsList(call apiCall) (object, string) {
	types := map[string]bool{"public_channel": true}
	if v := call.form.Get("types"); v != "" {
		types = map[string]bool{}
		for _, t := range strings.Split(v, ",") {
			switch t = strings.TrimSpace(t); t {
			case "public_channel", "private_channel", "im", "mpim":
				types[t] = true
			default:
				return nil, "invalid_types"
			}
		}
	}
	excludeArchived := call.form.Get("exclude_archived") == "true" || call.form.Get("exclude_archived") == "1"
	s.mu.Lock()
	defer s.mu.Unlock()
	start, limit, code := page(call.form, "team:", s.chanPos, 100, true)
	if code != "" {
		return nil, code
	}
	end := min(start+limit, len(s.chanOrder))
	chans := []object{}
	for _, id := range s.chanOrder[start:end] {
		ch := s.visibleLocked(id)
		switch {
		case ch == nil,
			ch.isIM && !types["im"],
			ch.isMPIM && !types["mpim"],
			!ch.isIM && !ch.isMPIM && ch.private && !types["private_channel"],
			!ch.isIM && !ch.isMPIM && !ch.private && !types["public_channel"],
			excludeArchived && ch.archived:
			continue
		}
		chans = append(chans, s.channelObjectLocked(id, ch))
	}
	return object{
		"channels":          chans,
		"response_metadata": object{"next_cursor": nextCursor("team:", s.chanOrder, end)},
	}, ""
}

// conversationsOpen opens (or finds again) the bot's DM with one user, or
// its multi-person DM with several.
func (s *Server) conversationsOpen(call apiCall) (object, string) {
	f := call.form
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := f.Get("channel"); id != "" {
		ch := s.visibleLocked(id)
		switch {
		case ch == nil:
			return nil, "channel_not_found"
		case !ch.isIM:
			return nil, "method_not_supported_for_channel_type"
		}
		return s.openAnswerLocked(id, ch, f.Get("return_im"), true), ""
	}
	var users []string
	for _, u := range strings.Split(f.Get("users"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	switch {
	case len(users) == 0:
		return nil, "users_list_not_supplied"
	case len(users) > 8:
		return nil, "too_many_users"
	}
	for _, id := range users {
		u, ok := s.users[id]
		switch {
		case !ok:
			return nil, "user_not_found"
		case u.Deleted:
			return nil, "user_disabled"
		}
	}
	if len(users) > 1 {
		return s.openMPIMLocked(users, f.Get("return_im")), ""
	}
	id, open := s.dms[users[0]]
	if !open {
		id = s.newIDLocked("D")
		s.addDMLocked(id, users[0])
	}
	return s.openAnswerLocked(id, s.channels[id], f.Get("return_im"), open), ""
}

// openMPIMLocked opens (or finds again) the multi-person DM of the bot and
// users, named as Slack names them. s.mu must be held.
func (s *Server) openMPIMLocked(users []string, returnIM string) object {
	members := append([]string{s.cfg.userID}, users...)
	slices.Sort(members)
	members = slices.Compact(members)
	key := strings.Join(members, ",")
	id, open := s.mpims[key]
	if !open {
		names := make([]string, len(members))
		for i, u := range members {
			names[i] = s.users[u].Name
		}
		slices.Sort(names)
		id = s.newIDLocked("G")
		ch := newChannel("mpdm-"+strings.Join(names, "--")+"-1", members...)
		ch.isMPIM, ch.private = true, true
		s.addChannelLocked(id, ch)
		s.mpims[key] = id
	}
	return s.openAnswerLocked(id, s.channels[id], returnIM, open)
}

// openAnswerLocked is conversations.open's answer: the DM's id, or all of
// it when return_im is true. s.mu must be held.
func (s *Server) openAnswerLocked(id string, ch *channel, returnIM string, already bool) object {
	c := object{"id": id}
	if returnIM == "true" || returnIM == "1" {
		c = s.channelObjectLocked(id, ch)
	}
	a := object{"channel": c}
	if already {
		a["no_op"], a["already_open"] = true, true
	}
	return a
}

// chatPostEphemeral records a message only user sees, in a channel both
// the bot and user are in.
func (s *Server) chatPostEphemeral(call apiCall) (object, string) {
	f := call.form
	e := Ephemeral{Channel: f.Get("channel"), User: f.Get("user"), Text: f.Get("text"),
		ThreadTS: f.Get("thread_ts"), Time: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch code := s.postableLocked(e.Channel); code {
	case "":
	case "not_in_channel":
		// Not an error of chat.postEphemeral in Slack's spec: a channel
		// the bot is not in is one it cannot post to.
		return nil, "channel_not_found"
	default:
		return nil, code
	}
	switch {
	case !s.channels[e.Channel].members[e.User]:
		return nil, "user_not_in_channel"
	case e.Text == "" && f.Get("blocks") == "" && f.Get("attachments") == "":
		return nil, "no_text"
	case utf8.RuneCountInString(e.Text) > maxTextRunes:
		return nil, "msg_too_long"
	}
	e.TS = s.newTSLocked()
	s.ephemerals = append(s.ephemerals, e)
	s.notifyLocked()
	return object{"message_ts": e.TS}, ""
}
