// Package regfile reads small regular files without trusting what a path
// names: a named pipe, a device such as /dev/zero, a socket or a directory
// is refused before anything is read, so that reading never blocks and
// never runs out of memory, and no file is read past a limit.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Read returns the contents of the regular file at path, which may be at
// most limit bytes long. Symbolic links are followed. Every error it
// returns reads "PATH: reason", e.g. "rules.yaml: not a regular file (a
// named pipe)" or "rules.yaml: larger than 4 MiB".
func Read(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	if err := check(path, fi, limit); err != nil {
		return nil, err
	}
	// The file may be replaced between Stat and Open: open it without
	// blocking (opening a named pipe for reading waits for a writer), and
	// check again what was opened.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathError(path, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, pathError(path, err)
	}
	if err := check(path, fi, limit); err != nil {
		return nil, err
	}
	// The file may also grow after Stat: read one byte past the limit to
	// notice, and never more.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, pathError(path, err)
	}
	if int64(len(data)) > limit {
		return nil, TooLarge(path, limit)
	}
	return data, nil
}

// check refuses what is not a regular file of at most limit bytes.
func check(path string, fi fs.FileInfo, limit int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%s)", path, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		return TooLarge(path, limit)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file"
}

// TooLarge is the error for a source name (a path or a URL) longer than
// limit bytes: "NAME: larger than 4 MiB".
func TooLarge(name string, limit int64) error {
	return fmt.Errorf("%s: larger than %s", name, size(limit))
}

// size writes n bytes in the largest binary unit that divides it.
func size(n int64) string {
	for _, u := range []struct {
		unit string
		n    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return fmt.Sprintf("%d %s", n/u.n, u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// pathError drops the operation and path from an *fs.PathError, so that
// the error reads "PATH: reason" like every other one Read returns.
func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}
