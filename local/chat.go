package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode"

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
// as NAME, "/dm TEXT" sends it as a direct message to the bot, "/in #CHAN
// TEXT" posts it in another channel and "/thread TEXT" posts it in the
// thread of the channel's last top-level message (as a test's thread:
// true); they combine ("/as bob /in #ops /thread hi"). Blank lines give
// ok == false. Any other /word at the start is refused with a hint, never
// sent as text. "/fire NAME", "/help", "/reload" and "/quit" are not
// messages: chat handles them first.
func ParseChatLine(line string) (p Post, ok bool, err error) {
	p = Post{User: ChatUser, Channel: ChatChannel}
	text := strings.TrimSpace(line)
	in := false
	for {
		cmd, rest := command(text)
		switch cmd {
		case "":
		case "/as":
			name, after, _ := strings.Cut(rest, " ")
			name = strings.TrimPrefix(name, "@")
			if !nameRE.MatchString(name) {
				return p, false, fmt.Errorf("usage: /as NAME TEXT")
			}
			p.User, text = name, strings.TrimSpace(after)
			continue
		case "/dm":
			p.DM, text = true, rest
			continue
		case "/in":
			name, after, _ := strings.Cut(rest, " ")
			name = strings.TrimPrefix(name, "#")
			if !nameRE.MatchString(name) {
				return p, false, fmt.Errorf("usage: /in #CHANNEL TEXT")
			}
			p.Channel, text, in = name, strings.TrimSpace(after), true
			continue
		case "/thread":
			p.Thread, text = true, rest
			continue
		default:
			return p, false, fmt.Errorf("unknown command %s: try /help", cmd)
		}
		break
	}
	if in && p.DM {
		return p, false, errors.New("/in and /dm do not combine: a direct message is in no channel")
	}
	if text == "" {
		return p, false, nil
	}
	p.Text = text
	return p, true, nil
}

// command splits text that starts with a chat command ("/" and a letter)
// into the command and the rest, trimmed; cmd is "" when there is none.
func command(text string) (cmd, rest string) {
	if len(text) < 2 || text[0] != '/' || !unicode.IsLetter(rune(text[1])) {
		return "", text
	}
	cmd, rest, _ = strings.Cut(text, " ")
	return cmd, strings.TrimSpace(rest)
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

// chatHelp lists the chat commands, for /help.
const chatHelp = `TEXT               say TEXT in #general, as you
/as NAME TEXT      say it as NAME
/dm TEXT           say it in a direct message to the bot
/in #CHANNEL TEXT  say it in another channel
/thread TEXT       say it in the thread of the channel's last top-level message
                   (these combine: /as bob /in #ops /thread TEXT)
/fire NAME         fire the schedule rule NAME now
/reload            read the rules file again
/help              this list
/quit              quit (so does Ctrl-D)
`

// chatLine handles one line of chat: a message, /fire NAME, /help or
// /reload; help goes to screen. A mistake in the line (a bad /as, an
// unknown schedule or command) is returned as mistake, to be shown to the
// person; err is a failure to write the transcript.
func chatLine(ctx context.Context, sim *Sim, line string, screen io.Writer) (mistake, err error) {
	switch strings.TrimSpace(line) {
	case "/help":
		_, err = io.WriteString(screen, chatHelp)
		return nil, err
	case "/reload":
		if sim.Reload == nil {
			return errors.New("/reload: there is no rules file to reload here"), nil
		}
		sim.Reload(ctx) // says how it went as a notice
		return nil, nil
	}
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
// transcript to sim.Out, until EOF, /quit or ctx ends; mistakes, /help
// and notices go to errOut. It returns ctx.Err() as soon
// as ctx ends, even while it waits for a line or a rule is being evaluated;
// that work is then left running, for the caller to exit.
//
// The transcript is buffered: it is written out whenever chat is about to
// wait for input (so each answer shows before chat reads on, as on a
// terminal or a pipe fed line by line), before anything is written to
// errOut (so the two read in line order when they are the same file), and
// at the end.
func ChatScript(ctx context.Context, sim *Sim, in io.Reader, errOut io.Writer) error {
	out := newScriptOutput(sim.Out, errOut)
	err := untilDone(ctx, func() error { return chatScriptTo(ctx, sim, in, out) })
	if ctx.Err() != nil {
		out.Flush() // what was answered before ctx ended; the chat may still be running
	}
	return err
}

func chatScriptTo(ctx context.Context, sim *Sim, in io.Reader, out *scriptOutput) (err error) {
	errOut := scriptErrors{out}
	sim.Out = scriptTranscript{out}
	defer func() {
		writeNotices(sim.Notices, errOut)
		if ferr := out.Flush(); err == nil {
			err = ferr
		}
	}()
	sc := bufio.NewScanner(scriptInput{r: in, out: out, notices: sim.Notices})
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := ctx.Err(); err != nil {
			return err
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "/quit" {
			return nil
		}
		mistake, err := chatLine(ctx, sim, line, errOut)
		if err != nil {
			return err
		}
		// The rule's warnings, or how a reload went, come first. (Notices
		// that come while chat waits for input are written as they come,
		// by scriptInput.)
		writeNotices(sim.Notices, errOut)
		if mistake != nil {
			fmt.Fprintf(errOut, "line %d: %v\n", n, mistake)
		}
	}
	return sc.Err()
}

// writeNotices writes the notices already sent, without waiting for more.
func writeNotices(notices <-chan string, w io.Writer) {
	for {
		select {
		case n := <-notices:
			fmt.Fprintln(w, n)
		default:
			return
		}
	}
}

// scriptOutput is a script chat's output: the transcript, buffered, and
// the error output, written at once after the transcript so far. It is
// safe for concurrent use.
type scriptOutput struct {
	mu         sync.Mutex
	transcript *bufio.Writer
	errOut     io.Writer
}

func newScriptOutput(transcript, errOut io.Writer) *scriptOutput {
	return &scriptOutput{transcript: bufio.NewWriterSize(transcript, 32<<10), errOut: errOut}
}

// Flush writes out the transcript buffered so far.
func (o *scriptOutput) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.transcript.Flush()
}

// scriptTranscript writes to a script chat's transcript.
type scriptTranscript struct{ o *scriptOutput }

func (t scriptTranscript) Write(p []byte) (int, error) {
	t.o.mu.Lock()
	defer t.o.mu.Unlock()
	return t.o.transcript.Write(p)
}

// scriptErrors writes to a script chat's error output, after the
// transcript so far.
type scriptErrors struct{ o *scriptOutput }

func (e scriptErrors) Write(p []byte) (int, error) {
	e.o.mu.Lock()
	defer e.o.mu.Unlock()
	e.o.transcript.Flush() // an error stays in the writer, for the transcript's next write
	return e.o.errOut.Write(p)
}

// scriptInput reads a script chat's input. Before each read, which may
// wait, it writes out the transcript so far; during the read, it writes
// notices as they come.
type scriptInput struct {
	r       io.Reader
	out     *scriptOutput
	notices <-chan string
}

func (in scriptInput) Read(p []byte) (int, error) {
	if err := in.out.Flush(); err != nil {
		return 0, err
	}
	if in.notices == nil {
		return in.r.Read(p)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case n := <-in.notices:
				fmt.Fprintln(scriptErrors{in.out}, n)
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-stopped
	}()
	return in.r.Read(p)
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
	flush := func() {}
	if sim.Notices != nil {
		r := startRelay(sim.Notices, t) // a Terminal's Write redraws the prompt and the line typed
		defer r.stop()
		flush = r.flush
	}
	fmt.Fprintf(t, "Talking to %s in #%s as %s. /as NAME TEXT speaks as someone else, /dm TEXT is a direct message, /help lists the rest, /quit or Ctrl-D quits.\n", sim.BotName, ChatChannel, ChatUser)
	if names := scheduleNames(sim.Engine.Rules()); len(names) > 0 {
		fmt.Fprintf(t, "Schedules do not fire on their own here: /fire NAME fires one now (%s).\n", strings.Join(names, ", "))
	}
	for ctx.Err() == nil {
		line, err := t.ReadLine()
		if errors.Is(err, io.EOF) {
			// Ctrl-D: end the prompt's line, so the shell's starts afresh.
			_, err = io.WriteString(rw, "\r\n")
			return err
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) == "/quit" {
			return nil
		}
		mistake, err := chatLine(ctx, sim, line, t)
		flush() // the rule's warnings, or how a reload went, before the next prompt
		if mistake == nil {
			mistake = err
		}
		if mistake != nil {
			fmt.Fprintln(t, mistake)
		}
	}
	return ctx.Err()
}

// A relay writes each notice to w, one per line, as it comes, until
// stopped.
type relay struct {
	notices <-chan string
	w       io.Writer
	flushes chan chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

func startRelay(notices <-chan string, w io.Writer) *relay {
	r := &relay{notices: notices, w: w, flushes: make(chan chan struct{}),
		done: make(chan struct{}), stopped: make(chan struct{})}
	go r.run()
	return r
}

func (r *relay) run() {
	defer close(r.stopped)
	for {
		select {
		case <-r.done:
			r.drain()
			return
		case ack := <-r.flushes:
			r.drain()
			close(ack)
		case n := <-r.notices:
			fmt.Fprintln(r.w, n)
		}
	}
}

// drain writes the notices already sent.
func (r *relay) drain() {
	for {
		select {
		case n := <-r.notices:
			fmt.Fprintln(r.w, n)
		default:
			return
		}
	}
}

// flush returns once the notices sent so far are written, so that what a
// line caused is said before what comes after it.
func (r *relay) flush() {
	ack := make(chan struct{})
	r.flushes <- ack
	<-ack
}

// stop writes the notices sent so far and ends the relay.
func (r *relay) stop() {
	close(r.done)
	<-r.stopped
}

// NoticeHandler is a slog handler for chat's engine: it turns each warning
// (and error) into one readable notice, such as "(rule greet failed: …)",
// and sends it to notices, which a chat prints above its prompt (see
// Sim.Notices) where a log line would garble the screen. A notice that
// finds notices full is dropped, never blocking a rule; give notices room.
func NoticeHandler(notices chan<- string) slog.Handler {
	return &noticeHandler{notices: notices}
}

type noticeHandler struct {
	notices chan<- string
	attrs   []slog.Attr
}

func (h *noticeHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *noticeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &noticeHandler{notices: h.notices, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *noticeHandler) WithGroup(string) slog.Handler { return h }

func (h *noticeHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.notices <- noticeText(r, h.attrs):
	default:
	}
	return nil
}

// noticeText is the notice of a log record: its message, naming the rule
// it is about, and its error, in parentheses.
func noticeText(r slog.Record, attrs []slog.Attr) string {
	var rule, why string
	see := func(a slog.Attr) bool {
		switch a.Key {
		case "rule":
			rule = a.Value.String()
		case "error":
			why = a.Value.String()
		}
		return true
	}
	for _, a := range attrs {
		see(a)
	}
	r.Attrs(see)
	msg := r.Message
	if rule != "" {
		switch {
		case strings.HasPrefix(msg, "rule "):
			msg = "rule " + rule + " " + msg[len("rule "):]
		case strings.HasPrefix(msg, "schedule rule "):
			msg = "schedule rule " + rule + " " + msg[len("schedule rule "):]
		default:
			msg = "rule " + rule + ": " + msg
		}
	}
	if why != "" {
		msg += ": " + why
	}
	return "(" + msg + ")"
}
