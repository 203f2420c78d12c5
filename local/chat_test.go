package local

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// chatRules fail in rule boom ("int(boom)") and echo everything else.
const chatRules = `rules:
  - {name: boom, match: {contains: boom}, reply: '{{ int(text) + 1 }}'}
  - {name: echo, reply: 'echo {{ text }}'}
`

// newChatSim is a Sim on chatRules whose engine's warnings are notices,
// as rulebot chat makes it.
func newChatSim(t *testing.T, out io.Writer) *Sim {
	t.Helper()
	rs, err := engine.Compile("rules.yaml", []byte(chatRules))
	if err != nil {
		t.Fatal(err)
	}
	notices := make(chan string, 64)
	eng := engine.New(rs, engine.Options{BotUserID: BotUserID, Logger: slog.New(NoticeHandler(notices))})
	return &Sim{Engine: eng, BotName: "rulebot", Now: time.Now, Out: out, Notices: notices}
}

// TestChatScriptCommands: in a script, /in, /thread and their combinations
// post where they say; a rule's failure is one readable line on the error
// output, in order; /help lists the commands; an unknown /command and
// /reload without a rules file are refused; /quit ends the chat.
func TestChatScriptCommands(t *testing.T) {
	var transcript, errOut strings.Builder
	script := strings.Join([]string{
		"boom",
		"/in #ops hi",
		"/thread yo",
		"/as bob /in #ops /thread me too",
		"/foo bar",
		"/help",
		"/reload",
		"/thread",
		"/quit",
		"never read",
	}, "\n") + "\n"
	if err := chatScript(context.Background(), newChatSim(t, &transcript), strings.NewReader(script), &errOut); err != nil {
		t.Fatal(err)
	}
	wantTranscript := `[#general] you: boom
[#ops] you: hi
[#ops] rulebot: echo hi
[#general thread] you: yo
[#general thread] rulebot: echo yo
[#ops thread] bob: me too
[#ops thread] rulebot: echo me too
`
	if got := transcript.String(); got != wantTranscript {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, wantTranscript)
	}
	wantErr := "(rule boom failed: invalid operation: int(boom))\n" +
		"line 5: unknown command /foo: try /help\n" +
		chatHelp +
		"line 7: /reload: there is no rules file to reload here\n"
	if got := errOut.String(); got != wantErr {
		t.Errorf("error output:\n%s\nwant:\n%s", got, wantErr)
	}
}

// TestChatReload: /reload calls the Sim's Reload and says what it
// reported, before the next line's answer.
func TestChatReload(t *testing.T) {
	var transcript, errOut strings.Builder
	sim := newChatSim(t, &transcript)
	notices := make(chan string, 1)
	sim.Notices = notices
	sim.Reload = func(context.Context) { notices <- "rules reloaded: 2 rules" }
	if err := chatScript(context.Background(), sim, strings.NewReader("/reload\nhi\n/reload\n"), &errOut); err != nil {
		t.Fatal(err)
	}
	if got, want := errOut.String(), "rules reloaded: 2 rules\nrules reloaded: 2 rules\n"; got != want {
		t.Errorf("error output %q, want %q", got, want)
	}
}

// TestChatTerminalCommands drives the terminal chat: the banner names
// /help and /quit, a rule's failure is a readable line above the prompt,
// /help and a refused command are shown, and Ctrl-D ends the prompt's line.
func TestChatTerminalCommands(t *testing.T) {
	in, typing := io.Pipe()
	var screen syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- chatTerminal(context.Background(), newChatSim(t, nil), struct {
			io.Reader
			io.Writer
		}{in, &screen})
	}()
	waitFor(t, &screen, "/help lists the rest, /quit or Ctrl-D quits.")
	io.WriteString(typing, "boom\r")
	waitFor(t, &screen, "(rule boom failed: invalid operation: int(boom))\r\n")
	io.WriteString(typing, "/nope\r")
	waitFor(t, &screen, "unknown command /nope: try /help\r\n")
	io.WriteString(typing, "/help\r")
	waitFor(t, &screen, "/reload            read the rules file again\r\n")
	io.WriteString(typing, "/in #ops hi\r")
	waitFor(t, &screen, "[#ops] rulebot: echo hi\r\n")
	io.WriteString(typing, "\x04") // Ctrl-D
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := screen.String(); !strings.HasSuffix(s, "you> \r\n") {
		t.Errorf("the screen does not end the prompt's line at Ctrl-D:\n%q", s[max(0, len(s)-80):])
	}
	if s := screen.String(); strings.Contains(s, "level=") || strings.Contains(s, "you: /nope") {
		t.Errorf("a log line or a refused command reached the screen:\n%q", s)
	}
}

func TestNoticeText(t *testing.T) {
	tests := []struct {
		msg   string
		attrs []slog.Attr
		want  string
	}{
		{"rule failed", []slog.Attr{slog.String("rule", "greet"), slog.String("channel", "CGENERAL"), slog.String("error", "boom")}, "(rule greet failed: boom)"},
		{"schedule rule failed: its reply has nowhere to go", []slog.Attr{slog.String("rule", "daily"), slog.String("error", "to: #nope")}, "(schedule rule daily failed: its reply has nowhere to go: to: #nope)"},
		{"when failed; the rule does not fire", []slog.Attr{slog.String("rule", "r"), slog.String("error", "x")}, "(rule r: when failed; the rule does not fire: x)"},
		{"memory get failed", []slog.Attr{slog.String("key", "k"), slog.String("error", "disk")}, "(memory get failed: disk)"},
		{"bot.flood reached", nil, "(bot.flood reached)"},
	}
	for _, tt := range tests {
		notices := make(chan string, 1)
		// The rule comes through With, as the engine gives it; the rest on the record.
		var log *slog.Logger = slog.New(NoticeHandler(notices))
		var rest []any
		for _, a := range tt.attrs {
			if a.Key == "rule" {
				log = log.With(a)
			} else {
				rest = append(rest, a)
			}
		}
		log.Warn(tt.msg, rest...)
		log.Info("not a notice")
		if got := <-notices; got != tt.want {
			t.Errorf("%q %v: notice %q, want %q", tt.msg, tt.attrs, got, tt.want)
		}
		if len(notices) != 0 {
			t.Errorf("%q: an info record became a notice", tt.msg)
		}
	}
}

// chatScript is ChatScript without its watch on ctx: the script runs to
// its end in the test's goroutine.
func chatScript(ctx context.Context, sim *Sim, in io.Reader, errOut io.Writer) error {
	return chatScriptTo(ctx, sim, in, newScriptOutput(sim.Out, errOut))
}

// countingWriter counts the writes made to it.
type countingWriter struct {
	syncBuffer
	writes atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.syncBuffer.Write(p)
}

// TestChatScriptBuffersTranscript: a script read at once is answered in a
// few large writes, not in one write per transcript line (a system call
// each on a pipe, once the largest cost of a line).
func TestChatScriptBuffersTranscript(t *testing.T) {
	const lines = 1000
	script := strings.Repeat("hello there\n", lines)
	out := &countingWriter{}
	if err := ChatScript(context.Background(), newChatSim(t, out), strings.NewReader(script), io.Discard); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("[#general] you: hello there\n[#general] rulebot: echo hello there\n", lines)
	if out.String() != want {
		t.Fatalf("transcript of %d bytes, want %d", len(out.String()), len(want))
	}
	if out.writes.Load() > 10 {
		t.Errorf("%d writes for %d transcript lines, want a few", out.writes.Load(), 2*lines)
	}
}

// TestChatScriptOneOutput: with the transcript and the error output the
// same file (2>&1), mistakes, notices and /help come in line order
// although the transcript is buffered.
func TestChatScriptOneOutput(t *testing.T) {
	var both syncBuffer
	script := "hi\n/nope\nboom\n/help\nbye\n"
	if err := ChatScript(context.Background(), newChatSim(t, &both), strings.NewReader(script), &both); err != nil {
		t.Fatal(err)
	}
	want := "[#general] you: hi\n[#general] rulebot: echo hi\n" +
		"line 2: unknown command /nope: try /help\n" +
		"[#general] you: boom\n" +
		"(rule boom failed: invalid operation: int(boom))\n" +
		chatHelp +
		"[#general] you: bye\n[#general] rulebot: echo bye\n"
	if got := both.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestChatScriptAnswersBeforeWaiting: fed line by line (a terminal, or a
// pipe from a person or a program waiting for each answer), chat writes
// each answer out before it waits for the next line.
func TestChatScriptAnswersBeforeWaiting(t *testing.T) {
	in, typing := io.Pipe()
	var transcript syncBuffer
	done := make(chan error, 1)
	go func() { done <- ChatScript(context.Background(), newChatSim(t, &transcript), in, io.Discard) }()
	for _, line := range []string{"one", "two"} {
		io.WriteString(typing, line+"\n")
		waitFor(t, &transcript, "[#general] rulebot: echo "+line+"\n")
	}
	typing.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestChatScriptFlushesWhenStopped: when ctx ends while a rule is still
// running (here a fetch that never answers), ChatScript returns at once
// with the answers to the lines before it written out.
func TestChatScriptFlushesWhenStopped(t *testing.T) {
	fetching := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetching <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	rs, err := engine.Compile("rules.yaml", []byte(`bot:
  fetch: {allow: ["127.0.0.1"], timeout: 1m}
rules:
  - {name: hang, match: {contains: hang}, fetch: {url: "`+srv.URL+`"}, reply: '{{ fetch.status }}'}
  - {name: echo, reply: 'echo {{ text }}'}
`))
	if err != nil {
		t.Fatal(err)
	}
	var transcript syncBuffer
	sim := &Sim{Engine: engine.New(rs, engine.Options{BotUserID: BotUserID}), BotName: "rulebot", Now: time.Now, Out: &transcript}
	ctx, cancel := context.WithCancel(context.Background())
	in, typing := io.Pipe()
	defer typing.Close()
	done := make(chan error, 1)
	go func() { done <- ChatScript(ctx, sim, in, io.Discard) }()
	io.WriteString(typing, "one\nhang\n") // one read: "one" is answered, not yet written out
	<-fetching
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ChatScript = %v, want context.Canceled", err)
	}
	if got, want := transcript.String(), "[#general] you: one\n[#general] rulebot: echo one\n[#general] you: hang\n"; got != want {
		t.Errorf("transcript after ctx ended:\n%q\nwant:\n%q", got, want)
	}
}
