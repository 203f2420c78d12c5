package local

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// encodeRegexp is Encode as it was written first, with regular
// expressions: the reference the scan must agree with, byte for byte.
func encodeRegexp(typed, botName string) string {
	var b strings.Builder
	last := 0
	for _, loc := range refURLRE.FindAllStringIndex(typed, -1) {
		b.WriteString(encodeWordsRegexp(typed[last:loc[0]], botName))
		b.WriteString("<" + escaper.Replace(typed[loc[0]:loc[1]]) + ">")
		last = loc[1]
	}
	b.WriteString(encodeWordsRegexp(typed[last:], botName))
	return b.String()
}

var (
	refMentionRE = regexp.MustCompile(`(^|[^\w@./])@([A-Za-z0-9][\w.-]*[A-Za-z0-9_]|[A-Za-z0-9])`)
	refChannelRE = regexp.MustCompile(`(^|[^\w&#/])#([A-Za-z][\w-]*)`)
	refURLRE     = regexp.MustCompile(`https?://[^\s<>|]+[^\s<>|.,;:!?)'"]`)
)

func encodeWordsRegexp(typed, botName string) string {
	s := escaper.Replace(typed)
	s = refMentionRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := refMentionRE.FindStringSubmatch(m)
		name := sub[2]
		switch strings.ToLower(name) {
		case "channel", "here", "everyone":
			return sub[1] + "<!" + strings.ToLower(name) + ">"
		}
		if strings.EqualFold(name, botName) {
			return sub[1] + "<@" + BotUserID + ">"
		}
		return sub[1] + "<@" + UserID(name) + ">"
	})
	return refChannelRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := refChannelRE.FindStringSubmatch(m)
		return sub[1] + "<#" + ChannelID(sub[2]) + "|" + sub[2] + ">"
	})
}

// encodeCases are lines where the boundaries of mentions, channels, URLs
// and entities meet.
var encodeCases = []string{
	"", "@", "#", "@@bob", "@a@b", "@a.", "@a.-b.", "@_a", "@a_", "a@b", "x.@bob", "x/@bob", "é@bob",
	"#a-#b", "#a#b", "&#39;", "a&#foo", "x<#foo", "#1", "#a_-", "/#ops", "é#ops", "@bob#ops", "#ops@bob",
	"http://", "http://a", "http://ab", "http://a.", "http://é", "http://éé", "http://aé.", "HTTP://x.test",
	"httphttp://x.test", "https://x.test/a).", "(see http://x.test/a)", "http://a.test|@bob", "<http://a.test>",
	"http://x.test/\xe2\x82", "http://\xe2\x82\xac", "http://x\v", "@bob\xff #ops", "\xff@bob",
	"http://x.test&y=<1> @here @Channel @EVERYONE @RuleBot @rulebot: hi",
	"mail bob@example.com and ops@ #x http://a.b/c?d=1&e=2, @mary.jane.",
}

// encodeTokens are the pieces random lines are made of.
var encodeTokens = []string{
	"@", "#", "&", "<", ">", "|", ".", "-", "_", "/", ":", ")", "'", " ", "\t", "\n",
	"a", "Z", "9", "é", "\xff", "http", "https://", "http://", "s", "://", "bob", "rulebot", "here", "ops",
}

// TestEncodeMatchesRegexp checks Encode against the regular expressions it
// replaced on tricky lines, every line of up to three pieces and random
// lines of up to twelve.
func TestEncodeMatchesRegexp(t *testing.T) {
	check := func(typed string) {
		t.Helper()
		if got, want := Encode(typed, "rulebot"), encodeRegexp(typed, "rulebot"); got != want {
			t.Fatalf("Encode(%q) = %q, the regular expressions give %q", typed, got, want)
		}
	}
	for _, typed := range encodeCases {
		check(typed)
	}
	for _, a := range encodeTokens {
		for _, b := range encodeTokens {
			for _, c := range encodeTokens {
				check(a + b + c)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(13) {
			b.WriteString(encodeTokens[rng.IntN(len(encodeTokens))])
		}
		check(b.String())
	}
}

// FuzzEncode: go test -fuzz FuzzEncode ./local
func FuzzEncode(f *testing.F) {
	for _, typed := range encodeCases {
		f.Add(typed)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		if got, want := Encode(typed, "rulebot"), encodeRegexp(typed, "rulebot"); got != want {
			t.Fatalf("Encode(%q) = %q, the regular expressions give %q", typed, got, want)
		}
	})
}

// TestEncodePlainLine: a line of chat with nothing to encode costs no
// allocation; encoding every line chat reads used to cost more than the
// engine's answer to it.
func TestEncodePlainLine(t *testing.T) {
	line := "the staging deploy is still failing on PR 4821, can someone look at it"
	if got := Encode(line, "rulebot"); got != line {
		t.Fatalf("Encode(%q) = %q", line, got)
	}
	if n := testing.AllocsPerRun(100, func() { Encode(line, "rulebot") }); n != 0 {
		t.Errorf("Encode of a plain line: %v allocations, want 0", n)
	}
}
