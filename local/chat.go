package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/yamlpos"
)

// ChatUser and ChatChannel are who speaks, and where, in rulebot chat.
const (
	ChatUser    = "you"
	ChatChannel = "general"
)

// ParseChatLine reads one line of rulebot chat: a message from "you" in
// #general, written as in a test conversation. "/as NAME TEXT" sends TEXT
// as NAME, "/dm TEXT" sends it as a direct message to the bot; the two
// combine ("/as bob /dm hi"). Blank lines give ok == false. "/fire NAME"
// is not a message: see ParseFire.
func ParseChatLine(line string) (p Post, ok bool, err error) {
	p = Post{User: ChatUser, Channel: ChatChannel}
	text := strings.TrimSpace(line)
	for {
		switch {
		case strings.HasPrefix(text, "/as ") || text == "/as":
			name, rest, _ := strings.Cut(strings.TrimSpace(text[3:]), " ")
			name = strings.TrimPrefix(name, "@")
			if !nameRE.MatchString(name) {
				return p, false, fmt.Errorf("usage: /as NAME TEXT")
			}
			p.User, text = name, strings.TrimSpace(rest)
			continue
		case strings.HasPrefix(text, "/dm ") || text == "/dm":
			p.DM, text = true, strings.TrimSpace(text[3:])
			continue
		}
		break
	}
	if text == "" {
		return p, false, nil
	}
	p.Text = text
	return p, true, nil
}

// ParseFire reports whether line is chat's "/fire NAME", which fires the
// schedule rule NAME now, and returns NAME ("" when it is missing).
func ParseFire(line string) (name string, ok bool) {
	text := strings.TrimSpace(line)
	if text != "/fire" && !strings.HasPrefix(text, "/fire ") {
		return "", false
	}
	return strings.TrimSpace(text[len("/fire"):]), true
}

// chatLine handles one line of chat: a message, or /fire NAME. A mistake
// in the line (a bad /as, an unknown schedule) is returned as mistake, to
// be shown to the person; err is a failure to write the transcript.
func chatLine(ctx context.Context, sim *Sim, line string) (mistake, err error) {
	if name, ok := ParseFire(line); ok {
		if bad := checkSchedule(sim.Engine.Rules(), name); bad != nil {
			return bad, nil
		}
		acts, err := sim.Fire(ctx, name, sim.Now())
		if err == nil && len(acts) == 0 {
			mistake = fmt.Errorf("/fire %s: the rule posted nothing (its when is false, its reply is empty, or it failed)", name)
		}
		return mistake, err
	}
	p, ok, mistake := ParseChatLine(line)
	if mistake != nil || !ok {
		return mistake, nil
	}
	_, err = sim.Say(ctx, p)
	return nil, err
}

// checkSchedule says what is wrong with firing the schedule rule name of
// rs: nothing when there is one.
func checkSchedule(rs *engine.Rules, name string) error {
	names := scheduleNames(rs)
	switch {
	case name == "":
		return errors.New("usage: /fire NAME, where NAME is a schedule rule")
	case slices.Contains(names, name):
		return nil
	case len(names) == 0:
		return fmt.Errorf("/fire %s: the rules have no schedule rules", name)
	}
	return fmt.Errorf("/fire %s: no schedule rule has that name%s; the schedule rules are %s",
		name, yamlpos.Suggest(name, names), strings.Join(names, ", "))
}

// scheduleNames lists the schedule rules of rs, in file order.
func scheduleNames(rs *engine.Rules) []string {
	var names []string
	for _, s := range rs.Schedules() {
		names = append(names, s.Rule)
	}
	return names
}

// ChatScript runs a conversation read line by line from in, writing its
// transcript to sim.Out, until EOF or ctx ends. It returns ctx.Err() as soon
// as ctx ends, even while it waits for a line or a rule is being evaluated;
// that work is then left running, for the caller to exit.
func ChatScript(ctx context.Context, sim *Sim, in io.Reader, errOut io.Writer) error {
	return untilDone(ctx, func() error { return chatScript(ctx, sim, in, errOut) })
}

func chatScript(ctx context.Context, sim *Sim, in io.Reader, errOut io.Writer) error {
	if sim.Notices != nil {
		w := &lockedWriter{w: errOut}
		errOut = w
		defer relay(sim.Notices, w)()
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := ctx.Err(); err != nil {
			return err
		}
		mistake, err := chatLine(ctx, sim, sc.Text())
		if err != nil {
			return err
		}
		if mistake != nil {
			fmt.Fprintf(errOut, "line %d: %v\n", n, mistake)
		}
	}
	return sc.Err()
}

// untilDone runs f and returns its error, or ctx.Err() as soon as ctx ends,
// leaving f running: a read from a terminal or a pipe cannot be
// interrupted, nor can a costly expression.
func untilDone(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ChatTerminal runs an interactive chat on the terminal whose file
// descriptor is fd, with line editing and history. It returns at EOF
// (Ctrl-D or Ctrl-C), on /quit, or as soon as ctx ends, with the terminal
// restored.
func ChatTerminal(ctx context.Context, sim *Sim, fd int, rw io.ReadWriter) error {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	defer term.Restore(fd, old) // also when ctx ends while a line is read
	return untilDone(ctx, func() error { return chatTerminal(ctx, sim, rw) })
}

func chatTerminal(ctx context.Context, sim *Sim, rw io.ReadWriter) error {
	t := term.NewTerminal(rw, ChatUser+"> ")
	sim.Out = t
	sim.HidePeople = true
	if sim.Notices != nil {
		defer relay(sim.Notices, t)() // a Terminal's Write redraws the prompt and the line typed
	}
	fmt.Fprintf(t, "Talking to %s in #%s as %s. /as NAME TEXT speaks as someone else, /dm TEXT is a direct message, Ctrl-D quits.\n", sim.BotName, ChatChannel, ChatUser)
	if names := scheduleNames(sim.Engine.Rules()); len(names) > 0 {
		fmt.Fprintf(t, "Schedules do not fire on their own here: /fire NAME fires one now (%s).\n", strings.Join(names, ", "))
	}
	for ctx.Err() == nil {
		line, err := t.ReadLine()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) == "/quit" {
			return nil
		}
		mistake, err := chatLine(ctx, sim, line)
		if mistake == nil {
			mistake = err
		}
		if mistake != nil {
			fmt.Fprintln(t, mistake)
		}
	}
	return ctx.Err()
}

// relay writes each notice to w, one per line, until the returned stop is
// called.
func relay(notices <-chan string, w io.Writer) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case n := <-notices:
				fmt.Fprintln(w, n)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
