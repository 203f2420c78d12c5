package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// minusRules is a rules file whose reply is {{ - - - … 1 }} with a million
// unary minus signs: 2 MB, under the 4 MiB cap.
func minusRules() string {
	return "rules:\n  - name: v\n    match: {command: v}\n    reply: \"{{ " + strings.Repeat("- ", 1_000_000) + "1 }}\"\n"
}

// TestProcessCheckHostileExpression: check answers a file with a million
// unary minus signs with a positioned problem, quickly, instead of dying of
// a stack overflow in the expression parser.
func TestProcessCheckHostileExpression(t *testing.T) {
	rules := write(t, t.TempDir(), "rules.yaml", minusRules())
	start := time.Now()
	out, err := exec.Command(binary, "check", rules).CombinedOutput()
	took := time.Since(start)
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	want := rules + `:4:16: rule "v": reply: the expression is 2000003 bytes long (the limit is 10000)`
	if code != 1 || !strings.Contains(string(out), want) {
		t.Errorf("check exited %d:\n%.500s\nwant exit 1 and %q", code, out, want)
	}
	if took > 15*time.Second { // about 0.2 s on an idle machine; the bound catches a crash or a hang, not a slow machine
		t.Errorf("check took %v", took)
	}
	t.Logf("check took %v", took)
}

// TestProcessHostileExpressions: a reload with a million unary minus signs
// is refused and the old rules go on answering; an expression that would
// allocate gigabytes fails with on_error, and the bot goes on.
func TestProcessHostileExpressions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: v
    match: {command: v}
    reply: one
  - name: r
    match: {command: r}
    reply: "{{ repeat(rest, 1000000) }}"
    on_error: "error: {{ error }}"
`)
	p := startProc(t, slackEnv(fake, rules), "run")
	p.waitLog("connected to Slack", 1)

	if got := say(t, ctx, fake, "<@UBOT> r "+strings.Repeat("x", 5000)).Text; got != "error: expression too costly" {
		t.Errorf("repeat(rest, 1000000) replied %.100q", got)
	}

	write(t, filepath.Dir(rules), "rules.yaml", minusRules())
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("reload failed; keeping the old rules", 1)
	p.waitLog(`rules.yaml:4:16: rule \"v\": reply: the expression is 2000003 bytes long (the limit is 10000)`, 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "one" {
		t.Errorf("after the refused reload: reply %q, want one", got)
	}

	p.stop(10 * time.Second)
}
