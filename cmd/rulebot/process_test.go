package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// binary is the rulebot binary built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rulebot-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rulebot")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building rulebot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running rulebot process whose stderr (its log) is collected.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	grew chan struct{} // closed and replaced whenever the log grows
	done chan error
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LOG_FORMAT=json"}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, grew: make(chan struct{}), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			close(p.grew)
			p.grew = make(chan struct{})
			p.mu.Unlock()
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// waitLog waits until the log holds n occurrences of s.
func (p *proc) waitLog(s string, n int) {
	p.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		p.mu.Lock()
		got, grew := strings.Count(p.log.String(), s), p.grew
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-grew:
		case <-deadline:
			p.t.Fatalf("log never had %d× %q:\n%s", n, s, p.logText())
		}
	}
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		p.t.Fatalf("rulebot still running after %s:\n%s", limit, p.logText())
		return -1
	}
}

func slackEnv(fake *slackfake.Server, rules string) []string {
	return []string{
		"SLACK_BOT_TOKEN=" + slackfake.DefaultBotToken,
		"SLACK_APP_TOKEN=" + slackfake.DefaultAppToken,
		"SLACK_API_URL=" + fake.APIURL(),
		"RULEBOT_RULES=" + rules,
	}
}

func say(t *testing.T, ctx context.Context, fake *slackfake.Server, text string) slackfake.Post {
	t.Helper()
	ev := map[string]any{"type": "message", "channel": "CGENERAL", "channel_type": "channel", "user": "UALICE",
		"text": text, "ts": fmt.Sprintf("%d.000100", time.Now().UnixNano())}
	env, err := fake.SendEvent(ctx, ev, slackfake.EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	p, err := fake.WaitPost(ctx)
	if err != nil {
		t.Fatalf("no reply to %q: %v", text, err)
	}
	return p
}

func TestProcessReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := slackfake.New()
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
	p := startProc(t, slackEnv(fake, rules), "run")
	p.waitLog("connected to Slack", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "one" {
		t.Fatalf("reply %q", got)
	}

	write(t, filepath.Dir(rules), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: two}\n  - {name: w, match: {command: w}, reply: w}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("rules reloaded: 2 rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Fatalf("after reload: reply %q", got)
	}

	write(t, filepath.Dir(rules), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, replay: three}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("reload failed; keeping the old rules", 1)
	p.waitLog(`unknown field \"replay\"`, 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Fatalf("after a bad reload the old rules must answer: reply %q", got)
	}

	write(t, filepath.Dir(rules), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: four}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("rules reloaded: 1 rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "four" {
		t.Fatalf("after the fix: reply %q", got)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if log := p.logText(); strings.Contains(log, slackfake.DefaultBotToken) || strings.Contains(log, slackfake.DefaultAppToken) {
		t.Errorf("a log line holds a token:\n%s", log)
	}
}

func TestProcessDrainOnSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := slackfake.New()
	defer fake.Close()
	fetched := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched <- struct{}{}
		time.Sleep(2 * time.Second) // the reply waits on this while SIGTERM arrives
		io.WriteString(w, `{"v": "slow answer"}`)
	}))
	defer slow.Close()
	rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: slow
    match: {command: slow}
    fetch: {url: "`+slow.URL+`"}
    reply: "{{ fetch.json.v }}"
`)
	p := startProc(t, slackEnv(fake, rules), "run", "-grace", "20s")
	p.waitLog("connected to Slack", 1)
	env, err := fake.SendEvent(ctx, map[string]any{"type": "message", "channel": "CGENERAL", "user": "UALICE",
		"text": "<@UBOT> slow", "ts": "1700000000.000001"}, slackfake.EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fake.WaitAck(ctx, env)
	<-fetched
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Process.Signal(syscall.SIGTERM) // Heroku may send it again: the drain goes on
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	posts := fake.Posts()
	if len(posts) != 1 || posts[0].Text != "slow answer" {
		t.Errorf("posts after the drain: %+v; want the slow answer", posts)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("drain took %s", d)
	}
	p.waitLog("rulebot stopped", 1)
}

func TestProcessBadTokens(t *testing.T) {
	fake := slackfake.New()
	defer fake.Close()
	fake.SetToken("xoxb-revoked-123", slackfake.TokenRevoked)
	rules := "RULEBOT_RULES=../../rules.yaml"
	api := "SLACK_API_URL=" + fake.APIURL()
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no token", []string{rules, api}, []string{"run"}, "SLACK_BOT_TOKEN is not set"},
		{"invalid", []string{rules, api, "SLACK_BOT_TOKEN=xoxb-invalid-456"}, []string{"run"}, "SLACK_BOT_TOKEN was rejected by Slack (invalid_auth)"},
		{"revoked", []string{rules, api, "SLACK_BOT_TOKEN=xoxb-revoked-123"}, []string{"run"}, "token_revoked"},
		{"rtm with a modern token", []string{rules, api, "SLACK_BOT_TOKEN=" + slackfake.DefaultBotToken}, []string{"run", "-transport", "rtm"}, "set SLACK_APP_TOKEN"},
		{"bad app token", []string{rules, api, "SLACK_BOT_TOKEN=" + slackfake.DefaultBotToken, "SLACK_APP_TOKEN=xapp-bad-789"}, []string{"run"}, "SLACK_APP_TOKEN"},
		{"default command with a bad token", []string{rules, api, "SLACK_BOT_TOKEN=xoxb-invalid-456"}, nil, "invalid_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProc(t, tt.env, tt.args...)
			if code := p.wait(10 * time.Second); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			log := p.logText()
			if !strings.Contains(log, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, log)
			}
			for _, e := range tt.env {
				if k, v, _ := strings.Cut(e, "="); strings.HasSuffix(k, "_TOKEN") && strings.Contains(log, v) {
					t.Errorf("stderr shows %s", k)
				}
			}
		})
	}
}
