package engine

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The limits of one reply. Characters are Unicode code points.
const (
	MaxReplyChars = 4000 // the most characters one message holds
	MaxReplyParts = 5    // the most messages one reply becomes
)

// sanitize removes NUL bytes and replaces every byte that is not part of a
// valid UTF-8 encoding with U+FFFD, so that Slack receives valid text.
func sanitize(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// splitReply splits text into messages of at most MaxReplyChars
// characters: at the last line break that fits, else at the last space or
// tab, else anywhere, never inside a UTF-8 sequence and, when it can be
// helped, never inside Slack markup (<…> or an &…; entity). The character
// split at is dropped; trailing white space of a part and line breaks that
// would start one are too, and no part is empty. When that would take more
// than MaxReplyParts messages, only MaxReplyParts are returned and the last
// is cut to end with "…"; truncated reports that.
func splitReply(text string) (parts []string, truncated bool) {
	text = strings.TrimRightFunc(text, unicode.IsSpace)
	for text != "" {
		if utf8.RuneCountInString(text) <= MaxReplyChars {
			return append(parts, text), false
		}
		if len(parts) == MaxReplyParts-1 {
			part, _ := cutPart(text, MaxReplyChars-1)
			return append(parts, part+"…"), true
		}
		var part string
		part, text = cutPart(text, MaxReplyChars)
		parts = append(parts, part)
	}
	return parts, false
}

// cutPart cuts the first part of at most max characters off s, which is
// longer, and returns it and the rest.
func cutPart(s string, max int) (part, rest string) {
	end := len(s) // the byte offset just past the first max characters
	n := 0
	for i := range s {
		if n == max {
			end = i
			break
		}
		n++
	}
	// A break character right after the first max characters still lets
	// the part hold all of them; break characters are one byte long.
	window := s[:min(end+1, len(s))]
	newline, space, safe := -1, -1, -1
	inTag, inEntity := false, false
	for i, r := range window {
		if i > 0 {
			if i <= end && !inTag && !inEntity {
				safe = i // a cut before s[i] splits no markup
			}
			switch {
			case r == '\n':
				newline = i
			case (r == ' ' || r == '\t') && !inTag:
				space = i
			}
		}
		switch r {
		case '<': // <@U1>, <#C1|name>, <!here>, <http://x|label with spaces>
			inTag = i+1 < len(s) && isTagStart(s[i+1])
		case '>', '\n':
			inTag = false
		}
		inEntity = r == '&' || inEntity && r != ';' && isEntityByte(r) // &amp; &lt; &gt; &#123;
	}
	cut, next := end, end // anywhere
	switch {
	case newline > 0:
		cut, next = newline, newline+1
	case space > 0:
		cut, next = space, space+1
	case safe > 0:
		cut, next = safe, safe
	}
	part = strings.TrimRightFunc(s[:cut], unicode.IsSpace)
	if part == "" { // nothing but white space before the break
		part, next = s[:end], end
	}
	return part, strings.TrimLeft(s[next:], "\r\n")
}

func isTagStart(b byte) bool {
	return b == '@' || b == '#' || b == '!' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

func isEntityByte(r rune) bool {
	return r == '#' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}
