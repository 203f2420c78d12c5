package engine

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/engine/internal/cronspec"
	"github.com/rulebot/rulebot/internal/netguard"
	"github.com/rulebot/rulebot/internal/yamlpos"

	_ "time/tzdata" // bot.timezone means the same on every machine, a container without zoneinfo included
)

// MaxFileSize is the largest rules file Compile accepts.
const MaxFileSize = 4 << 20

// Rules is a compiled rules file. It is immutable and safe for concurrent
// use; an Engine serves one Rules at a time and can swap in another.
type Rules struct {
	File     string    // the name given to Compile
	Bot      BotConfig // the bot: section, with defaults filled in
	Warnings []Problem // problems that do not stop the file from loading

	rules     []*rule
	vars      any  // a struct value typed from the vars: section
	helpCmd   bool // some rule has command: help, replacing the built-in help
	index     *index
	funcs     funcSet    // the functions bound per message that some expression calls
	schedules []Schedule // the schedule rules, in file order
}

// Len returns the number of rules.
func (r *Rules) Len() int { return len(r.rules) }

// Names returns the names of the rules, schedule rules included, in file
// order.
func (r *Rules) Names() []string {
	names := make([]string, len(r.rules))
	for i, x := range r.rules {
		names[i] = x.name
	}
	return names
}

// RuleLines returns the line of each rule in its file, by rule name.
func (r *Rules) RuleLines() map[string]int {
	lines := make(map[string]int, len(r.rules))
	for _, x := range r.rules {
		lines[x.name] = x.line
	}
	return lines
}

// BotConfig is the bot: section of a rules file.
type BotConfig struct {
	Name          string
	IgnoreBots    bool
	Unfurl        Unfurl
	FetchTimeout  time.Duration
	FetchMaxBytes int64
	FetchAllow    *netguard.Policy // bot.fetch.allow; nil allows public addresses only
	Flood         Flood            // answers to other bots' messages per channel
	Location      *time.Location   // bot.timezone: the zone of now() and of schedules; UTC by default
}

// Unfurl says whether Slack should expand links and media in a reply.
type Unfurl struct {
	Links bool
	Media bool
}

type matchKind int

const (
	matchAll matchKind = iota // no match: every message
	matchCommand
	matchRegex
	matchExact
	matchContains
)

type rule struct {
	name string
	help string
	line int
	col  int

	kind     matchKind
	commands []string // folded, single-spaced
	texts    []string // exact (folded, single-spaced) or contains (folded)
	re       *regexp.Regexp
	reLits   []string // literals one of which any regexp match contains; nil: none known
	reCase   []string // the same, exactly as written, for a case-sensitive regexp; nil: none known

	addressed *bool
	when      *vm.Program
	fetch     *fetchSpec
	replies   []*template
	react     string
	thread    bool
	unfurl    Unfurl
	cooldown  time.Duration
	cont      bool
	onError   *template
	to        *template // where replies go instead of the message's channel (see dest)
	ephemeral bool
	remember  []memWrite
	schedule  *cronspec.Spec // set for a schedule rule, which messages never fire
	// literal is true when the rule has no fetch, no remember and no
	// expression in its replies or to: firing then needs no expression
	// environment.
	literal bool

	canCatchAll bool // no match, when, cooldown or continue: fires on every message it may see
}

type fetchSpec struct {
	url     *template
	method  string
	headers []header
	body    *template
	timeout time.Duration
}

type header struct {
	name  string
	value *template
}

// loader holds the state of one Compile call.
type loader struct {
	*yamlpos.Checker
	env  map[string]any // the typed environment expressions compile against
	opts []expr.Option
	bot  BotConfig

	funcs     funcSet // the functions bound per message that expressions call
	scope     *scope  // the match of the rule being compiled; nil: unknown
	varValues int     // values read from vars: so far, aliases counted each time

	progs map[string]*vm.Program // compiled expressions without extra options, by source
}

// maxVarValues bounds the number of values in vars:, counting a value once
// for every alias that repeats it, so that a small file cannot make Compile
// build an exponentially large environment ("billion laughs").
const maxVarValues = 10000

// Compile parses and compiles a rules file. file names it in problems. On
// any error it returns a nil *Rules and an ErrorList holding every problem
// found, warnings included; on success the warnings are in Rules.Warnings.
func Compile(file string, src []byte) (*Rules, error) {
	l := &loader{Checker: &yamlpos.Checker{File: file}}
	rs := l.load(src)
	yamlpos.Sort(l.Problems)
	if ErrorList(l.Problems).ErrorCount() > 0 {
		return nil, ErrorList(l.Problems)
	}
	rs.Warnings = l.Problems
	return rs, nil
}

func (l *loader) load(src []byte) *Rules {
	if len(src) > MaxFileSize {
		l.Errorf(nil, "file is too large: %d bytes (the limit is %d)", len(src), MaxFileSize)
		return nil
	}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		line, col := textPos(src, i)
		l.Problems = append(l.Problems, Problem{File: l.File, Line: line, Col: col, Msg: "not a text file: it holds a NUL byte"})
		return nil
	}
	if i := invalidUTF8(src); i >= 0 {
		line, col := textPos(src, i)
		l.Problems = append(l.Problems, Problem{File: l.File, Line: line, Col: col,
			Msg: fmt.Sprintf("not UTF-8 text: byte 0x%02X is not part of a UTF-8 character (save the file as UTF-8)", src[i])})
		return nil
	}
	root, ok := l.Parse(src)
	if !ok {
		return nil
	}
	if root == nil {
		l.Errorf(nil, "the file is empty: it needs a rules: list")
		return nil
	}
	root = yamlpos.Resolve(root)
	top, ok := l.Mapping(root, "the file", "version", "bot", "vars", "rules")
	if !ok {
		return nil
	}
	rs := &Rules{File: l.File}
	if v := top["version"]; v != nil {
		if n, ok := l.Int(v.Val, "version"); ok && n != 1 {
			l.Errorf(v.Val, "version: %d is not supported (the only version is 1)", n)
		}
	}
	rs.Bot = l.botConfig(top["bot"])
	l.bot = rs.Bot
	rs.vars = l.vars(top["vars"])
	l.env = compileEnv(rs.vars)
	l.opts = exprOptions(l.env)

	rulesPair := top["rules"]
	if rulesPair == nil {
		l.Errorf(root, "the file has no rules: list")
		return rs
	}
	list := yamlpos.Resolve(rulesPair.Val)
	if list.Kind != yaml.SequenceNode {
		if list.Tag == "!!null" {
			l.Errorf(rulesPair.Key, "rules: the list is empty")
		} else {
			l.Errorf(list, "rules: expected a list of rules, got %s", yamlpos.KindName(list))
		}
		return rs
	}
	seen := map[string]*yaml.Node{}
	for i, n := range list.Content {
		r := l.rule(i, yamlpos.Resolve(n), seen)
		if r != nil {
			rs.rules = append(rs.rules, r)
			if r.kind == matchCommand && slices.Contains(r.commands, "help") {
				rs.helpCmd = true
			}
		}
	}
	l.warnUnreachable(rs.rules)
	rs.index = buildIndex(rs.rules)
	rs.funcs = l.funcs
	for _, r := range rs.rules {
		if r.schedule != nil {
			rs.schedules = append(rs.schedules, Schedule{Rule: r.name, Spec: r.schedule.String(), To: r.toSource(), next: r.schedule.Next})
		}
	}
	return rs
}

// textPos returns the line and column (in characters) of byte offset i of src.
func textPos(src []byte, i int) (line, col int) {
	start := bytes.LastIndexByte(src[:i], '\n') + 1
	return bytes.Count(src[:start], []byte("\n")) + 1, utf8.RuneCount(src[start:i]) + 1
}

// invalidUTF8 returns the offset of the first byte of src that is not part of
// a valid UTF-8 encoding, or -1.
func invalidUTF8(src []byte) int {
	if utf8.Valid(src) {
		return -1
	}
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func (l *loader) botConfig(p *yamlpos.Pair) BotConfig {
	c := BotConfig{
		Name:          "rulebot",
		IgnoreBots:    true,
		Unfurl:        Unfurl{Links: false, Media: true},
		FetchTimeout:  5 * time.Second,
		FetchMaxBytes: 1 << 20,
		Flood:         Flood{N: 10, Per: time.Minute},
		Location:      time.UTC,
	}
	if p == nil {
		return c
	}
	m, ok := l.Mapping(p.Val, "bot", "name", "ignore_bots", "unfurl", "fetch", "flood", "timezone")
	if !ok {
		return c
	}
	if v := m["timezone"]; v != nil {
		if s, ok := l.Str(v.Val, "bot.timezone"); ok {
			c.Location = l.timezone(v.Val, s)
		}
	}
	if v := m["name"]; v != nil {
		if s, ok := l.Str(v.Val, "bot.name"); ok {
			if !validName(s) {
				l.Errorf(v.Val, "bot.name: %q must be one word of letters, digits, '.', '-' or '_'", s)
			} else {
				c.Name = s
			}
		}
	}
	if v := m["ignore_bots"]; v != nil {
		c.IgnoreBots, _ = l.Bool(v.Val, "bot.ignore_bots")
	}
	if v := m["unfurl"]; v != nil {
		c.Unfurl = l.unfurl(v.Val, "bot.unfurl", c.Unfurl)
	}
	if v := m["flood"]; v != nil {
		c.Flood = l.flood(v.Val, c.Flood)
	}
	if v := m["fetch"]; v != nil {
		if f, ok := l.Mapping(v.Val, "bot.fetch", "timeout", "max_bytes", "allow"); ok {
			if t := f["timeout"]; t != nil {
				if d, ok := l.Duration(t.Val, "bot.fetch.timeout"); ok {
					c.FetchTimeout = d
				}
			}
			if t := f["max_bytes"]; t != nil {
				if n, ok := l.Size(t.Val, "bot.fetch.max_bytes"); ok {
					c.FetchMaxBytes = n
				}
			}
			if t := f["allow"]; t != nil {
				c.FetchAllow = l.fetchAllow(t.Val)
			}
		}
	}
	return c
}

// fetchAllow reads bot.fetch.allow: a list (or one) of host names, IP
// addresses and CIDR ranges that fetches may reach though they are not
// public.
func (l *loader) fetchAllow(n *yaml.Node) *netguard.Policy {
	p := &netguard.Policy{}
	items := []*yaml.Node{n}
	switch {
	case n.Kind == yaml.SequenceNode:
		items = n.Content
	case n.Kind != yaml.ScalarNode || n.Tag == "!!null":
		l.Errorf(n, "bot.fetch.allow: expected a list of host names, IP addresses and CIDR ranges, got %s", yamlpos.KindName(n))
		return p
	}
	for _, c := range items {
		c = yamlpos.Resolve(c)
		if s, ok := l.Str(c, "bot.fetch.allow"); ok {
			if err := p.Allow(s); err != nil {
				l.Errorf(c, "bot.fetch.allow: %v", err)
			}
		}
	}
	return p
}

// maxFlood bounds bot.flood's count, and so the times kept per channel;
// Slack takes about one message per second per channel anyway.
const maxFlood = 1000

var floodRE = regexp.MustCompile(`^\s*(\d+)\s*/\s*(\S+)\s*$`)

// flood reads bot.flood: N/DURATION, at most N answers to other bots per
// channel within DURATION. There is no "off": a loop must always end.
func (l *loader) flood(n *yaml.Node, def Flood) Flood {
	s, ok := l.Str(n, "bot.flood")
	if !ok {
		return def
	}
	m := floodRE.FindStringSubmatch(s)
	var f Flood
	var err error
	if m != nil {
		f.N, err = strconv.Atoi(m[1])
		if err == nil {
			f.Per, err = time.ParseDuration(m[2])
		}
	}
	switch {
	case m == nil || err != nil || f.Per <= 0:
		l.Errorf(n, "bot.flood: %q is not a limit like 10/1m (at most 10 answers to other bots per channel and minute)", s)
	case f.N < 1 || f.N > maxFlood:
		l.Errorf(n, "bot.flood: %q: the count must be from 1 to %d (to never answer bots, use ignore_bots: true)", s, maxFlood)
	default:
		return f
	}
	return def
}

var nameRE = regexp.MustCompile(`^[\p{L}\p{N}._-]+$`)

func validName(s string) bool { return nameRE.MatchString(s) }

func (l *loader) unfurl(n *yaml.Node, what string, def Unfurl) Unfurl {
	m, ok := l.Mapping(n, what, "links", "media")
	if !ok {
		return def
	}
	if v := m["links"]; v != nil {
		if b, ok := l.Bool(v.Val, what+".links"); ok {
			def.Links = b
		}
	}
	if v := m["media"]; v != nil {
		if b, ok := l.Bool(v.Val, what+".media"); ok {
			def.Media = b
		}
	}
	return def
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// vars builds a struct value from the vars: section, so that expressions are
// type-checked against it and vars.typo is a compile error.
func (l *loader) vars(p *yamlpos.Pair) any {
	if p == nil || p.Val.Tag == "!!null" {
		return struct{}{}
	}
	if p.Val.Kind != yaml.MappingNode {
		l.Errorf(p.Val, "vars: expected a mapping of names to values, got %s", yamlpos.KindName(p.Val))
		return struct{}{}
	}
	v, _ := l.varValue(p.Val, "vars", 0)
	if v == nil {
		return struct{}{}
	}
	return v
}

func (l *loader) varValue(n *yaml.Node, what string, depth int) (any, bool) {
	n = yamlpos.Resolve(n)
	if depth > 32 {
		l.Errorf(n, "%s: nested more than 32 levels deep", shorten(what, 40))
		return nil, false
	}
	size := 1
	if n.Kind == yaml.SequenceNode {
		var deep bool
		size, deep = nodeCount(n, maxVarValues+1, 32-depth) // decoded in one go below
		if deep {
			l.Errorf(n, "%s: nested more than 32 levels deep", shorten(what, 40))
			return nil, false
		}
	}
	if l.varValues += size; l.varValues > maxVarValues {
		return nil, false // reported by the top-level caller
	}
	switch n.Kind {
	case yaml.MappingNode:
		var fields []reflect.StructField
		var values []reflect.Value
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := yamlpos.Resolve(n.Content[i])
			if k.Kind != yaml.ScalarNode || !identRE.MatchString(k.Value) {
				l.Errorf(k, "%s: %s is not a name (letters, digits and _, not starting with a digit)", what, yamlpos.KindName(k))
				continue
			}
			if seen[k.Value] {
				l.Errorf(k, "%s: %q is repeated", what, k.Value)
				continue
			}
			seen[k.Value] = true
			v, ok := l.varValue(n.Content[i+1], what+"."+k.Value, depth+1)
			if !ok {
				if l.varValues > maxVarValues {
					if depth > 0 {
						return nil, false
					}
					// Keep the values read so far, so that rules using them
					// are not reported too.
					l.Errorf(k, "%s.%s: too many values: vars may hold %d (an alias counts as often as it is used)", what, k.Value, maxVarValues)
					break
				}
				continue
			}
			var rv reflect.Value
			if v == nil {
				rv = reflect.Zero(reflect.TypeFor[any]())
			} else {
				rv = reflect.ValueOf(v)
			}
			fields = append(fields, reflect.StructField{
				Name: fmt.Sprintf("F%d", len(fields)),
				Type: rv.Type(),
				Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q json:%q`, k.Value, k.Value)),
			})
			values = append(values, rv)
		}
		sv := reflect.New(reflect.StructOf(fields)).Elem()
		for i, v := range values {
			sv.Field(i).Set(v)
		}
		return sv.Interface(), true
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			var v any
			if err := c.Decode(&v); err != nil {
				l.Errorf(c, "%s: %s", what, decodeError(err))
				return nil, false
			}
			list = append(list, normalizeYAML(v))
		}
		return list, true
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			l.Errorf(n, "%s: %s", what, decodeError(err))
			return nil, false
		}
		return v, true
	}
	l.Errorf(n, "%s: unsupported value", what)
	return nil, false
}

// decodeError words an error of yaml's Decode on one line: a problem is
// one line of check's output.
func decodeError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")
	return strings.Join(strings.Fields(msg), " ")
}

// nodeCount returns the number of nodes in the tree n, following aliases,
// but at most limit, and whether the tree is more than maxDepth deep.
func nodeCount(n *yaml.Node, limit, maxDepth int) (count int, deep bool) {
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		count++
		if depth > maxDepth {
			deep = true
			return
		}
		for _, c := range yamlpos.Resolve(n).Content {
			if count >= limit || deep {
				return
			}
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return min(count, limit), deep
}

// normalizeYAML turns map[string]interface{} trees decoded by yaml into the
// shapes expressions expect.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeYAML(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeYAML(e)
		}
	}
	return v
}

var ruleFields = []string{"name", "help", "match", "addressed", "when", "fetch", "reply", "react",
	"thread", "unfurl", "cooldown", "continue", "on_error", "to", "ephemeral", "remember", "schedule"}

func (l *loader) rule(i int, n *yaml.Node, seen map[string]*yaml.Node) *rule {
	what := fmt.Sprintf("rule #%d", i+1)
	if n.Kind == yaml.MappingNode {
		// Find the name first so every later problem can say which rule.
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := yamlpos.Resolve(n.Content[j]), yamlpos.Resolve(n.Content[j+1]); k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
				what = fmt.Sprintf("rule %q", v.Value)
			}
		}
	}
	before := len(l.Problems)
	m, ok := l.Mapping(n, what, ruleFields...)
	if !ok {
		return nil
	}
	mappingOK := len(l.Problems) == before
	r := &rule{line: n.Line, col: n.Column}
	bad := false
	fail := func() { bad = true }
	if p := m["name"]; p == nil {
		l.Errorf(n, "%s: has no name", what)
		fail()
	} else if s, ok := l.Str(p.Val, what+": name"); !ok {
		fail()
	} else if strings.TrimSpace(s) == "" {
		l.Errorf(p.Val, "%s: the name is empty", what)
		fail()
	} else if prev := seen[s]; prev != nil {
		l.Errorf(p.Val, "%s: the name is used by the rule at line %d too", what, prev.Line)
		fail()
	} else {
		seen[s] = p.Val
		r.name = s
	}
	if p := m["help"]; p != nil {
		if s, ok := l.Str(p.Val, what+": help"); ok {
			r.help = strings.TrimSpace(s)
		}
	}
	if p := m["match"]; p == nil || l.match(r, p.Val, what) {
		l.scope = &scope{kind: r.kind, re: r.re}
		defer func() { l.scope = nil }()
	} else {
		fail()
	}
	if p := m["addressed"]; p != nil {
		if b, ok := l.Bool(p.Val, what+": addressed"); ok {
			r.addressed = &b
		} else {
			fail()
		}
	}
	if p := m["when"]; p != nil {
		if s, ok := l.Str(p.Val, what+": when"); ok {
			r.when = l.expression(p.Val, s, 0, what+": when", expr.AsBool())
		}
		if r.when == nil {
			fail()
		}
	}
	if p := m["fetch"]; p != nil {
		r.fetch = l.fetch(p.Val, what)
		if r.fetch == nil {
			fail()
		}
	}
	if p := m["reply"]; p != nil {
		srcs, ok := l.StrList(p.Val, what+": reply")
		if !ok {
			fail()
		}
		nodes := []*yaml.Node{p.Val}
		if p.Val.Kind == yaml.SequenceNode {
			nodes = p.Val.Content
		}
		for j, s := range srcs {
			t := l.template(nodes[min(j, len(nodes)-1)], s, what+": reply")
			if t == nil {
				fail()
			}
			r.replies = append(r.replies, t)
		}
	}
	if p := m["react"]; p != nil {
		if s, ok := l.Str(p.Val, what+": react"); ok {
			s = strings.Trim(strings.TrimSpace(s), ":")
			if !emojiRE.MatchString(s) {
				l.Errorf(p.Val, "%s: react: %q is not an emoji name like thumbsup", what, s)
				fail()
			}
			r.react = s
		} else {
			fail()
		}
	}
	if p := m["thread"]; p != nil {
		r.thread, _ = l.Bool(p.Val, what+": thread")
	}
	r.unfurl = l.bot.Unfurl
	if p := m["unfurl"]; p != nil {
		r.unfurl = l.unfurl(p.Val, what+": unfurl", l.bot.Unfurl)
	}
	if p := m["cooldown"]; p != nil {
		if d, ok := l.Duration(p.Val, what+": cooldown"); ok {
			r.cooldown = d
		} else {
			fail()
		}
	}
	if p := m["continue"]; p != nil {
		r.cont, _ = l.Bool(p.Val, what+": continue")
	}
	if p := m["on_error"]; p != nil {
		if s, ok := l.Str(p.Val, what+": on_error"); ok {
			r.onError = l.template(p.Val, s, what+": on_error")
		}
		if r.onError == nil {
			fail()
		}
	}
	if p := m["remember"]; p != nil {
		var ok bool
		if r.remember, ok = l.remember(p.Val, what); !ok {
			fail()
		}
	}
	if !l.destination(r, m, what) {
		fail()
	}
	if p := m["schedule"]; p != nil {
		if !l.schedule(r, m, p, what) {
			fail()
		}
	} else if m["reply"] == nil && m["react"] == nil && m["fetch"] == nil && m["remember"] == nil && mappingOK {
		l.Errorf(n, "%s: has no action: give it a reply, a react, a fetch or a remember", what)
		fail()
	}
	r.canCatchAll = m["match"] == nil && m["when"] == nil && m["cooldown"] == nil && m["continue"] == nil && m["schedule"] == nil
	if bad {
		return nil
	}
	r.literal = r.fetch == nil && len(r.remember) == 0 && (r.to == nil || r.to.isLiteral())
	for _, t := range r.replies {
		r.literal = r.literal && t.isLiteral()
	}
	return r
}

// timezone reads bot.timezone, an IANA name such as Europe/Berlin.
func (l *loader) timezone(n *yaml.Node, name string) *time.Location {
	// LoadLocation takes "" and "Local" too, which would make the zone
	// depend on the machine.
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		l.Errorf(n, "bot.timezone: %q is not a time zone: use an IANA name such as Europe/Berlin, America/New_York or UTC", name)
		return time.UTC
	}
	return loc
}
