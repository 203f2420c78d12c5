package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/metrics"
	"github.com/rulebot/rulebot/internal/regfile"
	"github.com/rulebot/rulebot/internal/rulesrc"
	"github.com/rulebot/rulebot/internal/scheduler"
	"github.com/rulebot/rulebot/local"
	"github.com/rulebot/rulebot/slackbot"
)

const usage = `rulebot: a Slack bot whose whole behaviour is rules.yaml

Usage:
  rulebot                    run when SLACK_BOT_TOKEN is set, else chat in this terminal
  rulebot run   [-rules F|URL] [-transport auto|rtm|socket] [-grace 10s] [-memory FILE]
                [-http ADDR] [-watch] [-poll 1m]
  rulebot chat  [-rules F] [-memory FILE] [-watch]
                             talk to the rules locally: no Slack, no token
  rulebot check [-rules F] [F...]  validate rules files (or test files); exit 1 on any error
  rulebot test  [-rules F] [-update] [-v] [-run REGEX] [-cover] [PATH...]
                             golden conversation tests; default testdata/
  rulebot schema             print the JSON Schema of rules.yaml, for editors
  rulebot version

The rules file is -rules, else $RULEBOT_RULES, else ./rules.yaml. An
https:// URL is fetched at start and every -poll, with $RULEBOT_RULES_AUTH
as its Authorization header; -watch reloads a file when it changes.
-http serves /healthz and /metrics (default :$PORT when PORT is set).
Memory: run keeps it in Redis when REDIS_URL is set (rediss:// for TLS;
REDIS_TLS_SKIP_VERIFY=true for a self-signed certificate, as on Heroku),
else in the file -memory (default rulebot.db); chat keeps it in RAM unless
-memory is given.
`

// run is the whole program, callable from tests: args without the program
// name, env as os.Getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		if getenv("SLACK_BOT_TOKEN") != "" {
			return cmdRun(ctx, nil, getenv, stdout, stderr)
		}
		fmt.Fprintln(stderr, "rulebot: no SLACK_BOT_TOKEN, so chatting here in the terminal. To connect to Slack, set SLACK_BOT_TOKEN (and SLACK_APP_TOKEN for Socket Mode); see README.md.")
		return cmdChat(ctx, nil, getenv, stdin, stdout, stderr)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, getenv, stdout, stderr)
	case "chat":
		return cmdChat(ctx, rest, getenv, stdin, stdout, stderr)
	case "check":
		return untilStopped(ctx, func() error { return cmdCheck(rest, getenv, stdout, stderr) })
	case "test":
		return untilStopped(ctx, func() error { return cmdTest(ctx, rest, getenv, stdout, stderr) })
	case "schema":
		_, err := stdout.Write(engine.Schema())
		return err
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "rulebot", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q", cmd)}
}

// untilStopped runs f and returns its error, or, as soon as ctx ends
// (SIGTERM, SIGINT), an exit error, leaving f running for main's os.Exit to
// end: a file being compiled or a costly expression cannot be interrupted.
func untilStopped(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return &exitError{code: 1, msg: "stopped by a signal"}
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rulebot "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags; -h is not an error, and a bad flag exits 2.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0}
		}
		return &exitError{code: 2}
	}
	return nil
}

// rulesFlag adds -rules, defaulting to $RULEBOT_RULES, else rules.yaml.
func rulesFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	def := getenv("RULEBOT_RULES")
	if def == "" {
		def = "rules.yaml"
	}
	return fs.String("rules", def, "the rules `file` (run: or http(s) URL)")
}

func cmdChat(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("chat", stderr)
	rulesPath := rulesFlag(fs, getenv)
	memPath := fs.String("memory", "", "keep memory in this `file` (default: in RAM, forgotten at exit)")
	watch := fs.Bool("watch", false, "reload the rules file when it changes on disk, and say so")
	if err := parse(fs, args); err != nil {
		return err
	}
	if rulesrc.IsURL(*rulesPath) {
		return &exitError{code: 2, msg: "chat reads the rules from a file; give -rules FILE"}
	}
	src := rulesrc.NewFile(*rulesPath)
	rs, err := fetchRules(ctx, src, stderr)
	if err != nil {
		return err
	}
	var mem memory.Store // nil: the engine's own RAM
	if *memPath != "" {
		f, err := memory.OpenFile(*memPath, nil)
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		defer f.Close()
		mem = f
	}
	// The chat's screen says what went wrong, and how a reload went, in
	// readable lines above the prompt; log lines would garble it.
	notices := make(chan string, 64)
	logger := slog.New(local.NoticeHandler(notices))
	eng := engine.New(rs, engine.Options{
		BotUserID:  local.BotUserID,
		HTTPClient: nil, // the engine's own: it connects only where bot.fetch.allow allows
		Getenv:     getenv,
		Logger:     logger,
		Memory:     mem,
	})
	chatCtx, stopChat := context.WithCancel(ctx)
	defer stopChat()
	rl := &reloader{src: src, eng: eng, log: slog.New(slog.DiscardHandler), notify: func(msg string) {
		select {
		case notices <- msg:
		case <-chatCtx.Done():
		}
	}}
	sim := &local.Sim{Engine: eng, BotName: rs.Bot.Name, Now: time.Now, Out: stdout,
		Notices: notices, Reload: func(ctx context.Context) { rl.fetch(ctx) }}
	if *watch {
		w, err := rulesrc.NewWatcher(src.Name(), rulesrc.DefaultDebounce, logger)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("-watch: %v", err)}
		}
		go w.Run(chatCtx, func() { rl.fetch(chatCtx) })
	}
	in, _ := stdin.(*os.File)
	out, _ := stdout.(*os.File)
	if in != nil && out != nil && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd())) {
		err = local.ChatTerminal(ctx, sim, int(in.Fd()), struct {
			io.Reader
			io.Writer
		}{in, out})
	} else {
		err = local.ChatScript(ctx, sim, stdin, stderr)
	}
	if err != nil && ctx.Err() != nil {
		// SIGTERM or SIGINT: the chat returned at once, even if a line was
		// being read or evaluated; main exits, ending that.
		return &exitError{code: 1, msg: "chat stopped by a signal"}
	}
	return err
}

func cmdCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	rulesFile := fs.String("rules", "", "a rules `file` to check, as a file named after the flags is")
	if err := parse(fs, args); err != nil {
		return err
	}
	def := getenv("RULEBOT_RULES")
	if def == "" {
		def = "rules.yaml"
	}
	files := fs.Args()
	if *rulesFile != "" {
		files = append([]string{*rulesFile}, files...)
	}
	if len(files) == 0 {
		files = []string{def}
	}
	failed := false
	for _, f := range files {
		src, err := regfile.Read(f, engine.MaxFileSize)
		if err != nil {
			fmt.Fprintln(stdout, err)
			failed = true
			continue
		}
		if local.IsTestFile(src) {
			if !checkTestFile(f, def, stdout) {
				failed = true
			}
			continue
		}
		rs, err := engine.Compile(f, src)
		if err != nil {
			fmt.Fprintln(stdout, err)
			failed = true
			continue
		}
		for _, w := range rs.Warnings {
			fmt.Fprintln(stdout, w)
		}
		noun := "rules"
		if rs.Len() == 1 {
			noun = "rule"
		}
		fmt.Fprintf(stdout, "%s: %d %s ok\n", f, rs.Len(), noun)
	}
	if failed {
		return &exitError{code: 1}
	}
	return nil
}

// checkTestFile checks the test file f as rulebot test reads it, with
// defaultRules for a test that names no rules file, and reports whether
// it is free of errors.
func checkTestFile(f, defaultRules string, stdout io.Writer) bool {
	tf, rs, err := local.CheckTestFile(f, defaultRules)
	if err != nil {
		fmt.Fprintf(stdout, "%s: a test file (it has conversation:), checked as rulebot test reads it:\n%v\n", f, err)
		return false
	}
	for _, w := range rs.Warnings {
		fmt.Fprintln(stdout, w)
	}
	fmt.Fprintf(stdout, "%s: test file ok (%s; rules %s: %s ok)\n", f, plural(len(tf.Conversation), "conversation item"), rs.File, plural(rs.Len(), "rule"))
	return true
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func cmdTest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("test", stderr)
	rulesPath := rulesFlag(fs, getenv)
	update := fs.Bool("update", false, "rewrite the golden files from this run")
	verbose := fs.Bool("v", false, "print every transcript")
	runRE := fs.String("run", "", "only test files whose path matches this `regex`")
	cover := fs.Bool("cover", false, "after the results, report which rules no test fired")
	if err := parse(fs, args); err != nil {
		return err
	}
	opts := local.TestOptions{Rules: *rulesPath, Paths: fs.Args(), Update: *update, Verbose: *verbose, Cover: *cover, Getenv: getenv}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("-run: %v", err)}
		}
		opts.Run = re
	}
	res, err := local.RunTests(ctx, opts, stdout)
	if errors.Is(err, local.ErrNoTests) {
		return &exitError{code: 1, msg: err.Error()}
	}
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if code := res.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// hardStopSlack is how long past the grace period run waits for the bot to
// stop before it gives up on whatever is stuck (a Slack call that does not
// answer, an expression that ignores its cancellation) and returns, so that
// the process exits within -grace plus this.
const hardStopSlack = 2 * time.Second

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// A SIGHUP kills a Go program that does not take it. Take it before
	// anything else: one that arrives during start-up (while the rules load
	// or Slack answers auth.test) waits in hup and reloads the rules once
	// the bot serves, since the file may have changed after it was read.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	fs := newFlags("run", stderr)
	rulesPath := rulesFlag(fs, getenv)
	httpAddr := fs.String("http", metrics.DefaultAddr(getenv), "serve /healthz and /metrics on this `address` (default :$PORT when PORT is set, else none)")
	watch := fs.Bool("watch", false, "reload the rules file when it changes on disk")
	poll := fs.Duration("poll", rulesrc.DefaultPoll, "how often to fetch -rules when it is a URL")
	transport := fs.String("transport", slackbot.Auto, "how to connect: auto (socket when SLACK_APP_TOKEN is set, else rtm), rtm or socket")
	grace := fs.Duration("grace", 10*time.Second, "how long replies in flight may take after SIGTERM or SIGINT")
	memPath := fs.String("memory", memory.DefaultFile, "keep memory in this `file` when REDIS_URL is not set")
	if err := parse(fs, args); err != nil {
		return err
	}
	memSet := false
	fs.Visit(func(f *flag.Flag) { memSet = memSet || f.Name == "memory" })
	if *poll <= 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("-poll %s: give a positive interval, such as 1m", *poll)}
	}
	if *watch && rulesrc.IsURL(*rulesPath) {
		return &exitError{code: 2, msg: "-watch follows a file on disk; rules from a URL are fetched every -poll"}
	}
	src, err := rulesrc.Open(*rulesPath, getenv("RULEBOT_RULES_AUTH"))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	logger, err := newLogger(stderr, getenv("LOG_FORMAT"), getenv("LOG_LEVEL"))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	start := time.Now()

	// Health and metrics are served until run returns, so that /healthz
	// says "stopping" during the grace period.
	met := metrics.New(logger)
	if *httpAddr != "" {
		httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
		srv, err := met.Serve(httpCtx, *httpAddr)
		if err != nil {
			stopHTTP()
			return &exitError{code: 2, msg: err.Error()}
		}
		defer func() {
			stopHTTP()
			srv.Wait()
		}()
	}

	// The bot sees the stop only once "stopping" is logged, so that line
	// comes before anything else of the shutdown.
	botCtx, stopBot := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBot()
	served := make(chan error, 1)
	go func() {
		served <- serve(botCtx, runConfig{rules: src, watch: *watch, poll: *poll, metrics: met,
			transport: *transport, grace: *grace,
			memory: *memPath, memorySet: memSet, getenv: getenv, logger: logger, stderr: stderr, hup: hup})
	}()
	select {
	case err := <-served: // a start-up error or a fatal one: serve ends only so before the stop
		return err
	case <-ctx.Done():
	}
	met.Disconnected("stopping")
	logger.Info("stopping: taking no new events; replies in flight may finish", "grace", grace.String())
	stopBot()
	bound := time.NewTimer(*grace + hardStopSlack)
	defer bound.Stop()
	select {
	case err := <-served:
		if err != nil {
			return err
		}
		logger.Info("rulebot stopped", "uptime", time.Since(start).Round(time.Second).String())
		return nil
	case <-bound.C:
		// main exits at once, ending whatever is stuck.
		logger.Error("rulebot did not stop within the grace period plus "+hardStopSlack.String()+": exiting with work still running",
			"grace", grace.String())
		return &exitError{code: 1}
	}
}

// runConfig is what serve needs from run's flags and environment.
type runConfig struct {
	rules     rulesrc.Source
	watch     bool          // -watch: reload when the file changes on disk
	poll      time.Duration // -poll: how often a URL is fetched
	metrics   *metrics.Metrics
	transport string
	grace     time.Duration
	memory    string // -memory
	memorySet bool   // -memory was given
	getenv    func(string) string
	logger    *slog.Logger
	stderr    io.Writer
	hup       <-chan os.Signal
}

// serve loads the rules, connects to Slack and answers messages until ctx
// ends. A stop during start-up is not an error.
func serve(ctx context.Context, c runConfig) error {
	logger := c.logger
	rs, err := fetchRules(ctx, c.rules, c.stderr)
	if ctx.Err() != nil {
		return nil // stopped during start-up
	}
	if err != nil {
		return err
	}
	met := c.metrics
	met.RulesLoaded(rs.Names(), time.Now())
	mem, shared, where, err := openMemory(ctx, c, rs.Bot.Name)
	if ctx.Err() != nil {
		if err == nil {
			mem.Close()
		}
		return nil // stopped during start-up
	}
	if err != nil {
		return err
	}
	defer func() {
		if err := mem.Close(); err != nil {
			logger.Error("closing the memory failed", "error", err.Error())
		}
	}()
	cfg := slackbot.Config{
		BotToken:  c.getenv("SLACK_BOT_TOKEN"),
		AppToken:  c.getenv("SLACK_APP_TOKEN"),
		APIURL:    c.getenv("SLACK_API_URL"),
		Transport: c.transport,
		Grace:     c.grace,
		Logger:    logger,
		Observer: &slackbot.Observer{
			OnMessage:      met.Message,
			OnReply:        func(_ string, d time.Duration) { met.Replied(d) },
			OnConnected:    met.Connected,
			OnDisconnected: met.Disconnected,
		},
	}
	var gate rtmGate
	if shared { // replicas share the store: one of them answers each message
		cfg.Claim = gate.claim(mem)
	}
	bot, err := slackbot.Dial(ctx, cfg)
	if ctx.Err() != nil {
		return nil // stopped during start-up
	}
	var fatal *slackbot.FatalError
	if errors.As(err, &fatal) {
		return &exitError{code: 2, msg: fatal.Error()}
	}
	if err != nil {
		return err
	}
	if shared && bot.Transport() == slackbot.RTM { // every replica sees every event: the lease holder answers
		defer gate.lead(ctx, mem, logger)()
	}
	eopts := engine.Options{
		BotUserID:   bot.UserID,
		BotID:       bot.BotID,
		HTTPClient:  nil, // the engine's own: it connects only where bot.fetch.allow allows
		Getenv:      c.getenv,
		Logger:      logger,
		Memory:      mem,
		Fired:       met.RuleFired,
		FetchFailed: met.FetchFailed,
		Dropped:     met.Dropped,
	}
	if shared { // replicas share the store: a cooldown holds across them
		eopts.Claim = mem.Claim
	}
	eng := engine.New(rs, eopts)
	stats := bot.Stats()
	met.DroppedFrom("backlog", stats.Backlog.Load)
	met.DroppedFrom("given_up", stats.GivenUp.Load)
	met.DroppedFrom("panic", stats.Panics.Load)
	met.DroppedFrom("stopped", stats.Stopped.Load)
	logger.Info("rulebot starting", "version", version(), "rules", c.rules.Name(), "rule_count", rs.Len(),
		"transport", bot.Transport(), "bot", bot.Name, "user_id", bot.UserID, "bot_id", bot.BotID, "team", bot.Team,
		"memory", where)

	sc := scheduler.Config{
		Schedules: func() []scheduler.Entry { return scheduler.Entries(eng.Rules().Schedules()) },
		Fire: func(ctx context.Context, rule string, at time.Time) []engine.Action {
			met.ScheduleFired(rule) // an occurrence this replica fires
			return eng.Fire(ctx, rule, at)
		},
		Perform: bot.Perform,
		Logger:  logger,
		Grace:   c.grace,
	}
	if shared { // replicas share the store: one of them fires each occurrence
		sc.Claim = mem.Claim
	}
	sched := scheduler.New(sc)
	schedCtx, stopSched := context.WithCancel(ctx) // it stops with the bot, or when the bot fails
	scheduled := make(chan struct{})
	go func() {
		defer close(scheduled)
		sched.Run(schedCtx)
	}()

	rl := &reloader{src: c.rules, eng: eng, log: logger, metrics: met, swapped: sched.Reload}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.hup:
				rl.fetch(ctx)
			}
		}
	}()
	if rulesrc.IsURL(c.rules.Name()) {
		go rulesrc.Poll(ctx, logger, c.rules, c.poll, rl.changed)
	}
	if c.watch {
		w, err := rulesrc.NewWatcher(c.rules.Name(), rulesrc.DefaultDebounce, logger)
		if err != nil {
			stopSched()
			<-scheduled
			return &exitError{code: 2, msg: fmt.Sprintf("-watch: %v", err)}
		}
		go w.Run(ctx, func() { rl.fetch(ctx) })
	}

	err = bot.Run(ctx, eng)
	stopSched()
	<-scheduled // firings in flight end within the grace period
	if errors.As(err, &fatal) {
		return &exitError{code: 2, msg: fatal.Error()}
	}
	return err
}

// newLogger logs text on a terminal and JSON elsewhere; format (text or
// json) overrides that. level is debug, info (the default), warn or error.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("LOG_LEVEL=%q: use debug, info, warn or error", level)
		}
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT=%q: use text or json", format)
}
