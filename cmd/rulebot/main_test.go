package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rulebot runs the program in-process, as main would, and returns its exit
// code and output.
func rulebot(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

// TestDefaultRulesGolden proves the default rules.yaml with the golden
// conversations in testdata/, exactly as `rulebot test` does.
func TestDefaultRulesGolden(t *testing.T) {
	code, out, errOut := rulebot(t, nil, "", "test", "-rules", "../../rules.yaml", "../../testdata")
	if code != 0 {
		t.Fatalf("rulebot test exited %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, " passed, 0 failed\n") || strings.HasPrefix(out, "0 passed") {
		t.Errorf("unexpected closing line:\n%s", out)
	}
	t.Log("\n" + out)
}

func TestCheckDefaultRules(t *testing.T) {
	code, out, _ := rulebot(t, nil, "", "check", "../../rules.yaml")
	if code != 0 || out != "../../rules.yaml: 6 rules ok\n" {
		t.Errorf("check = %d %q; want 0 and one ok line without warnings", code, out)
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", "rules:\n  - name: hi\n    match: {exact: hi}\n    reply: hello\n")
	warn := write(t, dir, "warn.yaml", "rules:\n  - name: all\n    reply: hello\n  - name: hi\n    match: {exact: hi}\n    reply: hello\n")
	bad := write(t, dir, "bad.yaml", "rules:\n  - name: got\n    replay: x\n  - name: got\n    reply: y\n")
	tests := []struct {
		args     []string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{[]string{"check", good}, nil, 0, []string{good + ": 1 rule ok"}},
		{[]string{"check"}, map[string]string{"RULEBOT_RULES": good}, 0, []string{good + ": 1 rule ok"}},
		{[]string{"check", warn}, nil, 0, []string{warn + ":4:5: warning: rule \"hi\" is never reached", warn + ": 2 rules ok"}},
		{[]string{"check", bad, good}, nil, 1, []string{
			bad + ":3:5: rule \"got\": unknown field \"replay\" (did you mean \"reply\"?)",
			bad + ":4:11: rule \"got\": the name is used by the rule at line 2 too",
			good + ": 1 rule ok",
		}},
		{[]string{"check", filepath.Join(dir, "missing.yaml")}, nil, 1, []string{"missing.yaml: no such file or directory"}},
	}
	for _, tt := range tests {
		code, out, _ := rulebot(t, tt.env, "", tt.args...)
		if code != tt.wantCode {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, code, tt.wantCode, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}

func TestChatScript(t *testing.T) {
	in := "@rulebot vidcard $3,000,000\n\n/as bob /dm help king\n/dm do\nhello\n"
	code, out, errOut := rulebot(t, nil, in, "chat", "-rules", "../../rules.yaml")
	want := `[#general] you: @rulebot vidcard $3,000,000
[#general] rulebot: That's 10,000 video cards!
[@bob] bob: help king
[@bob] rulebot: king — hail the King in the North
[@you] you: do
[@you] rulebot: Sure .. write some code and I can do that.
[#general] you: hello
`
	if code != 0 || out != want {
		t.Errorf("chat exited %d; stderr %q\ngot:\n%s\nwant:\n%s", code, errOut, out, want)
	}
}

func TestChatBadRules(t *testing.T) {
	p := write(t, t.TempDir(), "r.yaml", "rules:\n  - name: x\n    match: {regex: '('}\n    reply: y\n")
	code, _, errOut := rulebot(t, nil, "hi\n", "chat", "-rules", p)
	if code != 2 || !strings.Contains(errOut, p+":3:20: rule \"x\": match.regex: missing closing ): \"(\"") {
		t.Errorf("chat with a bad rules file: exit %d, stderr %q", code, errOut)
	}
}

func TestNoTokenChats(t *testing.T) {
	code, out, errOut := rulebot(t, map[string]string{"RULEBOT_RULES": "../../rules.yaml"}, "@rulebot do\n")
	if code != 0 || !strings.Contains(out, "rulebot: Sure") || !strings.Contains(errOut, "SLACK_BOT_TOKEN") {
		t.Errorf("rulebot with no token: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// TestTestCommand runs rulebot test on conversations that pass, fail, lack
// a golden, fetch an unlisted URL, or point at broken rules.
func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.yaml", `vars: {api: "https://api.example/q"}
rules:
  - name: hi
    match: {exact: hi}
    reply: "hello {{ user.name }}"
  - name: q
    match: {command: q}
    fetch: {url: "{{ vars.api }}?q={{ rest }}"}
    reply: "{{ fetch.json.a }}"
  - name: slow
    match: {contains: king}
    cooldown: 1m
    reply: long live
`)
	write(t, dir, "pass.yaml", `rules: rules.yaml
fetch:
  "https://api.example/q?q=a+b%26c":
    body: '{"a": 42}'
conversation:
  - hi
  - "@rulebot q a b&c"
  - the king
  - {text: the king, after: 30s}
  - {text: the king, after: 31s}
  - {text: the king, channel: "#random"}
`)
	write(t, dir, "pass.golden", `[#general] alice: hi
[#general] rulebot: hello alice
[#general] alice: @rulebot q a b&c
[#general] rulebot: 42
[#general] alice: the king
[#general] rulebot: long live
[#general] alice: the king
[#general] alice: the king
[#general] rulebot: long live
[#random] alice: the king
[#random] rulebot: long live
`)
	write(t, dir, "wrong.yaml", "rules: rules.yaml\nconversation: [hi]\n")
	write(t, dir, "wrong.golden", "[#general] alice: hi\n[#general] rulebot: hello bob\n")
	write(t, dir, "nogolden.yaml", "rules: rules.yaml\nconversation: [hi]\n")
	write(t, dir, "unlisted.yaml", "rules: rules.yaml\nconversation: ['@rulebot q x']\n")
	write(t, dir, "unlisted.golden", "[#general] alice: @rulebot q x\n")

	code, out, _ := rulebot(t, nil, "", "test", dir)
	for _, want := range []string{
		"FAIL " + filepath.Join(dir, "nogolden.yaml") + "\n",
		"no golden file; run `rulebot test -update",
		"ok   " + filepath.Join(dir, "pass.yaml") + "\n",
		"FAIL " + filepath.Join(dir, "unlisted.yaml") + "\n",
		`rule "q" fetched https://api.example/q?q=x, which has no canned answer`,
		"FAIL " + filepath.Join(dir, "wrong.yaml") + "\n",
		"-[#general] rulebot: hello bob\n+[#general] rulebot: hello alice\n",
		"\n1 passed, 3 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if t.Failed() {
		t.Log("\n" + out)
	}

	// -run selects; -update writes the missing golden, after which it passes.
	if code, out, _ := rulebot(t, nil, "", "test", "-run", "nogolden", "-update", dir); code != 0 || !strings.HasSuffix(out, "1 passed, 0 failed\n") {
		t.Errorf("-update: exit %d\n%s", code, out)
	}
	if code, out, _ := rulebot(t, nil, "", "test", "-run", "nogolden", dir); code != 0 {
		t.Errorf("after -update: exit %d\n%s", code, out)
	}

	// A broken test file or rules file: reported as check reports it, exit 2.
	write(t, dir, "broken.yaml", "rules: rules.yaml\nconversation:\n  - {txt: hi}\n")
	code, out, _ = rulebot(t, nil, "", "test", "-run", "broken", dir)
	if code != 2 || !strings.Contains(out, filepath.Join(dir, "broken.yaml")+":3:6: conversation[0]: unknown field \"txt\" (did you mean \"text\"?)") ||
		!strings.HasSuffix(out, "0 passed, 1 failed\n") {
		t.Errorf("broken test file: exit %d\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	code, _, errOut := rulebot(t, nil, "", "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := rulebot(t, nil, "", "version"); code != 0 || !strings.HasPrefix(out, "rulebot ") {
		t.Errorf("version: %d %q", code, out)
	}
	var ee *exitError
	if err := run(context.Background(), []string{"check", "-nope"}, os.Getenv, nil, &bytes.Buffer{}, &bytes.Buffer{}); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("bad flag: %v", err)
	}
}
