package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// binary is the rulebot binary built once for the process tests.
var binary string

// defaultRules is the absolute path of the repository's rules.yaml: the
// processes run in a temporary directory of their own (where `run` keeps
// its rulebot.db).
var defaultRules string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rulebot-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rulebot")
	if defaultRules, err = filepath.Abs("../../rules.yaml"); err != nil {
		panic(err)
	}
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
	return startProcWith(t, nil, env, args...)
}

// startProcWith is startProc with setup, if not nil, called on the command
// before it starts (to connect its stdin and stdout, or to choose its
// working directory: by default a new temporary one).
func startProcWith(t *testing.T, setup func(*exec.Cmd), env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LOG_FORMAT=json"}, env...)
	if setup != nil {
		setup(cmd)
	}
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
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

// stop sends SIGTERM and expects a clean exit (status 0) within limit.
func (p *proc) stop(limit time.Duration) {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(limit); code != 0 {
		p.t.Errorf("exit %d after SIGTERM:\n%s", code, p.logText())
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

// workspace is a fake Slack with alice in #general (CGENERAL) and in
// channels more channels, C0, C1, …, where the process tests post.
func workspace(channels int, opts ...slackfake.Option) *slackfake.Server {
	fake := slackfake.New(opts...)
	fake.AddUser("UALICE", "alice")
	cs := []slackfake.Conversation{{ID: "CGENERAL", Name: "general", Members: []string{"UALICE"}}}
	for i := range channels {
		cs = append(cs, slackfake.Conversation{ID: fmt.Sprint("C", i), Name: fmt.Sprint("c", i), Members: []string{"UALICE"}})
	}
	fake.AddConversations(cs...)
	return fake
}

// post sends text from alice in #general over Socket Mode and waits for
// the acks of its envelopes (its app_mention twin's too).
func post(t testing.TB, ctx context.Context, fake *slackfake.Server, text string) {
	t.Helper()
	sent, err := fake.Say(ctx, slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{sent.EnvelopeID, sent.MentionEnvelopeID} {
		if env == "" {
			continue
		}
		if err := fake.WaitAck(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
}

// say posts text as post does and returns the bot's reply.
func say(t *testing.T, ctx context.Context, fake *slackfake.Server, text string) slackfake.Post {
	t.Helper()
	post(t, ctx, fake, text)
	p, err := fake.WaitPost(ctx)
	if err != nil {
		t.Fatalf("no reply to %q: %v", text, err)
	}
	return p
}

func TestProcessReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
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

	p.stop(10 * time.Second)
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
	post(t, ctx, fake, "<@UBOT> slow")
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
	fake := workspace(0)
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
	fake := workspace(0)
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
	fake := workspace(0)
	defer fake.Close()
	fake.SetToken("xoxb-revoked-123", slackfake.TokenRevoked)
	fake.SetToken("xapp-in-fact-a-bot-1", slackfake.TokenBot) // not_allowed_token_type, which slack-go retries forever
	rules := "RULEBOT_RULES=" + defaultRules
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
		{"bot token as app token", []string{rules, api, "SLACK_BOT_TOKEN=" + slackfake.DefaultBotToken, "SLACK_APP_TOKEN=xapp-in-fact-a-bot-1"}, []string{"run"}, "Slack refused SLACK_APP_TOKEN (not_allowed_token_type)"},
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

// logLines decodes the process's JSON log, one map per line; a line that is
// not JSON (rulebot's last words on stderr) is {"msg": line}.
func (p *proc) logLines() []map[string]any {
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(p.logText()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			m = map[string]any{"msg": l}
		}
		lines = append(lines, m)
	}
	return lines
}

// waitGone waits for the process to exit after a signal sent at sent, and
// returns its exit code and how long it took.
func (p *proc) waitGone(sent time.Time, limit time.Duration) (int, time.Duration) {
	p.t.Helper()
	code := p.wait(limit)
	return code, time.Since(sent)
}

// TestProcessSIGHUPDuringStartup sends SIGHUPs while Slack has not yet
// answered auth.test: the process survives, and reloads the rules once it
// serves, since the file changed after it was read.
func TestProcessSIGHUPDuringStartup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	release := fake.Hold("auth.test")
	defer release()
	rules := write(t, t.TempDir(), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
	p := startProc(t, slackEnv(fake, rules), "run")
	if err := fake.WaitCalls(ctx, "auth.test", 1); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Dir(rules), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: two}\n")
	for range 5 {
		p.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(20 * time.Millisecond)
	}
	release()
	p.waitLog("connected to Slack", 1)
	p.waitLog("rules reloaded: 1 rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Errorf("reply %q, want the reloaded rules' %q", got, "two")
	}
	p.stop(10 * time.Second)
}

// TestProcessSIGTERMDuringStartup stops the process while auth.test hangs:
// it stops at once, cleanly.
func TestProcessSIGTERMDuringStartup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	defer fake.Hold("auth.test")()
	p := startProc(t, slackEnv(fake, defaultRules), "run")
	if err := fake.WaitCalls(ctx, "auth.test", 1); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	code, took := p.waitGone(sent, 5*time.Second)
	t.Logf("stopped %s after SIGTERM", took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, p.logText())
	}
	lines := p.logLines()
	if first, last := lines[0]["msg"], lines[len(lines)-1]["msg"]; !strings.HasPrefix(fmt.Sprint(first), "stopping") || last != "rulebot stopped" {
		t.Errorf("log does not go from stopping to rulebot stopped:\n%s", p.logText())
	}
}

// TestProcessAuthTestAnswers: an auth.test answer that does not say ok, or
// does not say who the bot is, is a start-up error.
func TestProcessAuthTestAnswers(t *testing.T) {
	tests := []struct{ answer, want string }{
		{`{"ok":true}`, "has no user_id, so the bot cannot know its own id"},
		{`{"ok":true,"user_id":"","bot_id":"B1"}`, "has no user_id"},
		{`{"ok":false}`, `without "ok": true and without an error`},
		{`{"ok":"yes","user_id":"UBOT"}`, "not Slack's JSON"},
		{`{"user_id":"UBOT"}`, `without "ok": true`},
		{`{"ok":true,"user_id":"<@UX>"}`, "not a Slack id"},
		{`{"ok":false,"error":"team_access_not_granted"}`, "Slack refused auth.test for SLACK_BOT_TOKEN (team_access_not_granted)"},
		{`<html>502 Bad Gateway</html>`, "not Slack's JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			fake := workspace(0)
			defer fake.Close()
			fake.AnswerNext("auth.test", 1, tt.answer)
			p := startProc(t, slackEnv(fake, defaultRules), "run")
			if code := p.wait(10 * time.Second); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			log := p.logText()
			if !strings.Contains(log, tt.want) || strings.Count(strings.TrimSpace(log), "\n") != 0 {
				t.Errorf("stderr is not one line saying %q:\n%s", tt.want, log)
			}
			if strings.Contains(log, slackfake.DefaultBotToken) || strings.Contains(log, slackfake.DefaultAppToken) {
				t.Errorf("stderr shows a token:\n%s", log)
			}
		})
	}
}

// TestProcessStopIsBounded: SIGTERM ends the process within -grace plus
// 2 seconds whatever is still running: a Slack call that never answers
// (the RTM transport cannot be canceled while it connects), or an
// expression that ignores its cancellation.
func TestProcessStopIsBounded(t *testing.T) {
	const grace = time.Second
	// slack is generous room for a loaded machine on top of the bound.
	const bound, slack = grace + 2*time.Second, 3 * time.Second
	tests := []struct {
		name string
		// stick starts rulebot and gets it stuck.
		stick func(t *testing.T, ctx context.Context, fake *slackfake.Server) *proc
		code  int            // the exit code
		why   *regexp.Regexp // what the log must say
	}{
		{"rtm.connect never answers", func(t *testing.T, ctx context.Context, fake *slackfake.Server) *proc {
			fake.Hold("rtm.connect")
			env := []string{"SLACK_BOT_TOKEN=" + slackfake.DefaultClassicBotToken, "SLACK_API_URL=" + fake.APIURL(), "RULEBOT_RULES=" + defaultRules}
			p := startProc(t, env, "run", "-grace", grace.String())
			if err := fake.WaitCalls(ctx, "rtm.connect", 1); err != nil {
				t.Fatal(err)
			}
			return p
		}, 1, regexp.MustCompile(`rulebot did not stop within the grace period plus 2s: exiting with work still running`)},
		// Once expressions have a budget (SPEC §8), this one fails at once
		// instead, and the process simply stops.
		{"a costly expression", func(t *testing.T, ctx context.Context, fake *slackfake.Server) *proc {
			rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: costly
    match: {command: costly}
    reply: "{{ let s = repeat('a', 200000); len(filter(1..400000, upper(s) == s)) }}"
`)
			p := startProc(t, slackEnv(fake, rules), "run", "-grace", grace.String())
			p.waitLog("connected to Slack", 1)
			post(t, ctx, fake, "<@UBOT> costly")
			// The handler looks the channel up just before it evaluates.
			if err := fake.WaitCalls(ctx, "conversations.info", 1); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			return p
		}, 0, regexp.MustCompile(`ignore their cancellation: abandoning them|too costly`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			fake := workspace(0)
			defer fake.Close()
			p := tt.stick(t, ctx, fake)
			sent := time.Now()
			p.cmd.Process.Signal(syscall.SIGTERM)
			code, took := p.waitGone(sent, bound+slack)
			t.Logf("gone %s after SIGTERM with -grace %s (bound %s)", took.Round(time.Millisecond), grace, bound)
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, p.logText())
			}
			if !tt.why.MatchString(p.logText()) {
				t.Errorf("log lacks %q:\n%s", tt.why, p.logText())
			}
		})
	}
}

// TestProcessStopLog stops a bot again and again, over both transports and
// while Socket Mode reconnects: no warning once "stopping" is logged, and
// "rulebot stopped" last.
func TestProcessStopLog(t *testing.T) {
	kinds := []string{"socket", "rtm", "socket reconnecting"}
	for i := range 12 {
		kind := kinds[i%len(kinds)]
		t.Run(fmt.Sprintf("%d %s", i, kind), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			fake := workspace(0)
			defer fake.Close()
			rules := write(t, t.TempDir(), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
			env := slackEnv(fake, rules)
			if kind == "rtm" {
				env = []string{"SLACK_BOT_TOKEN=" + slackfake.DefaultClassicBotToken, "SLACK_API_URL=" + fake.APIURL(), "RULEBOT_RULES=" + rules}
			}
			p := startProc(t, env, "run")
			p.waitLog("connected to Slack", 1)
			switch kind {
			case "socket":
				say(t, ctx, fake, "<@UBOT> v")
			case "rtm":
				if _, err := fake.SayRTM(ctx, slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "<@UBOT> v"}); err != nil {
					t.Fatal(err)
				}
				if _, err := fake.WaitPost(ctx); err != nil {
					t.Fatal(err)
				}
			case "socket reconnecting":
				if err := fake.WaitConnections(ctx, slackfake.SocketMode, 1); err != nil {
					t.Fatal(err)
				}
				defer fake.Hold("apps.connections.open")()
				fake.DropConnections()
				if err := fake.WaitCalls(ctx, "apps.connections.open", 2); err != nil {
					t.Fatalf("%v\n%s", err, p.logText())
				}
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			if code := p.wait(10 * time.Second); code != 0 {
				t.Errorf("exit %d", code)
			}
			stopping := -1
			lines := p.logLines()
			for i, l := range lines {
				if strings.HasPrefix(fmt.Sprint(l["msg"]), "stopping") && stopping < 0 {
					stopping = i
				}
				if stopping >= 0 && (l["level"] == "WARN" || l["level"] == "ERROR") {
					t.Errorf("a %s line on a clean stop: %v", l["level"], l)
				}
			}
			if last := lines[len(lines)-1]["msg"]; stopping < 0 || last != "rulebot stopped" {
				t.Errorf("log does not go from stopping to rulebot stopped at the end:\n%s", p.logText())
			}
		})
	}
}

// TestProcessChatStops: SIGTERM stops chat while it waits for a line on a
// pipe, and while it evaluates a costly one.
func TestProcessChatStops(t *testing.T) {
	rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: costly
    match: {exact: costly}
    reply: "{{ let s = repeat('a', 200000); len(filter(1..400000, upper(s) == s)) }}"
  - {name: hi, match: {exact: hi}, reply: hello}
`)
	for _, line := range []string{"", "costly"} {
		t.Run(fmt.Sprintf("%q", line), func(t *testing.T) {
			var stdin io.WriteCloser
			var stdout io.Reader
			p := startProcWith(t, func(cmd *exec.Cmd) {
				var err error
				if stdin, err = cmd.StdinPipe(); err != nil {
					t.Fatal(err)
				}
				if stdout, err = cmd.StdoutPipe(); err != nil {
					t.Fatal(err)
				}
			}, nil, "chat", "-rules", rules)
			defer stdin.Close() // never before the end: chat waits for more
			// Once chat answers, its signal handlers are in place.
			io.WriteString(stdin, "hi\n")
			out := bufio.NewReader(stdout)
			for _, want := range []string{"[#general] you: hi\n", "[#general] rulebot: hello\n"} {
				if got, err := out.ReadString('\n'); got != want {
					t.Fatalf("transcript line %q (%v), want %q", got, err, want)
				}
			}
			if line != "" {
				io.WriteString(stdin, line+"\n")
				time.Sleep(300 * time.Millisecond) // evaluating
			}
			sent := time.Now()
			p.cmd.Process.Signal(syscall.SIGTERM)
			code, took := p.waitGone(sent, 5*time.Second)
			t.Logf("chat gone %s after SIGTERM", took.Round(time.Millisecond))
			if code != 1 || !strings.Contains(p.logText(), "chat stopped by a signal") {
				t.Errorf("exit %d, stderr:\n%s", code, p.logText())
			}
		})
	}
}

// TestProcessTestStops: SIGTERM stops `rulebot test` while a conversation
// evaluates a costly expression.
func TestProcessTestStops(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.yaml", `rules:
  - name: costly
    match: {exact: costly}
    reply: "{{ let s = repeat('a', 200000); len(filter(1..400000, upper(s) == s)) }}"
`)
	if err := os.Mkdir(filepath.Join(dir, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "testdata/costly.yaml", "rules: ../rules.yaml\nconversation:\n  - costly\n")
	p := startProc(t, nil, "test", filepath.Join(dir, "testdata"))
	time.Sleep(500 * time.Millisecond) // compiling, then evaluating
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	// Once expressions have a budget (SPEC §8), the test may end by itself.
	code, took := p.waitGone(sent, 5*time.Second)
	t.Logf("rulebot test gone %s after SIGTERM, exit %d", took.Round(time.Millisecond), code)
}
