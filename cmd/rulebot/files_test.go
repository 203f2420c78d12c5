//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCheckNotRegular runs the built binary's check on what a path may name
// besides a rules file. Each is one clear line and exit 1, at once: a named
// pipe with no writer does not block, /dev/zero is not read to exhaustion
// and a 5 MiB file is refused before it is read.
func TestCheckNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := write(t, dir, "big.yaml", "rules:\n  - {name: a, reply: b}\n"+strings.Repeat("# padding\n", 5<<20/10))
	tests := []struct{ path, want string }{
		{fifo, fifo + ": not a regular file (a named pipe)"},
		{"/dev/zero", "/dev/zero: not a regular file (a character device)"},
		{dir, dir + ": not a regular file (a directory)"},
		{big, big + ": larger than 4 MiB"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "check", tt.path)
			out, err := cmd.Output()
			if ctx.Err() != nil {
				t.Fatalf("check %s still running after 30s", tt.path)
			}
			if code := cmd.ProcessState.ExitCode(); code != 1 || string(out) != tt.want+"\n" {
				t.Errorf("check %s: exit %d (%v), output %q; want exit 1 and %q", tt.path, code, err, out, tt.want)
			}
			if rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; rss > 200<<10 { // KiB on Linux
				t.Errorf("check %s: max RSS %d KiB", tt.path, rss)
			}
		})
	}
}

// TestProcessReloadFIFO replaces a running bot's rules file with a named
// pipe and sends SIGHUP: the reload fails with a clear log line instead of
// blocking, the old rules keep answering, and a later SIGHUP with a
// regular file again reloads.
func TestProcessReloadFIFO(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	dir := t.TempDir()
	rules := write(t, dir, "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: one}\n")
	p := startProc(t, slackEnv(fake, rules), "run")
	p.waitLog("connected to Slack", 1)

	if err := os.Remove(rules); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(rules, 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("not a regular file (a named pipe)", 1)
	p.waitLog("reload failed; keeping the old rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "one" {
		t.Fatalf("after the FIFO reload: reply %q, want one", got)
	}

	os.Remove(rules)
	write(t, dir, "rules.yaml", "rules:\n  - {name: v, match: {command: v}, reply: two}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("rules reloaded: 1 rules", 1)
	if got := say(t, ctx, fake, "<@UBOT> v").Text; got != "two" {
		t.Fatalf("after the good reload: reply %q, want two", got)
	}
	p.stop(10 * time.Second)
}
