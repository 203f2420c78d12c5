package rulesrc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a Watcher waits after the last event before
// it reports a change: an editor's save is several events within a few
// milliseconds (vim writes a new file, renames the old one away, renames
// the new one in place, sets its mode).
const DefaultDebounce = 100 * time.Millisecond

// A Watcher follows one file on disk and reports each change once.
//
// It watches the file's directory, not the file: an editor's save-by-rename
// (vim's write-new-then-rename, an atomic replace) puts a new file under the
// name, and a watch on the old file would see nothing more. Events are
// filtered to the file's name, and to any event after which the name leads
// to another file or changed file, which is how a symbolic link swapped in
// the same directory is noticed (a Kubernetes ConfigMap volume renames a
// new ..data link over the old one, and rules.yaml -> ..data/rules.yaml).
// When the name is a symbolic link, the directory of the file it leads to
// is watched too, so that editing the target in place is seen.
//
// Events closer together than the debounce are one change. A file deleted
// is no change (the caller would only fail to read it); it is one when it
// comes back.
type Watcher struct {
	abs      string // the file's absolute path
	dir      string // its directory
	realDir  string // the directory with symbolic links resolved
	debounce time.Duration
	log      *slog.Logger
	fw       *fsnotify.Watcher

	// Used by Run's goroutine only (and by NewWatcher before).
	extra  string      // the target's directory, when watched too
	target string      // the path with symbolic links resolved, when it resolves
	seen   fs.FileInfo // what the path named at the last look; nil when missing
}

// NewWatcher starts watching the file at path: when it returns, changes
// from then on are seen. Call Run to receive them, or Close. debounce <= 0
// is DefaultDebounce; log nil is slog.Default().
func NewWatcher(path string, debounce time.Duration, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	dir := filepath.Dir(abs)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		realDir = dir
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot watch for changes: %v", path, err)
	}
	if err := fw.Add(dir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("%s: cannot watch its directory for changes: %v", path, err)
	}
	w := &Watcher{abs: abs, dir: dir, realDir: realDir, debounce: debounce, log: log, fw: fw}
	w.look()
	return w, nil
}

// Watch is NewWatcher then Run: it returns an error when the watch cannot be
// set up, else nil once ctx is done.
func Watch(ctx context.Context, log *slog.Logger, path string, debounce time.Duration, onChange func()) error {
	w, err := NewWatcher(path, debounce, log)
	if err != nil {
		return err
	}
	w.Run(ctx, onChange)
	return nil
}

// Close stops watching. Run closes the Watcher when it returns.
func (w *Watcher) Close() error { return w.fw.Close() }

// Run calls onChange once per change of the file (once per burst of events
// within the debounce) until ctx is done, then closes the Watcher. onChange
// runs on Run's goroutine; changes made while it runs are reported after.
func (w *Watcher) Run(ctx context.Context, onChange func()) {
	defer w.fw.Close()
	t := time.NewTimer(w.debounce)
	t.Stop()
	gone := false // "the file is gone" was logged
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				t.Reset(w.debounce)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: the file may have changed.
				w.look()
				t.Reset(w.debounce)
			}
			w.log.Warn("watching the rules file", "file", w.abs, "error", err.Error())
		case <-t.C:
			if w.seen == nil {
				if !gone {
					w.log.Info("the rules file is gone; keeping the current rules until it is back", "file", w.abs)
					gone = true
				}
				continue
			}
			gone = false
			onChange()
		}
	}
}

// relevant reports whether ev may have changed the file.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.log.Warn("the rules file's directory was removed or moved: changes are no longer seen", "dir", w.dir)
	}
	// A change of mode alone (chmod, or touch) counts only if look sees
	// the file changed.
	direct := (name == w.abs || name == w.target) && ev.Op != fsnotify.Chmod
	changed := w.look()
	return direct || changed
}

// look notes what the path names now, and reports whether that differs from
// the last look: another file (a rename over it, a symbolic link swapped),
// another size or modification time, or the file appearing or vanishing.
// When the path leads through symbolic links to another directory, that
// directory is watched too.
func (w *Watcher) look() bool {
	fi, err := os.Stat(w.abs)
	if err != nil {
		fi = nil
	}
	changed := !same(w.seen, fi)
	w.seen = fi
	target, err := filepath.EvalSymlinks(w.abs)
	if err != nil {
		// Gone: watch the target's directory again once it is back (it
		// may be a new directory under the old name).
		w.target = ""
		w.unwatchExtra()
		return changed
	}
	if target == w.target {
		return changed
	}
	w.target = target
	d := filepath.Dir(target)
	if d == w.realDir || d == w.dir || d == w.extra {
		return changed
	}
	w.unwatchExtra()
	if err := w.fw.Add(d); err != nil {
		w.log.Warn("cannot watch the rules file's target directory: editing it in place is not seen", "dir", d, "error", err.Error())
		return changed
	}
	w.extra = d
	return changed
}

func (w *Watcher) unwatchExtra() {
	if w.extra != "" {
		// It may be gone already (a ConfigMap's old data directory).
		_ = w.fw.Remove(w.extra)
		w.extra = ""
	}
}

func same(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
