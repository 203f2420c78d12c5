package engine

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rulebot/rulebot/engine/internal/exprlimit"
	"github.com/rulebot/rulebot/engine/internal/prefilter"
)

// input is a message prepared for matching: computed once, shared by every
// rule tried on it.
type input struct {
	msg       Message
	text      string // address stripped, entities decoded, links unwrapped, trimmed
	folded    string // prefilter.Fold(text)
	addressed bool
	fields    []span // the words of text
	exactKey  string // folded words joined by single spaces (computed lazily)

	e      *Engine
	rs     *Rules
	env    map[string]any   // built on first use
	budget exprlimit.Budget // each evaluation's, reset by exprlimit.Run

	// Rarely needed, so kept out of line: every message allocates an
	// input, which stays in a smaller size class without them.
	occ   *occurrence // set for a schedule occurrence, which has no message
	nonce *string     // drawn by the first mention() (see mention.go)
}

// An occurrence is one firing of a schedule rule (SPEC §7).
type occurrence struct {
	at     time.Time // its time, which now() returns
	target string    // where its replies go: "#NAME" or "@NAME", rendered from to
}

type span struct{ start, end int }

func (in *input) word(i int) string { return in.text[in.fields[i].start:in.fields[i].end] }

func (e *Engine) prepare(rs *Rules, m Message) *input {
	text, addressed := Normalize(m.Text, e.opts.BotUserID)
	in := &input{msg: m, text: text, addressed: addressed || m.DM, e: e, rs: rs}
	in.folded = prefilter.Fold(text)
	in.fields = fieldSpans(text)
	return in
}

func fieldSpans(s string) []span {
	var out []span
	start := -1
	for i, r := range s {
		if unicode.IsSpace(r) {
			if start >= 0 {
				out = append(out, span{start, i})
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, span{start, len(s)})
	}
	return out
}

// Normalize turns message text as Slack sends it into the text rules see:
// a leading mention of the bot (optionally followed by ':' or ',') is
// removed and reported as addressed; &amp;, &lt; and &gt; are decoded; links
// such as <http://x|x> become their URL; mentions (<@U1>, <!channel>,
// <#C1|name>) stay in Slack markup.
func Normalize(raw, botUserID string) (text string, addressed bool) {
	s := strings.TrimSpace(raw)
	if botUserID != "" && strings.HasPrefix(s, "<@"+botUserID) {
		rest := s[len(botUserID)+2:]
		if end := strings.IndexByte(rest, '>'); end >= 0 && (end == 0 || rest[0] == '|') {
			addressed = true
			s = strings.TrimLeft(rest[end+1:], " \t")
			if strings.HasPrefix(s, ":") || strings.HasPrefix(s, ",") {
				s = s[1:]
			}
			s = strings.TrimSpace(s)
		}
	}
	if !strings.ContainsAny(s, "<&") {
		return s, addressed
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(decodeEntities(s))
			break
		}
		b.WriteString(decodeEntities(s[:i]))
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			b.WriteString(decodeEntities(s[i:]))
			break
		}
		tok := s[i+1 : i+j]
		switch {
		case tok == "":
			b.WriteString("<>")
		case tok[0] == '@' || tok[0] == '#' || tok[0] == '!':
			b.WriteString(s[i : i+j+1])
		default:
			if k := strings.IndexByte(tok, '|'); k >= 0 {
				tok = tok[:k]
			}
			b.WriteString(decodeEntities(tok))
		}
		s = s[i+j+1:]
	}
	return strings.TrimSpace(b.String()), addressed
}

var entityDecoder = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

func decodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return entityDecoder.Replace(s)
}

// bindings are what a rule's match adds to the environment.
type bindings struct {
	args   []string
	rest   string
	groups []string
	named  map[string]string
}

// matches reports whether r's match accepts in, and what it binds.
func (r *rule) matches(in *input) (bindings, bool) {
	switch r.kind {
	case matchAll:
		return bindings{}, true
	case matchCommand:
		if !in.addressed {
			return bindings{}, false
		}
		for _, c := range r.commands {
			if n, ok := in.hasPrefixWords(c); ok {
				b := bindings{args: []string{}}
				if n < len(in.fields) {
					b.rest = strings.TrimSpace(in.text[in.fields[n].start:])
					for _, f := range in.fields[n:] {
						b.args = append(b.args, in.text[f.start:f.end])
					}
				}
				return b, true
			}
		}
	case matchExact:
		key := in.exact()
		for _, t := range r.texts {
			if key == t {
				return bindings{}, true
			}
		}
	case matchContains:
		for _, t := range r.texts {
			if containsWord(in.folded, t) {
				return bindings{}, true
			}
		}
	case matchRegex:
		loc := r.re.FindStringSubmatchIndex(in.text)
		if loc == nil {
			return bindings{}, false
		}
		b := bindings{groups: make([]string, len(loc)/2)}
		for i := range b.groups {
			if loc[2*i] >= 0 {
				b.groups[i] = in.text[loc[2*i]:loc[2*i+1]]
			}
		}
		for i, name := range r.re.SubexpNames() {
			if name != "" {
				if b.named == nil {
					b.named = map[string]string{}
				}
				b.named[name] = b.groups[i]
			}
		}
		return b, true
	}
	return bindings{}, false
}

// hasPrefixWords reports whether the message starts with the words of cmd
// (folded, single-spaced), and how many words that is.
func (in *input) hasPrefixWords(cmd string) (int, bool) {
	n := 0
	for w := range strings.SplitSeq(cmd, " ") {
		if n >= len(in.fields) || !strings.EqualFold(in.word(n), w) {
			return 0, false
		}
		n++
	}
	return n, true
}

func (in *input) exact() string {
	if in.exactKey == "" {
		in.exactKey = strings.Join(strings.Fields(in.folded), " ")
	}
	return in.exactKey
}

// containsWord reports whether needle occurs in haystack at word boundaries:
// an edge of needle that is a word character may not touch another one.
func containsWord(haystack, needle string) bool {
	if needle == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(needle)
	last, _ := utf8.DecodeLastRuneInString(needle)
	for off := 0; off <= len(haystack)-len(needle); {
		i := strings.Index(haystack[off:], needle)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(needle)
		before, _ := utf8.DecodeLastRuneInString(haystack[:i])
		after, _ := utf8.DecodeRuneInString(haystack[j:])
		if (i == 0 || !isWordRune(first) || !isWordRune(before)) &&
			(j == len(haystack) || !isWordRune(last) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(haystack[i:])
		off = i + size
	}
	return false
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// bind returns the expression environment for one rule: the message's
// values, built once, with b's values in place of the previous rule's.
// ctx is the message's, for the functions that read memory.
func (in *input) bind(ctx context.Context, b bindings) map[string]any {
	if in.env == nil {
		m := in.msg
		in.env = map[string]any{
			"text":      in.text,
			"raw":       m.Text,
			"user":      exprUser{ID: m.UserID, Name: m.UserName},
			"channel":   exprChannel{ID: m.ChannelID, Name: m.ChannelName, DM: m.DM},
			"thread":    m.ThreadTS,
			"addressed": in.addressed,
			"vars":      in.rs.vars,
			"bot":       exprBot{ID: in.e.opts.BotUserID, Name: in.rs.Bot.Name},
		}
		in.e.runtimeFuncs(in.env)
		in.bindFuncs(ctx)
		in.env[exprlimit.Key] = &in.budget
	}
	if b.args == nil {
		b.args = []string{}
	}
	if b.groups == nil {
		b.groups = []string{}
	}
	if b.named == nil {
		b.named = map[string]string{}
	}
	in.env["args"] = b.args
	in.env["rest"] = b.rest
	in.env["groups"] = b.groups
	in.env["match"] = b.named
	in.env["fetch"] = exprFetch{}
	in.env["error"] = ""
	return in.env
}

// bindFuncs binds the functions that are closures over the message, those
// of them that the rules call.
func (in *input) bindFuncs(ctx context.Context) {
	f := in.rs.funcs
	if f&funcNow != 0 {
		in.env["now"] = in.now
	}
	if f&funcRecall != 0 {
		in.env["recall"] = func(key string) (any, error) { return in.recall(ctx, key) }
	}
	if f&funcRecallAll != 0 {
		in.env["recall_all"] = func(prefix string) (map[string]any, error) { return in.recallAll(ctx, prefix) }
	}
	if f&funcMention != 0 {
		in.env["mention"] = in.mention
	}
}

// now is now(): the time in bot.timezone; a schedule occurrence's time for
// a schedule rule.
func (in *input) now() time.Time {
	var t time.Time
	if in.occ != nil {
		t = in.occ.at
	} else {
		t = in.e.opts.Now()
	}
	if loc := in.rs.Bot.Location; loc != nil {
		return t.In(loc)
	}
	return t.UTC()
}
