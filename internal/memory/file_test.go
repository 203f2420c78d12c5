package memory

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Environment of the child process of TestFileSurvivesKill.
const (
	crashChildDB   = "RULEBOT_MEMORY_CRASH_DB"
	crashChildFrom = "RULEBOT_MEMORY_CRASH_FROM"
)

// crashChild is the child of TestFileSurvivesKill: from FROM on, it sets
// k/N to N and adds 1 to "count", then prints "ack N", until killed.
func crashChild(path string, from int) {
	s, err := OpenFile(path, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := from; i < from+100_000; i++ { // bounded: it stops by itself if never killed
		if err := s.Write(ctx, set(fmt.Sprintf("k/%08d", i), strconv.Itoa(i))); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if err := s.Write(ctx, add("count", 1)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", i) // os.Stdout is unbuffered: the parent sees it at once
	}
	os.Exit(0)
}

// TestFileSurvivesKill kills a process writing to the memory file with
// SIGKILL, three times mid-stream, and checks that every write it had
// acknowledged is in the file.
func TestFileSurvivesKill(t *testing.T) {
	if path := os.Getenv(crashChildDB); path != "" {
		from, _ := strconv.Atoi(os.Getenv(crashChildFrom))
		crashChild(path, from)
	}
	path := filepath.Join(t.TempDir(), DefaultFile)
	next, acked := 0, 0
	for round := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileSurvivesKill$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildDB+"="+path, crashChildFrom+"="+strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := next + 150 + 100*round // mid-stream: the child keeps writing while it dies
		last := -1
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				t.Fatalf("child: %s", line)
			}
			n, ok := strings.CutPrefix(line, "ack ")
			if !ok {
				continue
			}
			last, _ = strconv.Atoi(n)
			if last == killAt {
				cmd.Process.Kill() // SIGKILL; acks already printed are still read
			}
		}
		cmd.Wait()
		cancel()
		if last < killAt {
			t.Fatalf("round %d: the child acknowledged up to %d, never reaching %d", round, last, killAt)
		}
		acked += last - next + 1
		next = last + 1
		t.Logf("round %d: killed after ack %d", round, last)

		s, err := OpenFile(path, nil)
		if err != nil {
			t.Fatalf("reopening after kill -9: %v", err)
		}
		got, err := s.Scan(context.Background(), "k/")
		if err != nil {
			t.Fatal(err)
		}
		for i := range next {
			if k := fmt.Sprintf("%08d", i); got[k] != strconv.Itoa(i) {
				t.Fatalf("round %d: acknowledged write k/%s = %d is lost (found %v)", round, k, i, got[k])
			}
		}
		// Each acknowledged iteration added 1; an unacknowledged one may have too.
		count, err := s.Get(context.Background(), "count")
		if c, _ := count.(float64); err != nil || int(c) < acked || int(c) > acked+round+1 {
			t.Fatalf("round %d: count = %v, %v; want %d to %d", round, count, err, acked, acked+round+1)
		}
		s.Close()
	}
}

// TestFileSurvivesRestart closes the memory file and opens it again, later.
func TestFileSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DefaultFile)
	clock := newFakeClock()
	s, err := OpenFile(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []Write{
		set("quote", "Winter is coming."),
		add("karma/UBOB", 3),
		push("quotes", "first", 0),
		push("quotes", "second", 0),
		withTTL(set("seen/UBOB", "2026-11-26"), 720*time.Hour),
		withTTL(set("snooze", "on"), time.Hour),
	} {
		if err := s.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(2 * time.Hour) // the TTLs are absolute times: they hold across the restart
	s, err = OpenFile(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Scan(ctx, "")
	want := map[string]any{
		"quote":      "Winter is coming.",
		"karma/UBOB": 3.0,
		"quotes":     []string{"first", "second"},
		"seen/UBOB":  "2026-11-26",
	}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a restart: %v, %v; want %v", got, err, want)
	}
}

// TestFileInUse: a second process (or store) cannot open the file at once.
func TestFileInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = OpenFile(path, nil)
	if want := "memory file " + path + " is in use by another process"; err == nil || err.Error() != want {
		t.Fatalf("second OpenFile: %v, want %q", err, want)
	}
}

// TestFileSweepsExpired: keys and claims that nobody reads again are
// removed once they expire, so the file does not grow for ever.
func TestFileSweepsExpired(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s, err := OpenFile(filepath.Join(t.TempDir(), DefaultFile), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range sweepEvery/2 - 1 { // two writes each

		if err := s.Write(ctx, withTTL(set(fmt.Sprint("seen/", i), "x"), time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Claim(ctx, fmt.Sprint("dedupe/", i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	for _, k := range []string{"a", "b"} { // b is the sweepEvery-th write
		if err := s.Write(ctx, set(k, "x")); err != nil {
			t.Fatal(err)
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if n, m := tx.Bucket(memBucket).Stats().KeyN, tx.Bucket(claimBucket).Stats().KeyN; n != 2 || m != 0 {
			return fmt.Errorf("after the sweep: %d keys and %d claims, want 2 and 0", n, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
