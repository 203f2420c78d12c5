package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestRunMemoryErrors: where run's memory cannot be opened, run says why
// before it connects to Slack, never showing Redis' password: exit 2 for a
// configuration that cannot work, 1 for a Redis that does not answer (a
// supervisor starts the bot again).
func TestRunMemoryErrors(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, dir, "rules.yaml", "rules:\n  - {name: hi, match: {exact: hi}, reply: hello}\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"scheme", map[string]string{"REDIS_URL": "http://:s3cret@127.0.0.1:1/"}, nil, 2, "invalid URL scheme"},
		{"unparsable", map[string]string{"REDIS_URL": "redis://:s3cret@127.0.0.1:notaport/"}, nil, 2, "redis URL"},
		{"skip verify", map[string]string{"REDIS_URL": "rediss://127.0.0.1:1", "REDIS_TLS_SKIP_VERIFY": "maybe"}, nil, 2, "REDIS_TLS_SKIP_VERIFY"},
		{"unreachable", map[string]string{"REDIS_URL": "redis://:s3cret@" + closedPort(t) + "/0"}, nil, 1, "memory: redis at 127.0.0.1:"},
		{"file", nil, []string{"-memory", filepath.Join(dir, "no", "such", "dir", "rulebot.db")}, 1, "memory file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"RULEBOT_RULES": rules, "LOG_FORMAT": "json"}
			for k, v := range tc.env {
				env[k] = v
			}
			code, _, errOut := rulebot(t, env, "", append([]string{"run"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, errOut)
			}
			if strings.Contains(errOut, "s3cret") {
				t.Errorf("the password is shown:\n%s", errOut)
			}
			if strings.Contains(errOut, "SLACK_BOT_TOKEN") {
				t.Errorf("Slack was tried before the memory:\n%s", errOut)
			}
		})
	}
}

// TestRunHerokuWarning: on a Heroku dyno without REDIS_URL, run warns
// once that the memory file does not survive a restart.
func TestRunHerokuWarning(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, dir, "rules.yaml", "rules:\n  - {name: hi, match: {exact: hi}, reply: hello}\n")
	env := map[string]string{"RULEBOT_RULES": rules, "LOG_FORMAT": "json"}
	db := filepath.Join(dir, "rulebot.db")
	for _, dyno := range []string{"", "worker.1"} {
		env["DYNO"] = dyno
		_, _, errOut := rulebot(t, env, "", "run", "-memory", db) // no token: it stops after the memory
		if got := strings.Count(errOut, "Heroku erases at every restart"); got != map[bool]int{true: 1, false: 0}[dyno != ""] {
			t.Errorf("DYNO=%q: %d warnings:\n%s", dyno, got, errOut)
		}
	}
}

// TestChatMemory: chat forgets its memory at exit, unless -memory keeps it
// in a file.
func TestChatMemory(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, dir, "rules.yaml", karmaRules)
	db := filepath.Join(dir, "chat.db")
	tests := []struct {
		args []string
		want string
	}{
		{nil, "rulebot: 1\n"},
		{[]string{"-memory", db}, "rulebot: 1\n"},
		{[]string{"-memory", db}, "rulebot: 2\n"}, // the file remembers
		{nil, "rulebot: 1\n"},                     // RAM starts empty
	}
	for i, tc := range tests {
		code, out, errOut := rulebot(t, nil, "++\n", append([]string{"chat", "-rules", rules}, tc.args...)...)
		if code != 0 || !strings.HasSuffix(out, tc.want) {
			t.Errorf("chat %d %v: exit %d, stdout %q, want it to end %q; stderr %q", i, tc.args, code, out, tc.want, errOut)
		}
	}
}
