package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRulesFlag: check takes the file as -rules F too, as the other
// commands do, alone or with more files after the flags.
func TestCheckRulesFlag(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", "rules:\n  - name: hi\n    match: {exact: hi}\n    reply: hello\n")
	bad := write(t, dir, "bad.yaml", "rules:\n  - name: hi\n    replay: x\n")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "-rules", good}, 0, good + ": 1 rule ok\n"},
		{[]string{"check", "-rules", good, good}, 0, good + ": 1 rule ok\n" + good + ": 1 rule ok\n"},
		{[]string{"check", "-rules", bad}, 1, bad + ":3:5: rule \"hi\": unknown field \"replay\" (did you mean \"reply\"?)\n"},
	}
	for _, tt := range tests {
		code, out, errOut := rulebot(t, nil, "", tt.args...)
		if code != tt.code || out != tt.want {
			t.Errorf("%v: exit %d, output %q, stderr %q; want exit %d, %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
}

// TestCheckTestFile: check given a test file says so and checks it as
// rulebot test reads it: its keys, its canned files, its rules file.
func TestCheckTestFile(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, dir, "rules.yaml", "rules:\n  - name: hi\n    match: {exact: hi}\n    reply: hello\n")
	badRules := write(t, dir, "badrules.yaml", "rules:\n  - name: hi\n    match: {regex: '('}\n    reply: hello\n")
	write(t, dir, "q.json", `{"q": 1}`)
	files := map[string]string{
		"ok.yaml":      "rules: rules.yaml\nclock: 2026-11-26T09:00:00Z\nfetch:\n  https://q.example/: {file: q.json}\nconversation: [hi, bye]\n",
		"default.yaml": "conversation: [hi]\n",
		"keys.yaml":    "rules: rules.yaml\nclokc: 2026-11-26T09:00:00Z\nconversation:\n  - {txt: hi}\n",
		"canned.yaml":  "rules: rules.yaml\nfetch:\n  https://q.example/: {file: missing.json}\nconversation: [hi]\n",
		"norules.yaml": "rules: nowhere.yaml\nconversation: [hi]\n",
		"usesbad.yaml": "rules: badrules.yaml\nconversation: [hi]\n",
	}
	for name, src := range files {
		write(t, dir, name, src)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	intro := func(name string) string {
		return p(name) + ": a test file (it has conversation:), checked as rulebot test reads it:\n"
	}
	tests := []struct {
		file string
		code int
		want string
	}{
		{"ok.yaml", 0, p("ok.yaml") + ": test file ok (2 conversation items; rules " + rules + ": 1 rule ok)\n"},
		{"default.yaml", 0, p("default.yaml") + ": test file ok (1 conversation item; rules " + rules + ": 1 rule ok)\n"},
		{"keys.yaml", 1, intro("keys.yaml") +
			p("keys.yaml") + ":2:1: test: unknown field \"clokc\" (did you mean \"clock\"?)\n" +
			p("keys.yaml") + ":4:5: conversation[0]: has no text (an item without text is {after: D} alone, which only advances the clock)\n" +
			p("keys.yaml") + ":4:6: conversation[0]: unknown field \"txt\" (did you mean \"text\"?)\n"},
		{"canned.yaml", 1, intro("canned.yaml") +
			p("canned.yaml") + ":3:30: fetch https://q.example/: " + p("missing.json") + ": no such file or directory\n"},
		{"norules.yaml", 1, intro("norules.yaml") +
			p("norules.yaml") + ":1:8: rules: " + p("nowhere.yaml") + ": no such file or directory\n"},
		{"usesbad.yaml", 1, intro("usesbad.yaml") +
			badRules + ":3:20: rule \"hi\": match.regex: missing closing ): \"(\"\n"},
	}
	for _, tt := range tests {
		code, out, errOut := rulebot(t, map[string]string{"RULEBOT_RULES": rules}, "", "check", p(tt.file))
		if code != tt.code || out != tt.want {
			t.Errorf("check %s: exit %d, stderr %q, output:\n%s\nwant exit %d and:\n%s", tt.file, code, errOut, out, tt.code, tt.want)
		}
	}
}

// TestTestRunNothing: a -run that selects no test file fails (exit 1) and
// says so, so a mistyped CI filter is never green.
func TestTestRunNothing(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.yaml", "rules:\n  - {name: hi, match: {exact: hi}, reply: hello}\n")
	write(t, dir, "a.yaml", "rules: rules.yaml\nconversation: [hi]\n")
	write(t, dir, "a.golden", "[#general] alice: hi\n[#general] rulebot: hello\n")
	code, out, errOut := rulebot(t, nil, "", "test", "-run", "nomatch", dir)
	if code != 1 || out != "" || !strings.Contains(errOut, `-run selects no test file: "nomatch" matches none of the 1 test files`) {
		t.Errorf("-run nomatch: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestTestCover: -cover reports the rules no test fired after the closing
// line, across every rules file the tests used, in subfolders too, and does
// not change the exit code.
func TestTestCover(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "more"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "rules.yaml", `rules:
  - name: hi
    match: {exact: hi}
    reply: hello
  - name: bye
    match: {exact: bye}
    reply: goodbye
  - name: morning
    schedule: "0 9 * * *"
    to: "#general"
    reply: good morning
  - name: night
    schedule: "0 22 * * *"
    when: "false"
    to: "#general"
    reply: good night
`)
	write(t, dir, "a.yaml", "rules: rules.yaml\nconversation: [hi, {after: 12h}]\n")
	write(t, dir, "a.golden", "[#general] alice: hi\n[#general] rulebot: good morning\n")
	write(t, dir, "more/b.yaml", "rules: ../rules.yaml\nconversation: [hi]\n")
	write(t, dir, "more/b.golden", "[#general] alice: hi\n[#general] rulebot: hello\n")
	code, out, errOut := rulebot(t, nil, "", "test", "-cover", dir)
	rules := filepath.Join(dir, "rules.yaml")
	a := filepath.Join(dir, "a.yaml")
	want := "FAIL " + a + "\n" +
		"--- " + filepath.Join(dir, "a.golden") + "\n+++ " + a + " (actual)\n" +
		"@@ -1,2 +1,3 @@\n [#general] alice: hi\n+[#general] rulebot: hello\n [#general] rulebot: good morning\n" +
		"ok   " + filepath.Join(dir, "more", "b.yaml") + "\n" +
		"1 passed, 1 failed\n" +
		"coverage: 2 of 4 rules fired (50.0%)\n" +
		"never fired: bye (" + rules + ":5)\n" +
		"never fired: night (" + rules + ":12)\n"
	if code != 1 || out != want {
		t.Errorf("test -cover: exit %d, stderr %q, output:\n%s\nwant exit 1 and:\n%s", code, errOut, out, want)
	}
	write(t, dir, "a.golden", "[#general] alice: hi\n[#general] rulebot: hello\n[#general] rulebot: good morning\n")
	if code, out, _ := rulebot(t, nil, "", "test", "-cover", dir); code != 0 || !strings.HasSuffix(out, "2 passed, 0 failed\ncoverage: 2 of 4 rules fired (50.0%)\nnever fired: bye ("+rules+":5)\nnever fired: night ("+rules+":12)\n") {
		t.Errorf("test -cover, all passing: exit %d, output:\n%s", code, out)
	}
}
