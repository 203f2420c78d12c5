package engine

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
)

// mention(ID) is the one way an expression can mention someone (SPEC §2):
// for a Slack user id it returns a token that only this message's
// evaluations can make, which rendering a reply turns into <@ID>, unescaped;
// any other value it returns as it is, to be escaped as text. The token
// holds a random number drawn for the message, so no text a user writes,
// a server answers or memory holds can pass for one. Outside replies (a
// memory write, a fetch, to) the token becomes the plain text <@ID>, which
// a reply then escapes like any other stored text.
const (
	mentionOpen  = "\uFDD0" // Unicode noncharacters: never in text people mean
	mentionClose = "\uFDD1"
)

var userIDRE = regexp.MustCompile(`^[UW][A-Z0-9]+$`)

// mention is mention(ID).
func (in *input) mention(id string) string {
	if !userIDRE.MatchString(id) {
		return id
	}
	if in.nonce == nil {
		n := fmt.Sprintf("%020d", rand.Uint64())
		in.nonce = &n
	}
	return mentionOpen + *in.nonce + id + mentionClose
}

// hasMentions reports whether s may hold mention tokens of in.
func (in *input) hasMentions(s string) bool {
	return in != nil && in.nonce != nil && strings.Contains(s, mentionOpen)
}

// mentions rewrites the mention tokens of in in s as <@ID>, passing the
// text around them through escape.
func (in *input) mentions(s string, escape func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, mentionOpen)
		if i < 0 {
			break
		}
		b.WriteString(escape(s[:i]))
		rest := s[i+len(mentionOpen):]
		id, ok := strings.CutPrefix(rest, *in.nonce)
		if ok {
			id, _, ok = strings.Cut(id, mentionClose)
		}
		if !ok || !userIDRE.MatchString(id) {
			b.WriteString(escape(mentionOpen))
			s = rest
			continue
		}
		b.WriteString("<@" + id + ">")
		s = rest[len(*in.nonce)+len(id)+len(mentionClose):]
	}
	b.WriteString(escape(s))
	return b.String()
}

func noEscape(s string) string { return s }
