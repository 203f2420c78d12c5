package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/logbuf"
)

// chatOutput is a buffer safe for concurrent use.
type chatOutput struct{ logbuf.Buffer }

// wait waits until c holds s.
func (c *chatOutput) wait(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q:\n%s", s, c.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChatWarningsAndReload: chat says a rule's failure as one readable
// line, not a log line, and /reload reads the rules file again with the
// reloader -watch uses, saying reloaded, or why not.
func TestChatWarningsAndReload(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(s string) {
		if err := os.WriteFile(rules, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - {name: boom, match: {contains: boom}, reply: '{{ int(text) + 1 }}'}\n")
	in, typing := io.Pipe()
	var out, errOut chatOutput
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"chat", "-rules", rules}, func(string) string { return "" }, in, &out, &errOut)
	}()
	io.WriteString(typing, "boom\n")
	errOut.wait(t, "(rule boom failed: invalid operation: int(boom))\n")

	write("rules:\n  - {name: boom, reply: 'boom'}\n  - {name: two, reply: 'two'}\n")
	io.WriteString(typing, "/reload\n")
	errOut.wait(t, "rules reloaded: 2 rules\n")
	io.WriteString(typing, "hi\n")
	out.wait(t, "[#general] rulebot: boom\n")

	write("rules:\n  - {name: boom, reply: '{{ nope(1) }}'}\n")
	io.WriteString(typing, "/reload\n")
	errOut.wait(t, "reload failed; keeping the old rules: 1 problems\n")
	typing.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := errOut.String(); strings.Contains(s, "level=") {
		t.Errorf("a log line on chat's screen:\n%s", s)
	}
}
