package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/regfile"
	"github.com/rulebot/rulebot/local"
	"github.com/rulebot/rulebot/slackbot"
)

const usage = `rulebot: a Slack bot whose whole behaviour is rules.yaml

Usage:
  rulebot                    run when SLACK_BOT_TOKEN is set, else chat in this terminal
  rulebot run   [-rules F] [-transport auto|rtm|socket] [-grace 10s]
  rulebot chat  [-rules F]   talk to the rules locally: no Slack, no token
  rulebot check [F...]       validate rules files; exit 1 on any error
  rulebot test  [-rules F] [-update] [-v] [-run REGEX] [PATH...]
                             golden conversation tests; default testdata/
  rulebot version

The rules file is -rules, else $RULEBOT_RULES, else ./rules.yaml.
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
		return cmdCheck(rest, getenv, stdout, stderr)
	case "test":
		return cmdTest(ctx, rest, getenv, stdout, stderr)
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
	return fs.String("rules", def, "the rules `file`")
}

// loadRules reads and compiles a rules file. Problems are printed as check
// prints them; a file with errors is exit code 2.
func loadRules(path string, stderr io.Writer) (*engine.Rules, error) {
	src, err := regfile.Read(path, engine.MaxFileSize)
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	rs, err := engine.Compile(path, src)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, &exitError{code: 2}
	}
	for _, w := range rs.Warnings {
		fmt.Fprintln(stderr, w)
	}
	return rs, nil
}

func cmdChat(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("chat", stderr)
	rulesPath := rulesFlag(fs, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	rs, err := loadRules(*rulesPath, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := engine.New(rs, engine.Options{
		BotUserID:  local.BotUserID,
		HTTPClient: &http.Client{},
		Getenv:     getenv,
		Logger:     logger,
	})
	sim := &local.Sim{Engine: eng, BotName: rs.Bot.Name, Now: time.Now, Out: stdout}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if out, ok := stdout.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
			return local.ChatTerminal(ctx, sim, int(f.Fd()), struct {
				io.Reader
				io.Writer
			}{f, out})
		}
	}
	return local.ChatScript(ctx, sim, stdin, stderr)
}

func cmdCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		def := getenv("RULEBOT_RULES")
		if def == "" {
			def = "rules.yaml"
		}
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

func cmdTest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("test", stderr)
	rulesPath := rulesFlag(fs, getenv)
	update := fs.Bool("update", false, "rewrite the golden files from this run")
	verbose := fs.Bool("v", false, "print every transcript")
	runRE := fs.String("run", "", "only test files whose path matches this `regex`")
	if err := parse(fs, args); err != nil {
		return err
	}
	opts := local.TestOptions{Rules: *rulesPath, Paths: fs.Args(), Update: *update, Verbose: *verbose, Getenv: getenv}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("-run: %v", err)}
		}
		opts.Run = re
	}
	res, err := local.RunTests(ctx, opts, stdout)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if code := res.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	rulesPath := rulesFlag(fs, getenv)
	transport := fs.String("transport", slackbot.Auto, "how to connect: auto (socket when SLACK_APP_TOKEN is set, else rtm), rtm or socket")
	grace := fs.Duration("grace", 10*time.Second, "how long replies in flight may take after SIGTERM or SIGINT")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, getenv("LOG_FORMAT"), getenv("LOG_LEVEL"))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	rs, err := loadRules(*rulesPath, stderr)
	if err != nil {
		return err
	}
	bot, err := slackbot.Dial(ctx, slackbot.Config{
		BotToken:  getenv("SLACK_BOT_TOKEN"),
		AppToken:  getenv("SLACK_APP_TOKEN"),
		APIURL:    getenv("SLACK_API_URL"),
		Transport: *transport,
		Grace:     *grace,
		Logger:    logger,
	})
	var fatal *slackbot.FatalError
	if errors.As(err, &fatal) {
		return &exitError{code: 2, msg: fatal.Error()}
	}
	if err != nil {
		return err
	}
	eng := engine.New(rs, engine.Options{
		BotUserID:  bot.UserID,
		BotID:      bot.BotID,
		HTTPClient: &http.Client{},
		Getenv:     getenv,
		Logger:     logger,
	})
	logger.Info("rulebot starting", "version", version(), "rules", *rulesPath, "rule_count", rs.Len(),
		"transport", bot.Transport(), "bot", bot.Name, "user_id", bot.UserID, "team", bot.Team)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				logger.Info("stopping: taking no new events; replies in flight may finish", "grace", grace.String())
				return
			case <-hup:
				reload(*rulesPath, eng, logger)
			}
		}
	}()

	start := time.Now()
	err = bot.Run(ctx, eng)
	if errors.As(err, &fatal) {
		return &exitError{code: 2, msg: fatal.Error()}
	}
	if err != nil {
		return err
	}
	logger.Info("rulebot stopped", "uptime", time.Since(start).Round(time.Second).String())
	return nil
}

// reload compiles the rules file again and swaps it in; on any error the
// old rules keep serving and every problem is logged as check prints it.
// Reloads are serialized: they all run on the one signal goroutine.
func reload(path string, eng *engine.Engine, logger *slog.Logger) {
	src, err := regfile.Read(path, engine.MaxFileSize)
	if err != nil {
		logger.Error("reload failed; keeping the old rules", "error", err.Error())
		return
	}
	rs, err := engine.Compile(path, src)
	var list engine.ErrorList
	if errors.As(err, &list) {
		logger.Error(fmt.Sprintf("reload failed; keeping the old rules: %d problems", list.ErrorCount()))
		for _, p := range list {
			logger.Error(p.String())
		}
		return
	}
	if err != nil {
		logger.Error("reload failed; keeping the old rules", "error", err.Error())
		return
	}
	for _, w := range rs.Warnings {
		logger.Warn(w.String())
	}
	eng.Swap(rs)
	logger.Info(fmt.Sprintf("rules reloaded: %d rules", rs.Len()))
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

// version is the module version, or the VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		return "devel " + rev[:min(12, len(rev))] + dirty
	}
	return v
}
