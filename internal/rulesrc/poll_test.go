package rulesrc

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/logbuf"
)

// logBuffer collects log lines from several goroutines.
type logBuffer struct{ logbuf.Buffer }

// lines counts the occurrences of substr in the log.
func (b *logBuffer) lines(substr string) int { return strings.Count(b.String(), substr) }

// waitFor polls cond until it holds, failing the test after a generous
// while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoll(t *testing.T) {
	rs, ts := newRulesServer(t)
	src := mustURL(t, ts.URL+"/rules.yaml", URLOptions{})
	if _, changed, err := src.Fetch(context.Background()); err != nil || !changed {
		t.Fatalf("first fetch: %v, changed %v", err, changed)
	}
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	changes := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Poll(ctx, log, src, 10*time.Millisecond, func(b []byte) { changes <- string(b) })
		close(done)
	}()
	requests := func() int { n, _, _ := rs.count(); return n }
	// waitPolls waits until the server has seen n more requests.
	waitPolls := func(n int) {
		t.Helper()
		from := requests()
		waitFor(t, "polls", func() bool { return requests() >= from+n })
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case got := <-changes:
				if got != w {
					t.Fatalf("onChange(%q), want %q", got, w)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no onChange(%q)", w)
			}
		}
		select {
		case got := <-changes:
			t.Fatalf("onChange(%q) more than once per change", got)
		default:
		}
	}

	waitPolls(5) // unchanged: 304s, no call
	expect()
	rs.set("v2", `"v2"`)
	expect("v2")
	waitPolls(5)
	expect()

	// Failures are logged once per distinct error, and Poll goes on.
	rs.fail(500)
	waitPolls(5)
	rs.fail(503)
	waitPolls(5)
	rs.fail(0)
	waitPolls(3)
	rs.fail(500)
	waitPolls(3)
	rs.fail(0)
	rs.set("v3", `"v3"`)
	expect("v3")
	waitPolls(3)
	expect()

	if n := logs.lines("level=WARN"); n != 3 {
		t.Errorf("%d WARN lines, want 3 (500, 503, 500 again after a success):\n%s", n, logs.String())
	}
	if n := logs.lines("HTTP 500"); n != 2 {
		t.Errorf("%d lines for the 500s, want 2:\n%s", n, logs.String())
	}
	if n := logs.lines("fetching the rules works again"); n != 2 {
		t.Errorf("%d recovery lines, want 2:\n%s", n, logs.String())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Poll did not return when its context was canceled")
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	src := NewFile(path)
	if src.Name() != path {
		t.Errorf("Name() = %q", src.Name())
	}
	steps := []struct {
		write       string // "" writes nothing
		want        string
		wantChanged bool
	}{
		{write: "a", want: "a", wantChanged: true},
		{want: "a"},
		{write: "a", want: "a"}, // rewritten, same bytes
		{write: "b", want: "b", wantChanged: true},
	}
	for _, st := range steps {
		if st.write != "" {
			if err := os.WriteFile(path, []byte(st.write), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, changed, err := src.Fetch(context.Background())
		if err != nil || string(got) != st.want || changed != st.wantChanged {
			t.Errorf("Fetch = %q, %v, %v; want %q, %v", got, changed, err, st.want, st.wantChanged)
		}
	}
	if _, _, err := NewFile(dir).Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}
