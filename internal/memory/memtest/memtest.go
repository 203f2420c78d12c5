// Package memtest starts a real redis-server for the tests of the memory
// stores and of the programs that use them: on a free loopback port, in a
// temporary directory, without persistence, stopped when the test ends.
// Where redis-server cannot be started the test is skipped with a message
// saying how to enable it, except under CI=true, where it fails.
package memtest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Unavailable skips tb, or fails it under CI=true, where the Redis
// tests must run.
func Unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s; CI must run the Redis tests (.ci/run installs redis-server)", why)
	}
	tb.Skipf("%s: install it to run the Redis tests (apt-get install redis-server)", why)
}

// TLSFiles are a server certificate and key for redis-server's TLS port.
type TLSFiles struct{ Cert, Key string }

// StartRedis starts a real redis-server on a free loopback port, in a
// temporary directory, without persistence, and stops it when tb ends. With
// tf it serves TLS only. It returns the server's address; when redis-server
// cannot be started, tb is skipped (failed under CI=true).
func StartRedis(tb testing.TB, tf *TLSFiles) string {
	tb.Helper()
	addr, problem := LaunchRedis(tb, tf)
	if problem != "" {
		Unavailable(tb, problem)
	}
	return addr
}

// LaunchRedis is StartRedis, returning why it failed instead of skipping.
func LaunchRedis(tb testing.TB, tf *TLSFiles) (addr, problem string) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", "redis-server is not installed"
	}
	dir := tb.TempDir()
	var last string
	for range 3 { // another process may take the free port before redis-server does
		port := FreePort(tb)
		args := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
		if tf == nil {
			args = append(args, "--port", port)
		} else {
			args = append(args, "--port", "0", "--tls-port", port,
				"--tls-cert-file", tf.Cert, "--tls-key-file", tf.Key, "--tls-auth-clients", "no")
		}
		log, ok := runRedis(tb, bin, args)
		if ok {
			return net.JoinHostPort("127.0.0.1", port), ""
		}
		last = log
	}
	return "", "redis-server did not start:\n" + last
}

// runRedis starts redis-server with args and waits until it is ready to
// accept connections. It returns the server's output when it is not, and
// whether it is ready; a ready server is stopped when tb ends.
func runRedis(tb testing.TB, bin string, args []string) (output string, ok bool) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err.Error(), false
	}
	ready := make(chan struct{})
	var mu sync.Mutex
	var log strings.Builder
	go func() { // read until the server exits, so that it never blocks on its output
		s := bufio.NewScanner(out)
		once := sync.Once{}
		for s.Scan() {
			mu.Lock()
			log.WriteString(s.Text() + "\n")
			mu.Unlock()
			if strings.Contains(s.Text(), "Ready to accept connections") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-ready:
		tb.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return "", true
	case <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	mu.Lock()
	defer mu.Unlock()
	return log.String(), false
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
