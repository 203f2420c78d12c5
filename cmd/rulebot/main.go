// Command rulebot is a Slack bot whose whole behaviour is one file,
// rules.yaml. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan os.Signal, 4)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		// Stop taking events; replies in flight get -grace to finish. run
		// returns within -grace + 2s whatever is stuck (chat, check and test
		// at once), and os.Exit below ends what is still running.
		cancel()
		for s := range stop {
			if s == os.Interrupt { // Ctrl-C twice: the user means it
				fmt.Fprintln(os.Stderr, "rulebot: interrupted twice; exiting now")
				os.Exit(130)
			}
			// Heroku may send SIGTERM more than once: keep draining.
		}
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries an exit code, and optionally a message, out of run.
type exitError struct {
	code int
	msg  string // printed to stderr when not empty
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

// exitCode prints err (when it has something to say) and returns the
// process's exit code: 0 for nil, the code of an exitError, else 1.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "rulebot: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "rulebot: "+err.Error())
	return 1
}
