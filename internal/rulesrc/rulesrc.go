// Package rulesrc is where `rulebot run` and `rulebot chat` get the bytes of
// the rules file and how they learn that it changed.
//
// A Source is a path on disk (read through internal/regfile: a regular file
// of at most engine.MaxFileSize bytes) or an http(s) URL fetched with
// conditional requests, so that polling an unchanged file costs a 304. Poll
// fetches a Source every interval and reports changes; a Watcher follows a
// file on disk with fsnotify, including editors' save-by-rename and
// Kubernetes ConfigMap symlink swaps, and reports each save once.
//
// Nothing here compiles rules: the caller does, exactly as on SIGHUP, and
// keeps its old rules when the new ones are bad.
package rulesrc

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/regfile"
)

// A Source is where the rules file comes from.
type Source interface {
	// Name is the path or the URL (without credentials), for log lines
	// and for problem positions (NAME:LINE:COL).
	Name() string
	// Fetch returns the rules file's current bytes, and whether they
	// differ from those of the previous successful Fetch (the first
	// successful Fetch is always a change). Its errors read "NAME: reason".
	Fetch(ctx context.Context) (src []byte, changed bool, err error)
}

// IsURL reports whether where names an http:// or https:// URL rather than
// a file.
func IsURL(where string) bool {
	l := strings.ToLower(where)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// Open returns the Source for where, the -rules flag's value: a URL (see
// IsURL) fetched with auth, RULEBOT_RULES_AUTH, as its Authorization header
// when auth is not empty, else a file path (auth is then unused).
func Open(where, auth string) (Source, error) {
	if IsURL(where) {
		return NewURL(where, URLOptions{Auth: auth})
	}
	return NewFile(where), nil
}

// File is a rules file on disk. Its Fetch compares the bytes read with the
// previous ones, so that a file polled or touched without being changed is
// no change.
type File struct {
	path string

	mu   sync.Mutex
	last []byte
	have bool
}

// NewFile returns the Source for the rules file at path.
func NewFile(path string) *File { return &File{path: path} }

// Name returns the path as given.
func (f *File) Name() string { return f.path }

// Fetch reads the file: only a regular file of at most engine.MaxFileSize
// bytes is read, never past that.
func (f *File) Fetch(context.Context) ([]byte, bool, error) {
	src, err := regfile.Read(f.path, engine.MaxFileSize)
	if err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := !f.have || !bytes.Equal(src, f.last)
	f.last, f.have = src, true
	return src, changed, nil
}
