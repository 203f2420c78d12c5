//go:build unix

package regfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRead reads what a rules file path may name. Nothing may block (a
// named pipe with no writer), read without end (/dev/zero) or read past
// the limit; each refusal is one clear "PATH: reason" error.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	const limit = 4 << 20
	small := file("small.yaml", []byte("rules: []\n"))
	exact := file("exact.yaml", bytes.Repeat([]byte("#"), limit))
	big := file("big.yaml", bytes.Repeat([]byte("#"), 5<<20))
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		wantLen int
		wantErr string
	}{
		{small, 10, ""},
		{exact, limit, ""},
		{link, 10, ""}, // a Kubernetes ConfigMap mounts files as symlinks
		{big, 0, big + ": larger than 4 MiB"},
		{fifo, 0, fifo + ": not a regular file (a named pipe)"},
		{"/dev/zero", 0, "/dev/zero: not a regular file (a character device)"},
		{dir, 0, dir + ": not a regular file (a directory)"},
		{filepath.Join(dir, "missing.yaml"), 0, filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			type result struct {
				data []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				data, err := Read(tt.path, limit)
				done <- result{data, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second): // generous: it takes microseconds
				t.Fatalf("Read(%s) still blocked after 30s", tt.path)
			}
			got := ""
			if r.err != nil {
				got = r.err.Error()
			}
			if got != tt.wantErr || len(r.data) != tt.wantLen {
				t.Errorf("Read(%s) = %d bytes, %q; want %d bytes, %q", tt.path, len(r.data), got, tt.wantLen, tt.wantErr)
			}
		})
	}
	if _, err := Read(filepath.Join(dir, "missing.yaml"), limit); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file's error %v is not fs.ErrNotExist", err)
	}
}

// TestReadAllocation checks that refusing /dev/zero and a file far over
// the limit allocates next to nothing (under 64 KiB): nothing is read from either.
func TestReadAllocation(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: 1 GiB on no disk
		t.Fatal(err)
	}
	f.Close()
	for _, path := range []string{"/dev/zero", big} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Read(path, 4<<20); err == nil {
			t.Fatalf("Read(%s) succeeded", path)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("Read(%s) allocated %d bytes", path, n)
		}
	}
}

// TestReadGrowing reads a file that is larger than its size when opened,
// as /proc files and files being appended to are: it stops one byte past
// the limit.
func TestReadGrowing(t *testing.T) {
	// /proc/self/status reports size 0 but holds about a kilobyte.
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := Read("/proc/self/status", 100); err == nil || !strings.HasSuffix(err.Error(), ": larger than 100 bytes") {
		t.Errorf("Read(/proc/self/status, 100) = %v; want larger than 100 bytes", err)
	}
	if data, err := Read("/proc/self/status", 1<<20); err != nil || len(data) == 0 {
		t.Errorf("Read(/proc/self/status) = %d bytes, %v", len(data), err)
	}
}
