package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rulebot/rulebot/engine"
)

// TestReplySplitAndSanitize checks that every path that sends text (reply,
// on_error, help) sends it sanitized and split, in order, to the same
// channel and thread, and that a cut is logged and counted.
func TestReplySplitAndSanitize(t *testing.T) {
	rs := compile(t, `
rules:
  - name: long
    match: {command: long}
    thread: true
    reply: "{{ join(map(1..int(num(args[0])), 'line ' + string(#)), '\\n') }}"
  - name: echo
    match: {command: echo}
    reply: "you said {{ rest }}"
  - name: say
    match: {command: say}
    reply: "{{ rest }}"
  - name: broken
    match: {command: broken}
    reply: "{{ num('x') }}"
    on_error: "{{ repeat('ab ', 3000) }}"
`)
	var logs bytes.Buffer
	var drops []string
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	opts.Dropped = func(reason string) { drops = append(drops, reason) }
	e := engine.New(rs, opts)

	handle := func(m engine.Message) []engine.Action {
		return e.Handle(context.Background(), m)
	}
	check := func(name string, acts []engine.Action, wantParts int, wantThread string) {
		t.Helper()
		if len(acts) != wantParts {
			t.Fatalf("%s: %d actions, want %d", name, len(acts), wantParts)
		}
		for i, a := range acts {
			if n := utf8.RuneCountInString(a.Text); a.Kind != engine.Reply || n == 0 || n > engine.MaxReplyChars ||
				a.Channel != "CGENERAL" || a.ThreadTS != wantThread || !utf8.ValidString(a.Text) {
				t.Errorf("%s: part %d: kind %d, %d characters, channel %s, thread %q", name, i, a.Kind, n, a.Channel, a.ThreadTS)
			}
		}
	}

	// 1,000 lines of about 9 characters: 3 messages, split at line breaks.
	acts := handle(at("long 1000"))
	check("long 1000", acts, 3, "1700000000.000100")
	if !strings.HasPrefix(acts[0].Text, "line 1\nline 2\n") || !strings.HasSuffix(acts[2].Text, "line 999\nline 1000") {
		t.Errorf("long 1000: parts %q … %q", acts[0].Text[:20], acts[2].Text[len(acts[2].Text)-20:])
	}
	for i := 1; i < len(acts); i++ {
		prev := acts[i-1].Text[strings.LastIndexByte(acts[i-1].Text, '\n')+1:]
		first, _, _ := strings.Cut(acts[i].Text, "\n")
		if !strings.HasPrefix(prev, "line ") || !strings.HasPrefix(first, "line ") {
			t.Errorf("split inside a line: %q | %q", prev, first)
		}
	}
	if len(drops) != 0 {
		t.Errorf("drops %q for a reply that was not cut", drops)
	}

	// 10,000 lines: 5 messages, the fifth cut with …, logged and counted.
	acts = handle(at("long 10000"))
	check("long 10000", acts, 5, "1700000000.000100")
	if last := acts[4].Text; !strings.HasSuffix(last, "…") || utf8.RuneCountInString(last) > engine.MaxReplyChars {
		t.Errorf("the fifth part ends %q", last[len(last)-20:])
	}
	if !strings.Contains(logs.String(), "reply too long") || !strings.Contains(logs.String(), "rule=long") {
		t.Errorf("no log line for the cut reply:\n%s", logs.String())
	}
	if strings.Join(drops, ",") != engine.DropReplyTruncated {
		t.Errorf("drops %q, want one %s", drops, engine.DropReplyTruncated)
	}

	// NUL removed, invalid UTF-8 replaced, in what a user sends.
	acts = handle(at("echo a\x00b\xffc"))
	check("echo", acts, 1, "")
	if want := "you said ab\uFFFDc"; acts[0].Text != want {
		t.Errorf("echo: %q, want %q", acts[0].Text, want)
	}
	// Only NUL bytes: nothing to send.
	if acts := handle(at("say \x00 \x00")); len(acts) != 0 {
		t.Errorf("a reply of NUL bytes: %q", show(at(""), acts))
	}

	// on_error is split the same way.
	check("on_error", handle(at("broken")), 3, "") // 8,999 characters
}

// TestBotFlood sends a rule that answers every message 15 messages from
// another bot: 10 are answered, then nothing until a minute has passed;
// people are never capped, and each channel has its own count.
func TestBotFlood(t *testing.T) {
	rs := compile(t, `
bot:
  ignore_bots: false
rules:
  - name: pong
    match: {contains: ping}
    reply: pong
    react: eyes
  - name: quiet
    match: {contains: quiet}
    react: zzz
    when: "false"
`)
	clk := newClock()
	var logs bytes.Buffer
	var drops []string
	opts := options()
	opts.Now = clk.Now
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	opts.Dropped = func(reason string) { drops = append(drops, reason) }
	e := engine.New(rs, opts)

	fromBot := func(text string) engine.Message {
		m := msg(text)
		m.UserID, m.UserName, m.BotID = "UDEPLOYBOT", "deploybot", "BDEPLOYBOT"
		return m
	}
	answered := func(m engine.Message, n int) int {
		got := 0
		for range n {
			if acts := e.Handle(context.Background(), m); len(acts) > 0 {
				got++ // a reply and a reaction, or nothing at all
			}
		}
		return got
	}
	// Messages that get no answer do not count.
	if got := answered(fromBot("quiet please"), 20); got != 0 {
		t.Fatalf("answered %d quiet messages", got)
	}
	if got := answered(fromBot("ping"), 15); got != 10 {
		t.Errorf("answered %d of 15 bot messages, want 10", got)
	}
	if got := answered(msg("ping"), 15); got != 15 {
		t.Errorf("answered %d of 15 messages from a person, want all", got)
	}
	if got := answered(in("random", fromBot("ping")), 3); got != 3 {
		t.Errorf("answered %d of 3 bot messages in another channel, want 3", got)
	}
	subtype := msg("ping") // a bot_message without a bot id (an integration)
	subtype.UserID, subtype.Subtype = "", "bot_message"
	if got := answered(subtype, 1); got != 0 {
		t.Errorf("answered a bot_message past the limit")
	}
	if n := strings.Count(logs.String(), "bot.flood reached"); n != 1 {
		t.Errorf("%d bot.flood log lines, want 1 per channel and window:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "channel=CGENERAL limit=10/1m rule=pong") {
		t.Errorf("the log line lacks the channel, limit or rule:\n%s", logs.String())
	}
	if len(drops) != 6 || drops[0] != engine.DropBotFlood {
		t.Errorf("drops %q, want 6× %s", drops, engine.DropBotFlood)
	}

	// The window slides: 59 s later it is still full, at 60 s it is empty.
	clk.Advance(59 * time.Second)
	if got := answered(fromBot("ping"), 1); got != 0 {
		t.Errorf("answered after 59s")
	}
	clk.Advance(time.Second)
	if got := answered(fromBot("ping"), 15); got != 10 {
		t.Errorf("after a minute: answered %d of 15, want 10", got)
	}
	if n := strings.Count(logs.String(), "bot.flood reached"); n != 2 {
		t.Errorf("%d bot.flood log lines after a second window, want 2", n)
	}

	// A reload keeps the count and uses the new limit.
	e.Swap(compile(t, "bot: {ignore_bots: false, flood: 12/1m}\nrules:\n  - {name: pong, match: {contains: ping}, reply: pong}\n"))
	if got := answered(fromBot("ping"), 5); got != 2 {
		t.Errorf("after a reload to 12/1m: answered %d, want 2", got)
	}
}

// TestBotFloodMemory answers bots in 100,000 channels, one message each,
// a minute apart in groups: the state for channels whose window has passed
// is pruned, so memory stays bounded.
func TestBotFloodMemory(t *testing.T) {
	rs := compile(t, "bot: {ignore_bots: false}\nrules:\n  - {name: pong, reply: pong}\n")
	clk := newClock()
	opts := options()
	opts.Now = clk.Now
	e := engine.New(rs, opts)
	m := msg("ping")
	m.BotID = "BOTHER"
	for i := range 100_000 {
		if i%5000 == 0 {
			clk.Advance(time.Minute)
		}
		m.ChannelID = "C" + strings.Repeat("X", i%7) + string(rune('A'+i%26)) + itoa(i)
		if len(e.Handle(context.Background(), m)) != 1 {
			t.Fatalf("channel %d not answered", i)
		}
	}
	if n := engine.FloodChannels(e); n > 20_000 {
		t.Errorf("%d channels remembered, want those of the last minute or two", n)
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		if i /= 10; i == 0 {
			return string(b[n:])
		}
	}
}

// TestHelpSplit checks that the built-in help is split like any reply.
func TestHelpSplit(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "  - {name: r%d, match: {command: r%d}, help: \"r%d — the help line of rule number %d\", reply: x}\n", i, i, i, i)
	}
	e := engine.New(compile(t, b.String()), options())
	acts := e.Handle(context.Background(), at("help"))
	if len(acts) != 3 { // 300 lines of about 38 characters
		t.Fatalf("help: %d messages, want 3", len(acts))
	}
	var all []string
	for _, a := range acts {
		all = append(all, a.Text)
	}
	if n := strings.Count(strings.Join(all, "\n"), "\n"); n != 299 {
		t.Errorf("help: %d lines, want 300", n+1)
	}
	for i, a := range acts {
		if n := utf8.RuneCountInString(a.Text); a.Rule != "help" || n > engine.MaxReplyChars || !strings.HasPrefix(a.Text, "r") {
			t.Errorf("help part %d: rule %s, %d characters, starts %.20q", i, a.Rule, n, a.Text)
		}
	}
}

func TestFloodConfig(t *testing.T) {
	tests := []struct {
		value string
		want  engine.Flood
		err   string
	}{
		{"10/1m", engine.Flood{N: 10, Per: time.Minute}, ""},
		{" 5 / 30s ", engine.Flood{N: 5, Per: 30 * time.Second}, ""},
		{"1000/1h", engine.Flood{N: 1000, Per: time.Hour}, ""},
		{"10", engine.Flood{}, `"10" is not a limit like 10/1m`},
		{"off", engine.Flood{}, `"off" is not a limit like 10/1m`},
		{"10/0s", engine.Flood{}, `"10/0s" is not a limit like 10/1m`},
		{"10/-1m", engine.Flood{}, `"10/-1m" is not a limit like 10/1m`},
		{"10/1x", engine.Flood{}, `"10/1x" is not a limit like 10/1m`},
		{"-1/1m", engine.Flood{}, `"-1/1m" is not a limit like 10/1m`},
		{"1001/1m", engine.Flood{}, `"1001/1m": the count must be from 1 to 1000`},
		{"99999999999999999999/1m", engine.Flood{}, `is not a limit like 10/1m`},
	}
	for _, tt := range tests {
		src := fmt.Sprintf("bot: {ignore_bots: false, flood: %q}\nrules:\n  - {name: a, reply: x}\n", tt.value)
		rs, err := engine.Compile("rules.yaml", []byte(src))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("flood: %q: %v", tt.value, err)
		case tt.err == "" && rs.Bot.Flood != tt.want:
			t.Errorf("flood: %q = %+v, want %+v", tt.value, rs.Bot.Flood, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), "rules.yaml:1:34: bot.flood: ") || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("flood: %q: error %v, want one at 1:34 with %q", tt.value, err, tt.err)
		}
	}
}
