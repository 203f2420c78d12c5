// Package local runs rules without Slack. It simulates a small Slack
// workspace in memory, with fixed ids, for the terminal chat (rulebot chat)
// and the golden conversation tests (rulebot test), and writes what happens
// as a transcript.
package local

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rulebot/rulebot/engine"
)

// BotUserID is the bot's user id in the simulated workspace.
const BotUserID = "UBOT"

// A Post is one message a person (or another bot) types.
type Post struct {
	User    string // name, without @
	Channel string // name, without #; ignored for DMs
	DM      bool   // a direct message to the bot
	Thread  bool   // in the thread of the channel's last top-level message
	Bot     bool   // sent by another bot
	Text    string // as typed
}

// Sim is a simulated workspace: it turns Posts into Slack messages, hands
// them to an engine and writes the transcript of everything that happens.
// It is not safe for concurrent use.
type Sim struct {
	Engine  *engine.Engine
	BotName string
	Now     func() time.Time // the time stamps of messages
	Out     io.Writer        // the transcript

	// HidePeople leaves people's messages out of the transcript, for a
	// terminal that shows what was typed already.
	HidePeople bool

	// Notices, when set, are printed as they come while a chat runs, such
	// as "rules reloaded" from -watch: above the prompt on a terminal
	// (never garbling the line being typed), else to the error output.
	Notices <-chan string

	// Reload, when set, reads the rules file again for chat's /reload,
	// saying how it went as a notice.
	Reload func(ctx context.Context)

	seq     int
	lastTop map[string]string // channel id → ts of the last top-level message a person sent
}

// UserID is the fixed id of user name: U + name in upper case.
func UserID(name string) string { return "U" + strings.ToUpper(name) }

// ChannelID is the fixed id of channel name: C + name in upper case.
func ChannelID(name string) string { return "C" + strings.ToUpper(name) }

// DMID is the fixed id of the DM with user name: D + name in upper case.
func DMID(name string) string { return "D" + strings.ToUpper(name) }

// Say posts p, writes it and the bot's answers to the transcript, and
// returns the actions the engine decided on.
func (s *Sim) Say(ctx context.Context, p Post) ([]engine.Action, error) {
	if s.lastTop == nil {
		s.lastTop = map[string]string{}
	}
	s.seq++
	m := engine.Message{
		Text:     Encode(p.Text, s.BotName),
		UserID:   UserID(p.User),
		UserName: p.User,
		TS:       fmt.Sprintf("%d.%06d", s.Now().Unix(), s.seq),
	}
	if p.Bot {
		m.BotID = "B" + strings.ToUpper(p.User)
	}
	if p.DM {
		m.ChannelID, m.ChannelName, m.DM = DMID(p.User), p.User, true
	} else {
		m.ChannelID, m.ChannelName = ChannelID(p.Channel), p.Channel
	}
	if p.Thread {
		m.ThreadTS = s.lastTop[m.ChannelID]
		if m.ThreadTS == "" {
			return nil, fmt.Errorf("thread: true, but no one has posted in %s yet", s.place(m.ChannelID, ""))
		}
	} else if !p.Bot {
		s.lastTop[m.ChannelID] = m.TS
	}
	if !s.HidePeople {
		if _, err := io.WriteString(s.Out, Line(s.place(m.ChannelID, m.ThreadTS), p.User+": ", p.Text)); err != nil {
			return nil, err
		}
	}
	acts := s.Engine.Handle(ctx, m)
	return acts, s.show(acts, m.ThreadTS)
}

// Fire fires the schedule rule named rule for its occurrence at, and
// writes what the bot sends to the transcript, like any other bot message.
func (s *Sim) Fire(ctx context.Context, rule string, at time.Time) ([]engine.Action, error) {
	acts := s.Engine.Fire(ctx, rule, at)
	return acts, s.show(acts, "")
}

// show writes the transcript lines of acts; thread is the thread of the
// message they answer, where a reaction is shown.
func (s *Sim) show(acts []engine.Action, thread string) error {
	for _, a := range acts {
		var line string
		switch a.Kind {
		case engine.Reply:
			line = s.replyLine(a)
		case engine.React:
			line = Line(s.place(a.Channel, thread), s.BotName+" reacts ", ":"+a.Emoji+":")
		}
		if _, err := io.WriteString(s.Out, line); err != nil {
			return err
		}
	}
	return nil
}

// replyLine is the transcript line of a reply, shown where it lands: in
// the channel or DM that a.To names, in the DM with a.DMUser, or in
// a.Channel (and its thread), marked when only a.Ephemeral sees it. In the
// simulated workspace every #NAME and @NAME resolves (SPEC §6), to the ids
// of UserID, ChannelID and DMID.
func (s *Sim) replyLine(a engine.Action) string {
	who := s.BotName + ": "
	var place string
	switch {
	case a.To != "":
		place = destination(a.To)
	case a.DMUser != "":
		place = s.place(DMID(s.userName(a.DMUser)), "")
	default:
		place = s.place(a.Channel, a.ThreadTS)
		// An ephemeral reply in a DM is an ordinary one: only its two
		// members see the DM anyway.
		if a.Ephemeral != "" && !strings.HasPrefix(a.Channel, "D") {
			who = s.BotName + " (only " + s.userName(a.Ephemeral) + " sees): "
		}
	}
	return Line(place, who, s.Display(a.Text))
}

// destination is the transcript label of a reply's to: "#ops" is the
// channel ops, "@alice" the DM with alice. Names are shown as their ids
// read back (lower case), as every other place is.
func destination(to string) string {
	if len(to) < 2 {
		return to
	}
	name := strings.ToLower(to[1:])
	switch to[0] {
	case '#', '@':
		return to[:1] + name
	}
	return to
}

// userName is the name of the simulated user whose id is id: the inverse
// of UserID, and the bot's name for the bot.
func (s *Sim) userName(id string) string {
	if id == BotUserID {
		return s.BotName
	}
	if len(id) > 1 && (id[0] == 'U' || id[0] == 'W') {
		return strings.ToLower(id[1:])
	}
	return strings.ToLower(id)
}

// place is the transcript label of a channel (and thread).
func (s *Sim) place(channelID, thread string) string {
	var p string
	switch {
	case channelID == "":
		p = "#?"
	case channelID[0] == 'D':
		p = "@" + strings.ToLower(channelID[1:])
	default:
		p = "#" + strings.ToLower(channelID[1:])
	}
	if thread != "" {
		p += " thread"
	}
	return p
}

// Line formats one transcript line: "[place] who: text", with the lines of
// a multi-line text after the first indented four spaces.
func Line(place, who, text string) string {
	text = strings.ReplaceAll(text, "\n", "\n    ")
	return "[" + place + "] " + who + text + "\n"
}

// Encode turns text as a person types it into text as Slack sends it: &, <
// and > become entities, @name a user mention (@channel, @here and
// @everyone the special mentions), #name a channel link and a URL a link
// (<URL>, with & inside it encoded too). URLs are found in the typed text,
// before anything is encoded, as Slack does, so an entity never becomes part
// of one: a typed <http://evil|click> arrives as &lt;<http://evil>|click&gt;,
// whose text reads back as typed.
//
// Encode is a scan, not regular expressions: chat encodes every line it
// reads. A line with none of "http", &, <, >, @ and # is returned as it is,
// without allocating.
func Encode(typed, botName string) string {
	start, end := findURL(typed, 0)
	if start < 0 {
		return encodeWords(typed, botName)
	}
	var b strings.Builder
	last := 0
	for start >= 0 {
		b.WriteString(encodeWords(typed[last:start], botName))
		b.WriteByte('<')
		b.WriteString(escaper.Replace(typed[start:end]))
		b.WriteByte('>')
		last = end
		start, end = findURL(typed, last)
	}
	b.WriteString(encodeWords(typed[last:], botName))
	return b.String()
}

// escaper encodes what Slack encodes: &, < and >.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// findURL returns the bounds of the first URL in s at or after from, or
// -1, -1. A URL is what https?://[^\s<>|]+[^\s<>|.,;:!?)'"] matches: it
// ends before white space, <, > and |, which Slack's markup uses around and
// inside links (so a typed <http://evil|click> can never become a link
// labelled "click"), and trailing punctuation is not part of it.
func findURL(s string, from int) (start, end int) {
	for from < len(s) {
		i := strings.Index(s[from:], "http")
		if i < 0 {
			break
		}
		start = from + i
		from = start + 1
		rest := s[start+len("http"):]
		rest = strings.TrimPrefix(rest, "s")
		if !strings.HasPrefix(rest, "://") {
			continue
		}
		body := len(s) - len(rest) + len("://")
		run := body
		for run < len(s) && !urlStop(s[run]) {
			run++
		}
		end = run
		for end > body && urlTrail(s[end-1]) {
			end--
		}
		// At least one character, then the last one.
		if utf8.RuneCountInString(s[body:end]) >= 2 {
			return start, end
		}
	}
	return -1, -1
}

// urlStop reports whether c ends a URL: \s (as RE2 has it), <, > or |.
func urlStop(c byte) bool {
	switch c {
	case '\t', '\n', '\f', '\r', ' ', '<', '>', '|':
		return true
	}
	return false
}

// urlTrail reports whether c, a byte of a URL, may not be its last.
func urlTrail(c byte) bool {
	switch c {
	case '.', ',', ';', ':', '!', '?', ')', '\'', '"':
		return true
	}
	return false
}

// encodeWords encodes typed text that holds no URL, in three passes, each
// over the output of the one before, as Slack's own encoding reads.
func encodeWords(typed, botName string) string {
	s := typed
	if strings.ContainsAny(s, "&<>") {
		s = escaper.Replace(s)
	}
	return encodeChannels(encodeMentions(s, botName))
}

// encodeMentions turns each @name into a mention: <@ID>, <@UBOT> for
// the bot, <!channel>, <!here> or <!everyone>. An @ counts at the start or
// after a character that is not a word character, @, . or / (so
// bob@example.com is no mention); a name is what
// [A-Za-z0-9][\w.-]*[A-Za-z0-9_]|[A-Za-z0-9] matches.
func encodeMentions(s, botName string) string {
	if strings.IndexByte(s, '@') < 0 {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is in b
	for i := 0; i < len(s); i++ {
		if s[i] != '@' || !markAt(s, i, last, "@./") {
			continue
		}
		name := mentionName(s[i+1:])
		if name == "" {
			continue
		}
		b.WriteString(s[last:i])
		switch lower := strings.ToLower(name); {
		case lower == "channel" || lower == "here" || lower == "everyone":
			b.WriteString("<!" + lower + ">")
		case strings.EqualFold(name, botName):
			b.WriteString("<@" + BotUserID + ">")
		default:
			b.WriteString("<@" + UserID(name) + ">")
		}
		last = i + 1 + len(name)
		i = last - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// mentionName is the name at the start of s, after an @: an ASCII letter
// or digit, then word characters, dots and hyphens, ending in a word
// character; "" when there is none.
func mentionName(s string) string {
	if s == "" || !isAlnum(s[0]) {
		return ""
	}
	n := 1
	for n < len(s) && (isWord(s[n]) || s[n] == '.' || s[n] == '-') {
		n++
	}
	for n > 1 && !isWord(s[n-1]) {
		n--
	}
	return s[:n]
}

// encodeChannels turns each #name into a channel link, <#ID|name>. A # counts at the
// start or after a character that is not a word character, &, # or /
// (so &#39; and a/#b are none); a name is an ASCII letter, then word
// characters and hyphens.
func encodeChannels(s string) string {
	if strings.IndexByte(s, '#') < 0 {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is in b
	for i := 0; i < len(s); i++ {
		if s[i] != '#' || !markAt(s, i, last, "&#/") || i+1 == len(s) || !isLetter(s[i+1]) {
			continue
		}
		n := i + 2
		for n < len(s) && (isWord(s[n]) || s[n] == '-') {
			n++
		}
		name := s[i+1 : n]
		b.WriteString(s[last:i])
		b.WriteString("<#" + ChannelID(name) + "|" + name + ">")
		last = n
		i = last - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// markAt reports whether the @ or # at s[i] may start a mention or a
// channel: at the start of s, or after a character that is neither a word
// character nor one of not, and that is not part of the mention or channel
// that ends at last.
func markAt(s string, i, last int, not string) bool {
	if i == 0 {
		return true
	}
	c := s[i-1]
	return i-1 >= last && !isWord(c) && strings.IndexByte(not, c) < 0
}

// isWord reports whether c is a word character, \w: an ASCII letter,
// digit or _.
func isWord(c byte) bool { return isAlnum(c) || c == '_' }

func isAlnum(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

var (
	userRefRE    = regexp.MustCompile(`<@([UW][A-Z0-9._-]*)(\|[^>]*)?>`)
	channelRefRE = regexp.MustCompile(`<#(C[A-Z0-9._-]*)(\|[^>]*)?>`)
)

// Display shows a bot message as the transcript does: as sent to Slack,
// except that <@ID> reads @name and <#ID|name> reads #name.
func (s *Sim) Display(text string) string {
	if !strings.Contains(text, "<@") && !strings.Contains(text, "<#") {
		return text // most replies: no need for the regular expressions
	}
	text = userRefRE.ReplaceAllStringFunc(text, func(m string) string {
		sub := userRefRE.FindStringSubmatch(m)
		if sub[2] != "" {
			return "@" + sub[2][1:]
		}
		if sub[1] == BotUserID {
			return "@" + s.BotName
		}
		return "@" + strings.ToLower(sub[1][1:])
	})
	return channelRefRE.ReplaceAllStringFunc(text, func(m string) string {
		sub := channelRefRE.FindStringSubmatch(m)
		if sub[2] != "" {
			return "#" + sub[2][1:]
		}
		return "#" + strings.ToLower(sub[1][1:])
	})
}
