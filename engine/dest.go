package engine

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/rulebot/rulebot/internal/yamlpos"
)

// destination compiles to and ephemeral, which say where a rule's replies
// go (SPEC §6), and checks them against thread.
func (l *loader) destination(r *rule, m map[string]*yamlpos.Pair, what string) bool {
	ok := true
	scheduled := m["schedule"] != nil // which says it all about thread and ephemeral
	if p := m["ephemeral"]; p != nil {
		if r.ephemeral, ok = l.Bool(p.Val, what+": ephemeral"); ok && r.ephemeral && m["to"] != nil && !scheduled {
			l.Errorf(p.Key, "%s: ephemeral cannot be used with to: an ephemeral reply is shown in the message's channel", what)
			ok = false
		}
	}
	p := m["to"]
	if p == nil {
		return ok
	}
	if r.thread && !scheduled {
		l.Errorf(m["thread"].Key, "%s: thread cannot be used with to: the reply goes to %s", what, strings.TrimSpace(p.Val.Value))
		ok = false
	}
	s, good := l.Str(p.Val, what+": to")
	if !good {
		return false
	}
	if r.to = l.template(p.Val, s, what+": to"); r.to == nil {
		return false
	}
	if r.to.isLiteral() {
		if _, err := parseTarget(s); err != nil {
			l.Errorf(p.Val, "%s: to: %v", what, err)
			return false
		}
	}
	for _, part := range r.to.parts {
		if part.prog == nil || scheduled {
			continue
		}
		if names := usedNames(part.prog, senderNames); len(names) > 0 {
			l.Problems = append(l.Problems, Problem{File: l.File, Line: p.Val.Line, Col: scalarCol(p.Val, part.off, 0), Warning: true,
				Msg: fmt.Sprintf("%s: to uses %s, which the message's sender writes: the sender chooses where the bot posts", what, strings.Join(names, ", "))})
			break
		}
	}
	return ok
}

// parseTarget checks where to sends a reply: "dm", "#NAME" or "@NAME",
// surrounding spaces removed.
func parseTarget(s string) (string, error) {
	t := strings.TrimSpace(s)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%q %s: write dm, \"#CHANNEL\" or \"@USER\"", shorten(s, 40), why)
	}
	if t == "dm" {
		return t, nil
	}
	if t == "" {
		return bad("is empty")
	}
	if t[0] != '#' && t[0] != '@' {
		if strings.EqualFold(t, "dm") {
			return bad("is not dm (which is written in lower case)")
		}
		return bad("is not a place to send a reply")
	}
	name := t[1:]
	switch {
	case strings.TrimSpace(name) == "":
		return bad("has no name after " + t[:1])
	case len(name) > 80:
		return bad("is too long for a name")
	case strings.ContainsAny(name, "<>&#@"):
		return bad("holds a character names do not have")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return bad("holds a control character")
	case t[0] == '#' && strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return bad("holds a space, which channel names do not")
	}
	return t, nil
}

// toSource returns to as written, or "".
func (r *rule) toSource() string {
	if r.to == nil {
		return ""
	}
	return r.to.src
}

// A dest is where a rule's replies go, as the fields of Action say it.
type dest struct {
	channel, to, dmUser, ephemeral, thread string
}

// dest computes where r's replies for in go. It fails when to renders
// something that is not a destination, or when the reply would go to the
// message's author and there is none (another bot's message).
func (e *Engine) dest(r *rule, in *input, env map[string]any) (dest, error) {
	if in.occ != nil {
		return dest{to: in.occ.target}, nil // rendered first, by Fire
	}
	d := dest{channel: in.msg.ChannelID}
	if r.to != nil {
		s, err := r.to.render(in, env, escapeNone)
		if err != nil {
			return d, fmt.Errorf("to: %w", err)
		}
		t, err := parseTarget(s)
		switch {
		case err != nil:
			return d, fmt.Errorf("to: %w", err)
		case t != "dm":
			d.to = t
		case in.msg.UserID == "":
			return d, fmt.Errorf("to: dm: the message has no author to write to")
		default:
			d.dmUser = in.msg.UserID
		}
		return d, nil
	}
	d.thread = in.msg.ThreadTS
	if d.thread == "" && r.thread {
		d.thread = in.msg.TS
	}
	if r.ephemeral && !in.msg.DM {
		if in.msg.UserID == "" {
			return d, fmt.Errorf("ephemeral: the message has no author to show the reply to")
		}
		d.ephemeral = in.msg.UserID
	}
	return d, nil
}

// where names d for a log line.
func (d dest) where() string {
	switch {
	case d.to != "":
		return d.to
	case d.dmUser != "":
		return "dm " + d.dmUser
	}
	return d.channel
}
