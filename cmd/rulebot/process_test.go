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

	// reload writes the rules file, sends SIGHUP, waits for the log line,
	// and checks what "@rulebot v" answers then.
	reload := func(content, wantLog, wantReply string) {
		t.Helper()
		write(t, filepath.Dir(rules), "rules.yaml", content)
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog(wantLog, 1)
		if got := say(t, ctx, fake, "<@UBOT> v").Text; got != wantReply {
			t.Fatalf("after %q: reply %q, want %q", wantLog, got, wantReply)
		}
	}
	reload("rules:\n  - {name: v, match: {command: v}, reply: two}\n  - {name: w, match: {command: w}, reply: w}\n",
		"rules reloaded: 2 rules", "two")
	// A bad file: every problem logged, positioned; the old rules answer.
	reload("rules:\n  - {name: v, match: {command: v}, replay: three}\n",
		`rules.yaml:2:36: rule \"v\": unknown field \"replay\"`, "two")
	p.waitLog("reload failed; keeping the old rules", 1)
	reload("rules:\n  - {name: v, match: {command: v}, reply: four}\n", "rules reloaded: 1 rules", "four")

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if log := p.logText(); strings.Contains(log, slackfake.DefaultBotToken) || strings.Contains(log, slackfake.DefaultAppToken) {
		t.Errorf("a log line holds a token:\n%s", log)
	}
}

// slowBot starts rulebot with a rule whose fetch takes delay, sends it a
// message and returns once the fetch has begun.
func slowBot(t *testing.T, ctx context.Context, fake *slackfake.Server, delay time.Duration) *proc {
	t.Helper()
	fetched := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched <- struct{}{}
		select { // the reply waits on this while the signals arrive
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		io.WriteString(w, `{"v": "slow answer"}`)
	}))
	t.Cleanup(slow.Close)
	rules := write(t, t.TempDir(), "rules.yaml", `bot: {fetch: {allow: ["127.0.0.1"]}}
rules:
  - name: slow
    match: {command: slow}
    fetch: {url: "`+slow.URL+`", timeout: 60s}
    reply: "{{ fetch.json.v }}"
`)
	p := startProc(t, slackEnv(fake, rules), "run", "-grace", "20s")
	p.waitLog("connected to Slack", 1)
	env, err := fake.SendEvent(ctx, map[string]any{"type": "message", "channel": "CGENERAL", "user": "UALICE",
		"text": "<@UBOT> slow", "ts": "1700000000.000001"}, slackfake.EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fetched:
	case <-ctx.Done():
		t.Fatal("the fetch never started")
	}
	return p
}

func TestProcessDrainOnSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := slackfake.New()
	defer fake.Close()
	p := slowBot(t, ctx, fake, 2*time.Second)
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

func TestProcessSecondSIGINTExitsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := slackfake.New()
	defer fake.Close()
	p := slowBot(t, ctx, fake, 30*time.Second)
	p.cmd.Process.Signal(syscall.SIGINT)
	p.waitLog("stopping: taking no new events", 1)
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(5 * time.Second); code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	if posts := fake.Posts(); len(posts) != 0 {
		t.Errorf("posted %+v after Ctrl-C twice", posts)
	}
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
