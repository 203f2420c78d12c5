package local

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

func TestEncode(t *testing.T) {
	tests := []struct{ typed, want string }{
		{"@rulebot vidcard $3,000,000", "<@UBOT> vidcard $3,000,000"},
		{"@RuleBot: hi", "<@UBOT>: hi"},
		{"hi @bob and @mary.jane.", "hi <@UBOB> and <@UMARY.JANE>."},
		{"@channel @here @everyone", "<!channel> <!here> <!everyone>"},
		{"mail bob@example.com", "mail bob@example.com"},
		{"see #random, not #1", "see <#CRANDOM|random>, not #1"},
		{"a & b < c > d", "a &amp; b &lt; c &gt; d"},
		{"go to https://example.com/a?b=1&c=2.", "go to <https://example.com/a?b=1&amp;c=2>."},
		{"https://x.test/@bob#frag", "<https://x.test/@bob#frag>"},
		// A typed link markup is text: the URL inside is found before < and
		// > are encoded, and ends at the |, so no entity joins it.
		{"<http://evil|click>", "&lt;<http://evil>|click&gt;"},
		{"<http://x.test/a?b=1&c=2>", "&lt;<http://x.test/a?b=1&amp;c=2>&gt;"},
		{"see http://a.test|http://b.test @bob", "see <http://a.test>|<http://b.test> <@UBOB>"},
		{"<@bob> <#random>", "&lt;<@UBOB>&gt; &lt;<#CRANDOM|random>&gt;"},
	}
	for _, tt := range tests {
		if got := Encode(tt.typed, "rulebot"); got != tt.want {
			t.Errorf("Encode(%q) = %q, want %q", tt.typed, got, tt.want)
		}
	}
}

// TestEncodeReadsBack checks that what a person types, encoded as Slack
// sends it, is the text rules see.
func TestEncodeReadsBack(t *testing.T) {
	for _, typed := range []string{
		"<http://evil|click>",
		"a & b < c > d &amp; &lt;",
		"go to https://example.com/a?b=1&c=2.",
		"<https://example.com>",
		"x|y <|> |http://a.test|",
	} {
		if got, _ := engine.Normalize(Encode(typed, "rulebot"), BotUserID); got != typed {
			t.Errorf("Normalize(Encode(%q)) = %q", typed, got)
		}
	}
}

// TestChatTypedLink echoes a typed link markup through a rule: the bot sees
// the text as typed and sends it escaped, so Slack shows it as text.
func TestChatTypedLink(t *testing.T) {
	rs, err := engine.Compile("rules.yaml", []byte("rules:\n  - {name: echo, reply: '{{ text }}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sim := &Sim{Engine: engine.New(rs, engine.Options{BotUserID: BotUserID}), BotName: "rulebot", Now: time.Now, Out: &out}
	if err := ChatScript(context.Background(), sim, strings.NewReader("<http://evil|click>\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "[#general] you: <http://evil|click>\n[#general] rulebot: &lt;http://evil|click&gt;\n"
	if out.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDisplay(t *testing.T) {
	s := &Sim{BotName: "rulebot"}
	tests := []struct{ sent, want string }{
		{"hi <@UALICE>, I am <@UBOT>", "hi @alice, I am @rulebot"},
		{"<@U123|ann> in <#CGENERAL|general> and <#CRANDOM>", "@ann in #general and #random"},
		{"&lt;!channel&gt; <!here>", "&lt;!channel&gt; <!here>"},
	}
	for _, tt := range tests {
		if got := s.Display(tt.sent); got != tt.want {
			t.Errorf("Display(%q) = %q, want %q", tt.sent, got, tt.want)
		}
	}
}

func TestParseChatLine(t *testing.T) {
	tests := []struct {
		line string
		want Post
		ok   bool
		err  bool
	}{
		{"hello", Post{User: "you", Channel: "general", Text: "hello"}, true, false},
		{"   ", Post{}, false, false},
		{"/as bob hi there", Post{User: "bob", Channel: "general", Text: "hi there"}, true, false},
		{"/dm help", Post{User: "you", Channel: "general", DM: true, Text: "help"}, true, false},
		{"/as bob /dm hi", Post{User: "bob", Channel: "general", DM: true, Text: "hi"}, true, false},
		{"/dm /as @bob hi", Post{User: "bob", Channel: "general", DM: true, Text: "hi"}, true, false},
		{"/as", Post{}, false, true},
		{"/dm", Post{}, false, false},
		{"/in #ops deploy now", Post{User: "you", Channel: "ops", Text: "deploy now"}, true, false},
		{"/in ops hi", Post{User: "you", Channel: "ops", Text: "hi"}, true, false},
		{"/as bob /in #random king", Post{User: "bob", Channel: "random", Text: "king"}, true, false},
		{"/in", Post{}, false, true},
		{"/in #no/pe hi", Post{}, false, true},
		{"/in #ops /dm hi", Post{}, false, true},
		{"/thread me too", Post{User: "you", Channel: "general", Thread: true, Text: "me too"}, true, false},
		{"/in #ops /thread /as bob done", Post{User: "bob", Channel: "ops", Thread: true, Text: "done"}, true, false},
		{"/foo bar", Post{}, false, true},
		{"/shrug", Post{}, false, true},
		{"/as bob /nope hi", Post{}, false, true},
		{"a /foo in the middle", Post{User: "you", Channel: "general", Text: "a /foo in the middle"}, true, false},
		{"/ alone", Post{User: "you", Channel: "general", Text: "/ alone"}, true, false},
	}
	for _, tt := range tests {
		p, ok, err := ParseChatLine(tt.line)
		if (err != nil) != tt.err || ok != tt.ok || (ok && p != tt.want) {
			t.Errorf("ParseChatLine(%q) = %+v, %v, %v; want %+v, %v, err %v", tt.line, p, ok, err, tt.want, tt.ok, tt.err)
		}
	}
}

// TestSpecExamples runs SPEC.md §3's example conversation against SPEC.md
// §2's example rules; the golden is SPEC.md §5's transcript format.
func TestSpecExamples(t *testing.T) {
	var out bytes.Buffer
	res, err := RunTests(context.Background(), TestOptions{Paths: []string{"testdata/spec"}, Update: *update}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != 0 || res.Passed != 1 {
		t.Errorf("exit %d:\n%s", res.ExitCode(), out.String())
	}
	golden, _ := os.ReadFile("testdata/spec/conversation.golden")
	for _, line := range []string{
		"[#general] rulebot: That's 10,000 video cards!\n[#general] rulebot reacts :thumbsup:\n",
		"[@carol] rulebot: vidcard {dollars} — how many video cards that buys\n    gotme — a Game of Thrones quote\n",
		"[#random] bob: king\n[#random] rulebot: *DAKINGINDANORF!!*\n[#random] bob: the king again\n[#random] bob: looking for the king\n[#random] rulebot:",
		"[#general] deploybot: hello\n[#general thread] bob: hello\n[#general thread] rulebot:",
		"[#general] rulebot: Winter is coming. -Ned Stark\n",
		"[#general] rulebot: first line of a long reply\n    second line, indented four spaces\n[#general]",
	} {
		if !strings.Contains(string(golden), line) {
			t.Errorf("golden lacks %q", line)
		}
	}
}

// TestReplyLine shows each kind of reply where it lands (SPEC §5).
func TestReplyLine(t *testing.T) {
	tests := []struct {
		name string
		act  engine.Action
		want string
	}{
		{"in the channel", engine.Action{Channel: "CGENERAL", Text: "hi <@UBOB>"}, "[#general] rulebot: hi @bob\n"},
		{"in a thread", engine.Action{Channel: "CGENERAL", ThreadTS: "1.2", Text: "hi"}, "[#general thread] rulebot: hi\n"},
		{"to a channel", engine.Action{Channel: "CGENERAL", To: "#ops", Text: "<@UALICE> needs help in <#CGENERAL>: db"}, "[#ops] rulebot: @alice needs help in #general: db\n"},
		{"to a person", engine.Action{Channel: "CGENERAL", To: "@alice", Text: "psst"}, "[@alice] rulebot: psst\n"},
		{"to a name in capitals", engine.Action{To: "@Alice", Text: "psst"}, "[@alice] rulebot: psst\n"},
		{"to dm", engine.Action{Channel: "CGENERAL", DMUser: "UALICE", Text: "psst"}, "[@alice] rulebot: psst\n"},
		{"ephemeral", engine.Action{Channel: "CGENERAL", Ephemeral: "UALICE", Text: "only you"}, "[#general] rulebot (only alice sees): only you\n"},
		{"ephemeral in a thread", engine.Action{Channel: "CGENERAL", ThreadTS: "1.2", Ephemeral: "UMARY.JANE", Text: "only you"}, "[#general thread] rulebot (only mary.jane sees): only you\n"},
		{"ephemeral in a DM", engine.Action{Channel: "DALICE", Ephemeral: "UALICE", Text: "only you"}, "[@alice] rulebot: only you\n"},
		{"several lines elsewhere", engine.Action{To: "#ops", Text: "a\nb"}, "[#ops] rulebot: a\n    b\n"},
		{"a reaction", engine.Action{Kind: engine.React, Channel: "CGENERAL", Emoji: "eyes"}, "[#general] rulebot reacts :eyes:\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		s := &Sim{BotName: "rulebot", Out: &out}
		if err := s.show([]engine.Action{tt.act}, ""); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, out.String(), tt.want)
		}
	}
}

func TestParseFire(t *testing.T) {
	tests := []struct {
		line, name string
		ok         bool
	}{
		{"/fire standup", "standup", true},
		{"  /fire   standup  ", "standup", true},
		{"/fire", "", true},
		{"/fired standup", "", false},
		{"/as bob /fire standup", "", false},
		{"fire standup", "", false},
	}
	for _, tt := range tests {
		if name, ok := ParseFire(tt.line); name != tt.name || ok != tt.ok {
			t.Errorf("ParseFire(%q) = %q, %v; want %q, %v", tt.line, name, ok, tt.name, tt.ok)
		}
	}
}
