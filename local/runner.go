package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/regfile"
	"github.com/rulebot/rulebot/internal/udiff"
)

var nameRE = regexp.MustCompile(`^[\p{L}\p{N}._-]+$`)

// TestOptions configure a run of golden conversation tests.
type TestOptions struct {
	Rules   string         // the rules file for tests that name none
	Paths   []string       // test files, or directories of them; default testdata
	Update  bool           // rewrite the goldens instead of comparing
	Verbose bool           // print each transcript
	Run     *regexp.Regexp // only test files whose path matches
	Cover   bool           // after the closing line, report which rules no test fired
	Getenv  func(string) string
}

// TestResult counts a run.
type TestResult struct {
	Passed, Failed int
	Broken         bool // some rules or test file has errors
}

// ExitCode is what rulebot test exits with: 2 for a broken file, 1 for a
// failed test, else 0.
func (r TestResult) ExitCode() int {
	switch {
	case r.Broken:
		return 2
	case r.Failed > 0:
		return 1
	}
	return 0
}

// ErrNoTests is the error of a run whose -run selects no test file: a
// mistyped filter must not pass.
var ErrNoTests = errors.New("-run selects no test file")

// RunTests runs every selected test and writes one line per test file, a
// diff for each failure, and the closing line "N passed, N failed" to w.
func RunTests(ctx context.Context, opts TestOptions, w io.Writer) (TestResult, error) {
	var res TestResult
	files, err := findTests(opts.Paths, opts.Run)
	if err != nil {
		return res, err
	}
	cov := &coverage{rules: map[string]*engine.Rules{}, fired: map[string]map[string]bool{}}
	for _, path := range files {
		ok, err := runTest(ctx, opts, path, cov, w)
		var list engine.ErrorList
		switch {
		case errors.As(err, &list):
			res.Broken = true
			fmt.Fprintf(w, "FAIL %s\n%s\n", path, list.Error())
			ok = false
		case err != nil:
			return res, err
		}
		if ok {
			res.Passed++
		} else {
			res.Failed++
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", res.Passed, res.Failed)
	if opts.Cover {
		cov.report(w)
	}
	return res, nil
}

// coverage holds the rules files the tests used, by path, and which of
// their rules fired (SPEC §1, test -cover).
type coverage struct {
	order []string // rules files in the order the tests first used them
	rules map[string]*engine.Rules

	mu    sync.Mutex
	fired map[string]map[string]bool // rules file -> rule name -> fired
}

// add records a compiled rules file.
func (c *coverage) add(path string, rs *engine.Rules) {
	c.order = append(c.order, path)
	c.rules[path] = rs
	c.fired[path] = map[string]bool{}
}

// firedIn returns the engine.Options.Fired hook for the rules file path.
func (c *coverage) firedIn(path string) func(string) {
	return func(rule string) {
		c.mu.Lock()
		c.fired[path][rule] = true
		c.mu.Unlock()
	}
}

// report writes "coverage: N of M rules fired (P%)" and a line for each
// rule that never fired, rules files in first use order, rules in file order.
func (c *coverage) report(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total, fired := 0, 0
	var never []string
	for _, path := range c.order {
		rs := c.rules[path]
		lines := rs.RuleLines()
		for _, name := range rs.Names() {
			total++
			if c.fired[path][name] {
				fired++
				continue
			}
			never = append(never, fmt.Sprintf("never fired: %s (%s:%d)", name, path, lines[name]))
		}
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(fired) / float64(total)
	}
	fmt.Fprintf(w, "coverage: %d of %d rules fired (%.1f%%)\n", fired, total, pct)
	for _, l := range never {
		fmt.Fprintln(w, l)
	}
}

// findTests lists the test files under paths, sorted.
func findTests(paths []string, run *regexp.Regexp) ([]string, error) {
	if len(paths) == 0 {
		paths = []string{"testdata"}
	}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		// Tests may sit in subfolders; rules files may sit beside them.
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && filepath.Ext(f) == ".yaml" && !isRulesFile(f) {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	if run != nil {
		n := len(files)
		files = slices.DeleteFunc(files, func(f string) bool { return !run.MatchString(f) })
		if len(files) == 0 {
			return nil, fmt.Errorf("%w: %q matches none of the %d test files under %s", ErrNoTests, run.String(), n, strings.Join(paths, ", "))
		}
	}
	return files, nil
}

// isRulesFile reports whether path is a rules file rather than a test: a
// test names its rules file (rules: FILE), a rules file lists its rules.
// Rules files may then sit beside the tests that use them.
func isRulesFile(path string) bool {
	src, err := regfile.Read(path, engine.MaxFileSize)
	if err != nil {
		return false
	}
	var doc struct {
		Rules yaml.Node `yaml:"rules"`
	}
	if yaml.Unmarshal(src, &doc) != nil {
		return false
	}
	return doc.Rules.Kind == yaml.SequenceNode
}

// GoldenPath is the golden file of a test file: NAME.golden beside NAME.yaml.
func GoldenPath(test string) string {
	return strings.TrimSuffix(test, filepath.Ext(test)) + ".golden"
}

// runTest runs one test file. It returns an engine.ErrorList when the test
// or its rules file has errors.
func runTest(ctx context.Context, opts TestOptions, path string, cov *coverage, w io.Writer) (bool, error) {
	tf, err := ReadTestFile(path)
	if err != nil {
		var list engine.ErrorList
		if errors.As(err, &list) {
			return false, err
		}
		return false, engine.ErrorList{{File: path, Msg: strings.TrimPrefix(err.Error(), path+": ")}}
	}
	rulesPath := tf.Rules
	if rulesPath == "" {
		rulesPath = opts.Rules
	}
	rs := cov.rules[rulesPath]
	if rs == nil {
		rs, err = tf.compileRules(rulesPath)
		if err != nil {
			return false, err
		}
		cov.add(rulesPath, rs)
	}

	var transcript bytes.Buffer
	clock := tf.Clock
	now := func() time.Time { return clock }
	canned := &cannedTransport{answers: tf.Fetch}
	rng := rand.New(rand.NewPCG(tf.Seed, tf.Seed))
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	// Every test file starts with its own memory, so tests never see each
	// other's writes; its TTLs follow the test's clock.
	mem, err := memory.NewRAM(tf.Memory, now)
	if err != nil {
		return false, engine.ErrorList{{File: path, Msg: err.Error()}}
	}
	defer mem.Close()
	eng := engine.New(rs, engine.Options{
		BotUserID:  BotUserID,
		BotID:      "BBOT",
		HTTPClient: &http.Client{Transport: canned},
		Now:        now,
		Intn:       rng.IntN,
		Getenv:     getenv,
		Logger:     slog.New(slog.DiscardHandler),
		Memory:     mem,
		Fired:      cov.firedIn(rulesPath),
	})
	sim := &Sim{Engine: eng, BotName: rs.Bot.Name, Now: now, Out: &transcript}
	schedules := rs.Schedules()
	for _, s := range tf.Conversation {
		stepErr := func(err error) error {
			return engine.ErrorList{{File: path, Line: s.Line, Col: s.Col, Msg: err.Error()}}
		}
		// A fetch of this step's message, or of a schedule its after:
		// passes, is this item's doing.
		canned.setStep(fmt.Sprintf("%s:%d:%d", path, s.Line, s.Col))
		end := clock.Add(s.After)
		occs, err := occurrences(schedules, clock, end, MaxOccurrences)
		if err != nil {
			return false, stepErr(fmt.Errorf("after: %v: %w", s.After, err))
		}
		for _, o := range occs {
			clock = o.at
			if _, err := sim.Fire(ctx, o.rule, o.at); err != nil {
				return false, err
			}
		}
		clock = end
		if s.ClockOnly {
			continue
		}
		if _, err := sim.Say(ctx, s.Post); err != nil {
			return false, stepErr(err)
		}
	}
	got := transcript.Bytes()
	if opts.Verbose {
		fmt.Fprintf(w, "=== %s\n%s", path, got)
	}

	golden := GoldenPath(path)
	var problems []string
	for _, u := range canned.unlisted() {
		problems = append(problems, fmt.Sprintf("%s: rule %q fetched %s, which has no canned answer under fetch:", u.at, u.rule, u.url))
	}
	want, err := os.ReadFile(golden)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return false, err
	}
	if !opts.Update {
		if missing {
			problems = append(problems, fmt.Sprintf("%s: no golden file; run `rulebot test -update %s` to write it from this run", golden, path))
		} else if d := udiff.Unified(golden, path+" (actual)", want, got); d != nil {
			problems = append(problems, string(d))
		}
	}
	if len(problems) > 0 {
		// A test that fails for another reason than its golden writes
		// nothing, even with -update.
		fmt.Fprintf(w, "FAIL %s\n", path)
		for _, p := range problems {
			fmt.Fprintln(w, strings.TrimRight(p, "\n"))
		}
		return false, nil
	}
	if opts.Update {
		if !missing && bytes.Equal(want, got) {
			fmt.Fprintf(w, "unchanged %s\n", golden)
			return true, nil
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			return false, err
		}
		fmt.Fprintf(w, "updated %s\n", golden)
		return true, nil
	}
	fmt.Fprintf(w, "ok   %s\n", path)
	return true, nil
}

// MaxOccurrences is how many schedule occurrences one advance of a test's
// clock may pass (SPEC §7); more is a test error.
const MaxOccurrences = 10_000

// An occurrence is one time a schedule rule fires.
type occurrence struct {
	rule string
	at   time.Time
}

// occurrences lists the occurrences of schedules in (from, to], in time
// order, rules in file order for the same time. More than limit of them is
// an error, found before any fires.
func occurrences(schedules []engine.Schedule, from, to time.Time, limit int) ([]occurrence, error) {
	if !to.After(from) || len(schedules) == 0 {
		return nil, nil
	}
	next := make([]time.Time, len(schedules))
	for i, s := range schedules {
		next[i] = s.Next(from)
	}
	var occs []occurrence
	for {
		first := -1
		for i, t := range next {
			if !t.IsZero() && !t.After(to) && (first < 0 || t.Before(next[first])) {
				first = i
			}
		}
		if first < 0 {
			return occs, nil
		}
		if len(occs) == limit {
			return nil, fmt.Errorf("the clock would pass more than %s schedule occurrences (%s); advance it in smaller steps",
				thousands(limit), busiest(occs))
		}
		at := next[first]
		occs = append(occs, occurrence{schedules[first].Rule, at})
		n := schedules[first].Next(at)
		if !n.After(at) {
			n = time.Time{} // a schedule that does not move on fires no more
		}
		next[first] = n
	}
}

// busiest names the rule with the most of occs, for the error about too
// many.
func busiest(occs []occurrence) string {
	count := map[string]int{}
	top := ""
	for _, o := range occs {
		count[o.rule]++
		if top == "" || count[o.rule] > count[top] {
			top = o.rule
		}
	}
	return fmt.Sprintf("rule %q fires most often", top)
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// cannedTransport answers fetches from a test file's fetch: section and
// records every URL it has no answer for. It never touches the network.
type cannedTransport struct {
	answers map[string]Canned

	mu      sync.Mutex
	step    string // FILE:LINE:COL of the conversation item being played
	missing []fetchRef
}

// A fetchRef is an unlisted fetch: the rule, the URL, and the
// FILE:LINE:COL of the conversation item that caused it.
type fetchRef struct{ rule, url, at string }

func (t *cannedTransport) setStep(at string) {
	t.mu.Lock()
	t.step = at
	t.mu.Unlock()
}

func (t *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	ans, ok := t.answers[u]
	if !ok {
		t.mu.Lock()
		t.missing = append(t.missing, fetchRef{engine.RuleFromContext(req.Context()), u, t.step})
		t.mu.Unlock()
		return nil, fmt.Errorf("no canned answer for %s", u)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: ans.Status,
		Status:     fmt.Sprintf("%d %s", ans.Status, http.StatusText(ans.Status)),
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(ans.Body)),
		Request:    req,
	}, nil
}

func (t *cannedTransport) unlisted() []fetchRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.missing)
}
