package local

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/logbuf"
)

// syncBuffer is a log safe for concurrent writes.
type syncBuffer = logbuf.Buffer

// waitFor waits until out holds s.
func waitFor(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q:\n%q", s, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChatNotices: a notice is printed as it comes, on the terminal above
// the prompt, with the line being typed kept and redrawn after it; in a
// script, on the error output.
func TestChatNotices(t *testing.T) {
	rs, err := engine.Compile("rules.yaml", []byte("rules:\n  - {name: echo, reply: '{{ text }}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	newSim := func(out io.Writer, notices chan string) *Sim {
		return &Sim{Engine: engine.New(rs, engine.Options{BotUserID: BotUserID}), BotName: "rulebot",
			Now: time.Now, Out: out, Notices: notices}
	}

	t.Run("terminal", func(t *testing.T) {
		notices := make(chan string)
		in, typing := io.Pipe()
		var screen syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- chatTerminal(context.Background(), newSim(nil, notices), struct {
				io.Reader
				io.Writer
			}{in, &screen})
		}()
		io.WriteString(typing, "hal")
		waitFor(t, &screen, "you> hal")
		notices <- "rules reloaded: 2 rules"
		waitFor(t, &screen, "rules reloaded: 2 rules")
		io.WriteString(typing, "lo\r")
		waitFor(t, &screen, "rulebot: hallo")
		io.WriteString(typing, "/quit\r")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		s := screen.String()
		// The notice comes on a line of its own, then the prompt and
		// what was typed so far are drawn again.
		i := strings.Index(s, "rules reloaded: 2 rules\r\n")
		if i < 0 || !strings.Contains(s[i:], "you> hal") {
			t.Errorf("screen:\n%q", s)
		}
	})

	t.Run("script", func(t *testing.T) {
		notices := make(chan string)
		in, typing := io.Pipe()
		var transcript, errOut syncBuffer
		done := make(chan error, 1)
		go func() { done <- chatScript(context.Background(), newSim(&transcript, notices), in, &errOut) }()
		notices <- "reload failed; keeping the old rules: 1 problems"
		waitFor(t, &errOut, "reload failed; keeping the old rules: 1 problems\n")
		io.WriteString(typing, "hi\n")
		typing.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if strings.Contains(transcript.String(), "reload") {
			t.Errorf("a notice went to the transcript:\n%s", transcript.String())
		}
	})
}
