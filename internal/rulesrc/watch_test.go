package rulesrc

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watchDebounce is long enough that the few file operations of one step
// are one burst even on a loaded machine.
const watchDebounce = 300 * time.Millisecond

// quiet is how long a test waits to see that no (further) call comes.
const quiet = 4 * watchDebounce

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startWatch watches path; each call of onChange sends the file's content
// as read then.
func startWatch(t *testing.T, path string, debounce time.Duration) (<-chan string, *logBuffer) {
	t.Helper()
	var logs logBuffer
	w, err := NewWatcher(path, debounce, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		w.Run(ctx, func() {
			b, err := os.ReadFile(path)
			if err != nil {
				calls <- "error: " + err.Error()
				return
			}
			calls <- string(b)
		})
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return when its context was canceled")
		}
	})
	return calls, &logs
}

// expectCalls waits for one call per wanted content, then for quiet, and
// fails on any further call.
func expectCalls(t *testing.T, calls <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-calls:
			if got != w {
				t.Fatalf("onChange saw %q, want %q", got, w)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no onChange for %q", w)
		}
	}
	select {
	case got := <-calls:
		t.Fatalf("one more onChange (saw %q): one save must be one call", got)
	case <-time.After(quiet):
	}
}

func TestWatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to watch
		steps []func(t *testing.T, dir string)      // each one save
		want  []string                              // content at each call
	}{
		{
			name: "write in place",
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "rules.yaml"), "v2") },
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "rules.yaml"), "v3") },
			},
			want: []string{"v2", "v3"},
		},
		{
			name: "save by rename",
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) {
					tmp := filepath.Join(dir, ".rules.yaml.tmp")
					write(t, tmp, "v2")
					must(t, os.Rename(tmp, filepath.Join(dir, "rules.yaml")))
				},
				func(t *testing.T, dir string) {
					tmp := filepath.Join(dir, ".rules.yaml.tmp")
					write(t, tmp, "v3")
					must(t, os.Rename(tmp, filepath.Join(dir, "rules.yaml")))
				},
			},
			want: []string{"v2", "v3"},
		},
		{
			// vim with backupcopy=no: the test file 4913, the old file
			// renamed to a backup, the new one written, the backup removed.
			name: "vim",
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) {
					p := filepath.Join(dir, "rules.yaml")
					write(t, filepath.Join(dir, "4913"), "")
					must(t, os.Remove(filepath.Join(dir, "4913")))
					must(t, os.Rename(p, p+"~"))
					write(t, p, "v2")
					must(t, os.Chmod(p, 0o644))
					must(t, os.Remove(p+"~"))
				},
			},
			want: []string{"v2"},
		},
		{
			name: "deleted then created, then written",
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "rules.yaml"))) },
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "rules.yaml"), "v2") },
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "rules.yaml"), "v3") },
			},
			want: []string{"", "v2", "v3"}, // "": no call while the file is gone
		},
		{
			name: "burst of 10 writes",
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) {
					for i := range 10 {
						write(t, filepath.Join(dir, "rules.yaml"), "v"+string(rune('a'+i)))
					}
				},
			},
			want: []string{"vj"},
		},
		{
			name: "other files in the directory",
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) {
					write(t, filepath.Join(dir, "other.yaml"), "x")
					write(t, filepath.Join(dir, "rules.yaml.bak"), "x")
					must(t, os.Rename(filepath.Join(dir, "other.yaml"), filepath.Join(dir, "third.yaml")))
					must(t, os.Remove(filepath.Join(dir, "third.yaml")))
				},
			},
			want: []string{""},
		},
		{
			// A Kubernetes ConfigMap volume: rules.yaml -> ..data/rules.yaml,
			// ..data -> ..v1; an update writes ..v2, points a new link
			// at it, renames that over ..data and removes ..v1.
			name: "configmap symlink swap",
			setup: func(t *testing.T, dir string) string {
				must(t, os.Mkdir(filepath.Join(dir, "..v1"), 0o755))
				write(t, filepath.Join(dir, "..v1", "rules.yaml"), "v1")
				must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
				must(t, os.Symlink("..data/rules.yaml", filepath.Join(dir, "rules.yaml")))
				return filepath.Join(dir, "rules.yaml")
			},
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) {
					must(t, os.Mkdir(filepath.Join(dir, "..v2"), 0o755))
					write(t, filepath.Join(dir, "..v2", "rules.yaml"), "v2")
					must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
					must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
					must(t, os.RemoveAll(filepath.Join(dir, "..v1")))
				},
				func(t *testing.T, dir string) {
					must(t, os.Mkdir(filepath.Join(dir, "..v3"), 0o755))
					write(t, filepath.Join(dir, "..v3", "rules.yaml"), "v3")
					must(t, os.Symlink("..v3", filepath.Join(dir, "..data_tmp")))
					must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
					must(t, os.RemoveAll(filepath.Join(dir, "..v2")))
				},
			},
			want: []string{"v2", "v3"},
		},
		{
			// rules.yaml -> a file in another directory, edited in place
			// there, then the link pointed elsewhere.
			name: "symlink to another directory",
			setup: func(t *testing.T, dir string) string {
				must(t, os.Mkdir(filepath.Join(dir, "real"), 0o755))
				write(t, filepath.Join(dir, "real", "a.yaml"), "v1")
				write(t, filepath.Join(dir, "real", "b.yaml"), "b")
				must(t, os.Mkdir(filepath.Join(dir, "link"), 0o755))
				must(t, os.Symlink(filepath.Join(dir, "real", "a.yaml"), filepath.Join(dir, "link", "rules.yaml")))
				return filepath.Join(dir, "link", "rules.yaml")
			},
			steps: []func(*testing.T, string){
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "real", "a.yaml"), "v2") },
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "real", "b.yaml"), "b2") }, // not the target
				func(t *testing.T, dir string) {
					tmp := filepath.Join(dir, "link", "tmp")
					must(t, os.Symlink(filepath.Join(dir, "real", "b.yaml"), tmp))
					must(t, os.Rename(tmp, filepath.Join(dir, "link", "rules.yaml")))
				},
				func(t *testing.T, dir string) { write(t, filepath.Join(dir, "real", "b.yaml"), "b3") },
			},
			want: []string{"v2", "", "b2", "b3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "rules.yaml")
			if tc.setup != nil {
				path = tc.setup(t, dir)
			} else {
				write(t, path, "v1")
			}
			calls, _ := startWatch(t, path, watchDebounce)
			for i, step := range tc.steps {
				step(t, dir)
				if tc.want[i] == "" {
					expectCalls(t, calls)
				} else {
					expectCalls(t, calls, tc.want[i])
				}
			}
		})
	}
}

func TestWatchGoneIsLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "v1")
	calls, logs := startWatch(t, path, 50*time.Millisecond)
	must(t, os.Remove(path))
	waitFor(t, "the log line", func() bool { return logs.lines("the rules file is gone") == 1 })
	write(t, path, "v2")
	expectCalls(t, calls, "v2")
	if n := logs.lines("the rules file is gone"); n != 1 {
		t.Errorf("%d lines for the file gone, want 1", n)
	}
}

func TestWatchErrors(t *testing.T) {
	_, err := NewWatcher(filepath.Join(t.TempDir(), "missing", "rules.yaml"), 0, nil)
	if err == nil || !strings.Contains(err.Error(), "rules.yaml: cannot watch its directory") {
		t.Errorf("watching a file in a missing directory: %v", err)
	}
}

// A removed directory cannot be watched any more: the log says so.
func TestWatchDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	must(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "v1")
	_, logs := startWatch(t, path, 50*time.Millisecond)
	must(t, os.RemoveAll(dir))
	waitFor(t, "the log line", func() bool { return logs.lines("directory was removed or moved") == 1 })
}
