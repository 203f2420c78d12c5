package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/term"
)

// ChatUser and ChatChannel are who speaks, and where, in rulebot chat.
const (
	ChatUser    = "you"
	ChatChannel = "general"
)

// ParseChatLine reads one line of rulebot chat: a message from "you" in
// #general, written as in a test conversation. "/as NAME TEXT" sends TEXT
// as NAME, "/dm TEXT" sends it as a direct message to the bot; the two
// combine ("/as bob /dm hi"). Blank lines give ok == false.
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

// ChatScript runs a conversation read line by line from in, writing its
// transcript to sim.Out, until EOF or ctx ends. It returns ctx.Err() as soon
// as ctx ends, even while it waits for a line or a rule is being evaluated;
// that work is then left running, for the caller to exit.
func ChatScript(ctx context.Context, sim *Sim, in io.Reader, errOut io.Writer) error {
	return untilDone(ctx, func() error { return chatScript(ctx, sim, in, errOut) })
}

func chatScript(ctx context.Context, sim *Sim, in io.Reader, errOut io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := ctx.Err(); err != nil {
			return err
		}
		p, ok, err := ParseChatLine(sc.Text())
		if err != nil {
			fmt.Fprintf(errOut, "line %d: %v\n", n, err)
			continue
		}
		if !ok {
			continue
		}
		if _, err := sim.Say(ctx, p); err != nil {
			return err
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
	fmt.Fprintf(t, "Talking to %s in #%s as %s. /as NAME TEXT speaks as someone else, /dm TEXT is a direct message, Ctrl-D quits.\n", sim.BotName, ChatChannel, ChatUser)
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
		p, ok, err := ParseChatLine(line)
		if err != nil {
			fmt.Fprintln(t, err)
			continue
		}
		if !ok {
			continue
		}
		if _, err := sim.Say(ctx, p); err != nil {
			fmt.Fprintln(t, err)
		}
	}
	return ctx.Err()
}
