package main

import (
	"bufio"
	"context"
	"crypto/sha256"
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

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rulebot/rulebot/internal/rulesrc"
)

// httpBase waits for the log line saying where health and metrics are
// served (run with -http 127.0.0.1:0) and returns the server's base URL.
func (p *proc) httpBase() string {
	p.t.Helper()
	p.waitLog("serving health and metrics", 1)
	for _, l := range p.logLines() {
		if l["msg"] == "serving health and metrics" {
			return "http://" + fmt.Sprint(l["addr"])
		}
	}
	p.t.Fatalf("no address in the log:\n%s", p.logText())
	return ""
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrapeMetrics fetches base/metrics and parses it with Prometheus' text
// parser.
func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// sample returns the value of family's sample whose labels are labels
// (name=value,…; "" for none): a counter's or gauge's value, a histogram's
// count. ok is false when there is no such sample.
func sample(fams map[string]*dto.MetricFamily, family, labels string) (v float64, ok bool) {
	f := fams[family]
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(ls, ",") != labels {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// want checks samples of a scrape: family{labels} → value.
func wantSamples(t *testing.T, when string, fams map[string]*dto.MetricFamily, want map[[2]string]float64) {
	t.Helper()
	for k, w := range want {
		got, ok := sample(fams, k[0], k[1])
		if !ok {
			t.Errorf("%s: no sample %s{%s}", when, k[0], k[1])
		} else if got != w {
			t.Errorf("%s: %s{%s} = %v, want %v", when, k[0], k[1], got, w)
		}
	}
}

// waitSample scrapes until family{labels} is want, or fails after 15 s.
func waitSample(t *testing.T, base, family, labels string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, _ := sample(scrapeMetrics(t, base), family, labels)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v, want %v", family, labels, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProcessMetrics scrapes a running bot's /metrics after messages, a
// failing fetch and reloads, and checks /healthz.
func TestProcessMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer api.Close()
	rules := write(t, t.TempDir(), "rules.yaml", `bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - {name: v, match: {command: v}, reply: one}
  - name: f
    match: {command: f}
    fetch: {url: "`+api.URL+`/x"}
    reply: "{{ fetch.status }}"
`)
	p := startProc(t, slackEnv(fake, rules), "run", "-http", "127.0.0.1:0")
	base := p.httpBase()
	p.waitLog("connected to Slack", 1)
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz when connected: %d %q, want 200 ok", code, body)
	}
	for range 3 {
		if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "one" {
			t.Fatalf("reply %q", got)
		}
	}
	// A failed fetch sends nothing.
	post(t, ctx, fake, "<@UBOT> f")
	waitSample(t, base, "rulebot_fetch_errors_total", "rule=f", 1)
	wantSamples(t, "after 4 messages", scrapeMetrics(t, base), map[[2]string]float64{
		{"rulebot_messages_total", ""}:                4,
		{"rulebot_rule_fires_total", "rule=v"}:        3,
		{"rulebot_rule_fires_total", "rule=f"}:        1,
		{"rulebot_fetch_errors_total", "rule=f"}:      1,
		{"rulebot_replies_total", ""}:                 3,
		{"rulebot_reply_seconds", ""}:                 3,
		{"rulebot_rules_loaded", ""}:                  2,
		{"rulebot_config_last_reload_successful", ""}: 1,
		{"rulebot_dropped_total", "reason=backlog"}:   0,
		{"rulebot_dropped_total", "reason=given_up"}:  0,
	})
	fams := scrapeMetrics(t, base)
	if at, _ := sample(fams, "rulebot_config_last_reload_success_timestamp_seconds", ""); at < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last reload success at %v, want the start-up", at)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Errorf("no Go runtime collector (go_goroutines)")
	}
	// The start-up log says which release runs, as `rulebot version` does.
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	wantVersion := strings.TrimPrefix(strings.TrimSpace(string(out)), "rulebot ")
	logged := false
	for _, l := range p.logLines() {
		if l["msg"] == "rulebot starting" {
			logged = true
			if l["version"] != wantVersion {
				t.Errorf("start-up log: version %q, want %q", l["version"], wantVersion)
			}
		}
	}
	if !logged {
		t.Errorf("no start-up line with the version:\n%s", p.logText())
	}

	// A bad reload: the old rules stay, and say so.
	write(t, filepath.Dir(rules), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, replay: x}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("reload failed; keeping the old rules", 1)
	wantSamples(t, "after a bad reload", scrapeMetrics(t, base), map[[2]string]float64{
		{"rulebot_config_last_reload_successful", ""}: 0,
		{"rulebot_rules_loaded", ""}:                  2,
	})
	// A good one: three rules now.
	write(t, filepath.Dir(rules), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: two}\n  - {name: w, reply: w, match: {command: w}}\n  - {name: x, reply: x, match: {command: x}}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("rules reloaded: 3 rules", 1)
	wantSamples(t, "after a good reload", scrapeMetrics(t, base), map[[2]string]float64{
		{"rulebot_config_last_reload_successful", ""}: 1,
		{"rulebot_rules_loaded", ""}:                  3,
		{"rulebot_rule_fires_total", "rule=w"}:        0,
	})

	p.stop(15 * time.Second)
}

// rulesServer serves a rules file over HTTP with an ETag, as a raw GitHub
// URL does, and counts the requests and the conditional ones.
type rulesServer struct {
	*httptest.Server
	mu          sync.Mutex
	body        string
	status      int
	requests    int
	conditional int // requests with If-None-Match
	notModified int // answered 304
	auth        []string
}

func newRulesServer(t *testing.T, body string) *rulesServer {
	s := &rulesServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests++
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		if s.status != http.StatusOK {
			http.Error(w, "no", s.status)
			return
		}
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(s.body)))
		w.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			s.conditional++
			if inm == etag {
				s.notModified++
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		io.WriteString(w, s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rulesServer) set(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// waitNotModified waits until the server has answered 304 n times in all.
func (s *rulesServer) waitNotModified(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mu.Lock()
		got := s.notModified
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rules server answered %d× 304, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcessRulesURL runs the bot on rules from a loopback URL polled with
// conditional requests: a change is reloaded, a bad file keeps the old
// rules, SIGHUP fetches again, and RULEBOT_RULES_AUTH is sent.
func TestProcessRulesURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	srv := newRulesServer(t, "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
	env := append(slackEnv(fake, srv.URL+"/rules.yaml"), "RULEBOT_RULES_AUTH=token s3cret")
	p := startProc(t, env, "run", "-poll", "100ms", "-http", "127.0.0.1:0")
	base := p.httpBase()
	p.waitLog("connected to Slack", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "one" {
		t.Fatalf("reply %q", got)
	}
	srv.waitNotModified(t, 2) // unchanged: polled, answered 304, nothing reloaded

	changed := time.Now()
	srv.set("rules:\n  - {name: v, match: {command: v}, reply: two}\n  - {name: w, match: {command: w}, reply: w}\n")
	p.waitLog("rules reloaded: 2 rules", 1)
	t.Logf("a change at the URL reloaded in %s with -poll 100ms", time.Since(changed).Round(time.Millisecond))
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Errorf("after the change: reply %q, want two", got)
	}
	srv.set("rules:\n  - {name: v, match: {command: v}, replay: three}\n")
	p.waitLog("reload failed; keeping the old rules", 1)
	p.waitLog(`rules.yaml:2:36: rule \"v\": unknown field \"replay\"`, 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Errorf("after a bad file: reply %q, want two (the old rules)", got)
	}
	waitSample(t, base, "rulebot_config_last_reload_successful", "", 0)
	srv.set("rules:\n  - {name: v, match: {command: v}, reply: four}\n")
	p.waitLog("rules reloaded: 1 rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "four" {
		t.Errorf("after a good file: reply %q, want four", got)
	}
	waitSample(t, base, "rulebot_config_last_reload_successful", "", 1)
	// SIGHUP fetches the URL again and reloads, changed or not.
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("rules reloaded: 1 rules", 2)

	p.stop(15 * time.Second)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, a := range srv.auth {
		if a != "token s3cret" {
			t.Errorf("a request had Authorization %q, want RULEBOT_RULES_AUTH", a)
			break
		}
	}
	if srv.conditional != srv.requests-1 { // every request after the first carries If-None-Match
		t.Errorf("%d conditional requests of %d, want all but the first", srv.conditional, srv.requests)
	}
	if log := p.logText(); strings.Contains(log, "s3cret") {
		t.Errorf("the log holds RULEBOT_RULES_AUTH:\n%s", log)
	}
	t.Logf("%d requests, %d conditional, %d answered 304", srv.requests, srv.conditional, srv.notModified)
}

// TestProcessRulesURLStartupFailure: rules that cannot be fetched at start
// are exit 2, with the URL (without its credentials) and the reason.
func TestProcessRulesURLStartupFailure(t *testing.T) {
	fake := workspace(0)
	defer fake.Close()
	srv := newRulesServer(t, "")
	srv.mu.Lock() // the handler reads it on the server's goroutines
	srv.status = http.StatusNotFound
	srv.mu.Unlock()
	p := startProc(t, slackEnv(fake, srv.URL+"/rules.yaml?token=s3cret"), "run")
	if code := p.wait(15 * time.Second); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	log := p.logText()
	if !strings.Contains(log, "404") || strings.Contains(log, "s3cret") {
		t.Errorf("the error should name the status, not the token:\n%s", log)
	}
}

// saveByRename writes content to path as editors save: a new file beside
// it, renamed over it.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestProcessWatch: run -watch reloads once per save, a save-by-rename
// included, and keeps the old rules on a bad one; -watch with a URL is a
// usage error.
func TestProcessWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
	p := startProc(t, slackEnv(fake, rules), "run", "-watch")
	p.waitLog("connected to Slack", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "one" {
		t.Fatalf("reply %q", got)
	}
	saved := time.Now()
	saveByRename(t, rules, "rules:\n  - {name: v, match: {command: v}, reply: two}\n  - {name: w, match: {command: w}, reply: w}\n")
	p.waitLog("rules reloaded: 2 rules", 1)
	t.Logf("a save reloaded in %s (debounce %s)", time.Since(saved).Round(time.Millisecond), rulesrc.DefaultDebounce)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Errorf("after the save: reply %q, want two", got)
	}
	saveByRename(t, rules, "rules:\n  - {name: v, match: {command: v}, replay: three}\n")
	p.waitLog("reload failed; keeping the old rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Errorf("after a bad save: reply %q, want two", got)
	}
	saveByRename(t, rules, "rules:\n  - {name: v, match: {command: v}, reply: four}\n")
	p.waitLog("rules reloaded: 1 rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "four" {
		t.Errorf("after a good save: reply %q, want four", got)
	}
	p.stop(15 * time.Second)
	// One reload per save: two good ones, one bad.
	log := p.logText()
	if n, m := strings.Count(log, "rules reloaded"), strings.Count(log, "reload failed"); n != 2 || m != 1 {
		t.Errorf("%d reloads and %d failed ones for 3 saves, want 2 and 1:\n%s", n, m, log)
	}

	code, _, stderr := rulebot(t, nil, "", "run", "-watch", "-rules", "https://127.0.0.1:1/rules.yaml")
	if code != 2 || !strings.Contains(stderr, "-watch") {
		t.Errorf("run -watch with a URL: exit %d, %q; want 2 and a word on -watch", code, stderr)
	}
}

// TestProcessChatWatch: chat -watch says on its screen (stderr, for a
// script) that the rules were reloaded, or why not, and answers with the
// new rules.
func TestProcessChatWatch(t *testing.T) {
	rules := write(t, t.TempDir(), "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
	stdin, toChat, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChat, stdout, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startProcWith(t, func(c *exec.Cmd) { c.Stdin, c.Stdout = stdin, stdout }, nil, "chat", "-watch", "-rules", rules)
	stdin.Close()
	stdout.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(fromChat)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// ask sends "@rulebot v" and returns the bot's answer.
	ask := func() string {
		t.Helper()
		fmt.Fprintln(toChat, "@rulebot v")
		deadline := time.After(15 * time.Second)
		for {
			select {
			case l := <-lines:
				if a, ok := strings.CutPrefix(l, "[#general] rulebot: "); ok {
					return a
				}
			case <-deadline:
				t.Fatalf("no answer from chat:\n%s", p.logText())
			}
		}
	}
	if got := ask(); got != "one" {
		t.Fatalf("answer %q", got)
	}
	saveByRename(t, rules, "rules:\n  - {name: v, match: {command: v}, reply: two}\n")
	p.waitLog("rules reloaded: 1 rules", 1)
	if got := ask(); got != "two" {
		t.Errorf("after the save: answer %q, want two", got)
	}
	saveByRename(t, rules, "rules:\n  - {name: v, match: {command: v}, replay: three}\n")
	p.waitLog("reload failed; keeping the old rules: 1 problems", 1)
	p.waitLog(`rules.yaml:2:36: rule "v": unknown field "replay"`, 1)
	if got := ask(); got != "two" {
		t.Errorf("after a bad save: answer %q, want two", got)
	}
	toChat.Close()
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("chat exited %d:\n%s", code, p.logText())
	}
}

// TestProcessScheduleMetrics: an occurrence of a schedule rule counts in
// rulebot_schedule_fires_total and rulebot_rule_fires_total, and its reply
// in rulebot_replies_total.
func TestProcessScheduleMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	fake.AddChannel("CSTANDUP", "standup", false)
	rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: tick
    schedule: "@every 10s"
    to: "#standup"
    reply: tick
  - {name: v, match: {command: v}, reply: one}
`)
	p := startProc(t, slackEnv(fake, rules), "run", "-http", "127.0.0.1:0")
	base := p.httpBase()
	p.waitLog("connected to Slack", 1)
	if _, err := fake.WaitPost(ctx); err != nil {
		t.Fatalf("no scheduled post: %v", err)
	}
	waitSample(t, base, "rulebot_replies_total", "", 1)
	wantSamples(t, "after an occurrence", scrapeMetrics(t, base), map[[2]string]float64{
		{"rulebot_schedule_fires_total", "rule=tick"}: 1,
		{"rulebot_rule_fires_total", "rule=tick"}:     1,
		{"rulebot_rule_fires_total", "rule=v"}:        0,
		{"rulebot_messages_total", ""}:                0,
	})
	p.stop(15 * time.Second)
}

// TestProcessHealthzStopping: /healthz is 200 when connected, and 503
// "stopping" while replies in flight finish after SIGTERM; it is served
// until the process exits.
func TestProcessHealthzStopping(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	fetched, release := make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "done")
	}))
	defer slow.Close()
	rules := write(t, t.TempDir(), "rules.yaml", `bot: {fetch: {allow: ["127.0.0.1"]}}
rules:
  - name: slow
    match: {command: slow}
    fetch: {url: "`+slow.URL+`", timeout: 60s}
    reply: "{{ fetch.body }}"
`)
	p := startProc(t, slackEnv(fake, rules), "run", "-grace", "30s", "-http", "127.0.0.1:0")
	base := p.httpBase()
	p.waitLog("connected to Slack", 1)
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz when connected: %d %q, want 200 ok", code, body)
	}
	post(t, ctx, fake, "<@UBOT> slow")
	<-fetched
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog("stopping", 1)
	if code, body := get(t, base+"/healthz"); code != 503 || body != "stopping\n" {
		t.Errorf("/healthz while stopping: %d %q, want 503 stopping", code, body)
	}
	close(release)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if posts := fake.Posts(); len(posts) != 1 || posts[0].Text != "done" {
		t.Errorf("posts %+v, want the reply in flight", posts)
	}
}
