package slackbot

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/logbuf"
)

// logBuffer collects log output for assertions; it is safe for concurrent use.
type logBuffer struct{ logbuf.Buffer }

// lines returns the log lines that contain every one of the strings.
func (l *logBuffer) lines(with ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		if !slices.ContainsFunc(with, func(s string) bool { return !strings.Contains(line, s) }) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// recorder is a handle func for dispatcher tests: it records the text of
// every job it handles, blocks on "block" until released and panics on "boom".
type recorder struct {
	mu      sync.Mutex
	handled []string
	started chan string // gets the channel of each "block" being handled
	release chan struct{}
}

func newRecorder() *recorder {
	return &recorder{started: make(chan string, 16), release: make(chan struct{})}
}

func (r *recorder) handle(j job) {
	switch j.msg.Text {
	case "block":
		r.started <- j.msg.ChannelID
		<-r.release
	case "boom":
		panic("handler bug")
	}
	r.mu.Lock()
	r.handled = append(r.handled, j.msg.ChannelID+" "+j.msg.Text)
	r.mu.Unlock()
}

func msgJob(channel, text string) job {
	return job{msg: engine.Message{ChannelID: channel, Text: text, UserID: "UALICE", TS: "1700000000.000100"}, received: time.Now()}
}

// waitDone waits for d's jobs, failing the test if they hang.
func waitDone(t *testing.T, d *dispatcher) {
	t.Helper()
	done := make(chan struct{})
	go func() { d.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("jobs still running after 10s")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestBacklogBound: behind a handler that does not return, 100,000
// messages in one channel keep at most MaxBacklog waiting; the oldest are
// dropped and counted, and the newest are the ones answered.
func TestBacklogBound(t *testing.T) {
	const n, limit = 100_000, 1000
	var log logBuffer
	var stats Stats
	r := newRecorder()
	d := newDispatcher(4, limit, log.logger(), &stats, r.handle)
	d.submit(msgJob("C1", "block"))
	<-r.started

	before := heapInUse()
	pad := strings.Repeat("x", 256) // each message holds its own text, as real ones do
	most := 0
	for i := range n {
		d.submit(msgJob("C1", fmt.Sprint(i, pad)))
		most = max(most, d.waiting("C1"))
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grew by %d KB; at most %d waited", grown>>10, most)
	if most > limit {
		t.Errorf("%d messages waited at once, want at most %d", most, limit)
	}
	if got := stats.Backlog.Load(); got != n-limit {
		t.Errorf("dropped %d, want %d", got, n-limit)
	}
	// 1,000 waiting messages take well under 1 MB; 100,000 take over 30 MB.
	if grown > 8<<20 {
		t.Errorf("heap grew by %d MB while messages waited", grown>>20)
	}
	close(r.release)
	waitDone(t, d)
	if len(r.handled) != limit+1 || r.handled[0] != "C1 block" ||
		r.handled[1] != "C1 "+fmt.Sprint(n-limit, pad) || r.handled[limit] != "C1 "+fmt.Sprint(n-1, pad) {
		t.Errorf("handled %d messages, from %.20q to %.20q; want block, then the newest %d", len(r.handled), r.handled[1], r.handled[len(r.handled)-1], limit)
	}
	if warns := log.lines("level=WARN", "channel=C1", "oldest are dropped"); len(warns) != 1 {
		t.Errorf("%d warnings, want 1 (at most one a minute):\n%s", len(warns), strings.Join(warns, ""))
	}
}

// TestBacklogWarnsOncePerMinute: the first drop in a channel is logged at
// once; later ones at most once a minute per channel, with how many.
func TestBacklogWarnsOncePerMinute(t *testing.T) {
	var log logBuffer
	var stats Stats
	r := newRecorder()
	d := newDispatcher(4, 2, log.logger(), &stats, r.handle)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	for _, c := range []string{"C1", "C2"} {
		d.submit(msgJob(c, "block"))
		<-r.started
	}
	submit := func(channel string, k int) {
		for range k {
			d.submit(msgJob(channel, "x"))
		}
	}
	steps := []struct {
		after    time.Duration
		channel  string
		messages int
		want     []string // the warnings logged by this step
	}{
		{0, "C1", 10, []string{"channel=C1 dropped=1 "}}, // 2 wait, 8 dropped: the first is logged
		{30 * time.Second, "C1", 5, nil},                 // 5 more dropped within the minute
		{0, "C2", 3, []string{"channel=C2 dropped=1 "}},  // another channel is warned about at once
		{31 * time.Second, "C1", 1, []string{"channel=C1 dropped=13 "}},
		{time.Second, "C1", 1, nil},
	}
	seen := 0
	for i, s := range steps {
		now = now.Add(s.after)
		submit(s.channel, s.messages)
		warns := log.lines("level=WARN")
		got := warns[seen:]
		seen = len(warns)
		if len(got) != len(s.want) {
			t.Fatalf("step %d: warnings %q, want %q", i, got, s.want)
		}
		for j := range got {
			if !strings.Contains(got[j], s.want[j]) {
				t.Errorf("step %d: warning %q, want it to contain %q", i, got[j], s.want[j])
			}
		}
	}
	close(r.release)
	waitDone(t, d)
}

// TestPanicInHandler: a panic ends only its message; the channel's worker
// goes on, the slot is freed for other channels, and the panic is logged.
func TestPanicInHandler(t *testing.T) {
	var log logBuffer
	var stats Stats
	r := newRecorder()
	d := newDispatcher(1, 10, log.logger(), &stats, r.handle)
	d.submit(msgJob("C1", "boom"))
	d.submit(msgJob("C1", "after"))
	waitDone(t, d)
	d.submit(msgJob("C2", "other"))
	waitDone(t, d)
	if want := []string{"C1 after", "C2 other"}; !slices.Equal(r.handled, want) {
		t.Errorf("handled %q, want %q", r.handled, want)
	}
	if got := stats.Panics.Load(); got != 1 {
		t.Errorf("counted %d panics, want 1", got)
	}
	if lines := log.lines("level=ERROR", "channel=C1", "handler bug"); len(lines) != 1 {
		t.Errorf("log:\n%s\nwant one ERROR line naming the channel and the panic", log.String())
	}
}

// TestDropWaiting: when the grace period ends, the messages still waiting
// are dropped and counted, not handled one by one on a canceled context;
// the job in flight finishes and later channels are unaffected.
func TestDropWaiting(t *testing.T) {
	var log logBuffer
	var stats Stats
	r := newRecorder()
	d := newDispatcher(4, 1000, log.logger(), &stats, r.handle)
	for _, c := range []string{"C1", "C2"} {
		d.submit(msgJob(c, "block"))
		<-r.started
	}
	for i := range 5 {
		d.submit(msgJob("C1", fmt.Sprint("waiting ", i)))
		d.submit(msgJob("C2", fmt.Sprint("waiting ", i)))
	}
	if got := d.dropWaiting(); got != 10 {
		t.Errorf("dropWaiting = %d, want 10", got)
	}
	if got := stats.Stopped.Load(); got != 10 {
		t.Errorf("Stopped = %d, want 10", got)
	}
	close(r.release)
	waitDone(t, d)
	slices.Sort(r.handled)
	if want := []string{"C1 block", "C2 block"}; !slices.Equal(r.handled, want) {
		t.Errorf("handled %q, want only the jobs in flight %q", r.handled, want)
	}
}
