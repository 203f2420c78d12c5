package engine

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/internal/yamlpos"

	"github.com/rulebot/rulebot/engine/internal/exprlimit"
	"github.com/rulebot/rulebot/engine/internal/prefilter"
)

// The types below are what expressions see as user, channel, fetch and bot.
type exprUser struct {
	ID   string `expr:"id" json:"id"`
	Name string `expr:"name" json:"name"`
}

type exprChannel struct {
	ID   string `expr:"id" json:"id"`
	Name string `expr:"name" json:"name"`
	DM   bool   `expr:"dm" json:"dm"`
}

type exprFetch struct {
	Status int    `expr:"status" json:"status"`
	OK     bool   `expr:"ok" json:"ok"`
	Body   string `expr:"body" json:"body"`
	JSON   any    `expr:"json" json:"json"`
}

type exprBot struct {
	ID   string `expr:"id" json:"id"`
	Name string `expr:"name" json:"name"`
}

// compileEnv is the typed environment every expression is checked against.
// Handle builds one of the same shape, with values, for each message.
func compileEnv(vars any) map[string]any {
	return map[string]any{
		"text":       "",
		"raw":        "",
		"user":       exprUser{},
		"channel":    exprChannel{},
		"thread":     "",
		"addressed":  false,
		"args":       []string(nil),
		"rest":       "",
		"groups":     []string(nil),
		"match":      map[string]string(nil),
		"fetch":      exprFetch{},
		"vars":       vars,
		"bot":        exprBot{},
		"error":      "",
		"now":        (func() time.Time)(nil),
		"pick":       (func(any) (any, error))(nil),
		"env":        (func(string) (string, error))(nil),
		"recall":     (func(string) (any, error))(nil),
		"recall_all": (func(string) (map[string]any, error))(nil),
		"mention":    (func(string) string)(nil),
	}
}

// A funcSet is a set of the functions that are bound for each message, as
// closures over it, and only when some expression of the rules calls them:
// rules that do not use them cost nothing for them.
type funcSet uint8

const (
	funcNow funcSet = 1 << iota
	funcRecall
	funcRecallAll
	funcMention
)

var funcNames = []struct {
	name string
	f    funcSet
}{{"now", funcNow}, {"recall", funcRecall}, {"recall_all", funcRecallAll}, {"mention", funcMention}}

// usedFuncs returns the per-message functions that prog, compiled from
// src, names.
func usedFuncs(prog *vm.Program, src string) funcSet {
	var names []string
	for _, f := range funcNames {
		if strings.Contains(src, f.name) {
			names = append(names, f.name)
		}
	}
	if len(names) == 0 {
		return 0
	}
	var set funcSet
	for _, name := range usedNames(prog, names) {
		for _, f := range funcNames {
			if f.name == name {
				set |= f.f
			}
		}
	}
	return set
}

func exprOptions(env map[string]any) []expr.Option {
	opts := []expr.Option{expr.Env(env), expr.DisableBuiltin("now"), expr.MaxNodes(2000)}
	opts = append(opts, exprlimit.Options()...)
	return append(opts, pureFuncs...)
}

// expression compiles src, found in node n at byte offset off of its text.
// exprlimit bounds its size and nesting, and meters what it costs to run.
func (l *loader) expression(n *yaml.Node, src string, off int, what string, extra ...expr.Option) *vm.Program {
	prog, err := l.compileExpr(src, extra)
	if err != nil {
		msg := err.Error()
		col := 0
		var fe *file.Error
		if errors.As(err, &fe) {
			msg, col = fe.Message, fe.Column
			if fe.Line > 1 {
				off = -1 // a multi-line expression: point at the field
			}
		}
		if strings.Contains(msg, "exceeds maximum allowed nodes") {
			msg, col = "the expression is too large (more than 2000 operands and operators)", 0
		}
		l.Problems = append(l.Problems, Problem{
			File: l.File, Line: n.Line, Col: scalarCol(n, off, col),
			Msg: fmt.Sprintf("%s: %s", what, friendlyExprError(msg, src, col, l.env)),
		})
		return nil
	}
	if msg, at := envProblem(prog.Node()); msg != "" {
		if strings.Contains(src, "\n") {
			off = -1
		}
		l.Problems = append(l.Problems, Problem{File: l.File, Line: n.Line, Col: scalarCol(n, off, at),
			Msg: fmt.Sprintf("%s: %s", what, msg)})
		return nil
	}
	if l.scope != nil {
		if msg, at, warn := l.scope.check(prog.Node()); msg != "" {
			if strings.Contains(src, "\n") {
				off = -1
			}
			l.Problems = append(l.Problems, Problem{File: l.File, Line: n.Line, Col: scalarCol(n, off, at),
				Msg: fmt.Sprintf("%s: %s", what, msg), Warning: warn})
			if !warn {
				return nil
			}
		}
	}
	l.funcs |= usedFuncs(prog, src)
	return prog
}

// compileExpr compiles src with the file's options and extra. An
// expression compiled before without extra options is not compiled again:
// rules repeat a few expressions ({{ groups[1] }}, {{ user.name }}) many
// times, and compiling one was most of the cost of loading a large file.
// The checks of expression go on running for each use.
func (l *loader) compileExpr(src string, extra []expr.Option) (*vm.Program, error) {
	if len(extra) > 0 {
		return exprlimit.Compile(src, append(l.opts[:len(l.opts):len(l.opts)], extra...)...)
	}
	if prog, ok := l.progs[src]; ok {
		return prog, nil
	}
	prog, err := exprlimit.Compile(src, l.opts...)
	if err == nil {
		if l.progs == nil {
			l.progs = map[string]*vm.Program{}
		}
		l.progs[src] = prog
	}
	return prog, err
}

// A scope is what a rule's match gives its expressions: groups and match
// for a regex, args and rest for a command.
type scope struct {
	kind matchKind
	re   *regexp.Regexp // for matchRegex
}

// check finds, in the compiled tree root, names the rule's match never
// fills: match.NAME for a group the regex does not have, groups[N] past its
// groups, groups or match without a regex (errors), and args or rest
// without a command (a warning: they are always empty). It returns the
// first problem and its rune column; an error before any warning.
func (s *scope) check(root ast.Node) (msg string, col int, warn bool) {
	var warnMsg string
	warnCol := 0
	bad := ast.Find(root, func(node ast.Node) bool {
		if msg != "" {
			return false // Find keeps the last node it was told true for
		}
		switch x := node.(type) {
		case *ast.IdentifierNode:
			switch x.Value {
			case "groups", "match":
				if s.kind != matchRegex {
					msg = fmt.Sprintf("%s is always empty: the rule's match is not a regex", x.Value)
				}
			case "args", "rest":
				if s.kind != matchCommand && warnMsg == "" {
					warnMsg = fmt.Sprintf("%s is always empty: the rule's match is not a command", x.Value)
					warnCol = x.Location().From
				}
			}
		case *ast.MemberNode:
			id, ok := x.Node.(*ast.IdentifierNode)
			if !ok || s.kind != matchRegex {
				return false
			}
			switch p := x.Property.(type) {
			case *ast.StringNode:
				if id.Value == "match" && s.re.SubexpIndex(p.Value) < 0 {
					msg = fmt.Sprintf("match.%s: the regex has no group named %s (%s)", p.Value, p.Value, s.groupNames())
				}
			case *ast.IntegerNode:
				if n := s.re.NumSubexp(); id.Value == "groups" && p.Value > n {
					msg = fmt.Sprintf("groups[%d]: the regex has %s, so groups goes from groups[0], the whole match, to groups[%d]",
						p.Value, plural(n, "group"), n)
				}
			}
		}
		return msg != ""
	})
	if bad != nil {
		return msg, bad.Location().From, false
	}
	return warnMsg, warnCol, warnMsg != ""
}

// groupNames lists the regex's named groups for a message.
func (s *scope) groupNames() string {
	var names []string
	for _, name := range s.re.SubexpNames() {
		if name != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "it has no named groups; name one with (?P<name>...)"
	}
	return "it has " + strings.Join(names, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// envProblem checks the calls of env in the compiled tree: each must name
// a literal variable, and not one of the bot's own secrets; env is not a
// value to pass around, and $env, which would reach env and every other
// value by a computed name, is refused. It returns the problem and the rune
// column in the expression where it is.
func envProblem(root ast.Node) (msg string, col int) {
	called := map[ast.Node]bool{} // the env identifiers that are called
	bad := ast.Find(root, func(node ast.Node) bool {
		if msg != "" {
			return false // Find keeps the last node it was told true for
		}
		switch x := node.(type) {
		case *ast.CallNode:
			if id, ok := x.Callee.(*ast.IdentifierNode); !ok || id.Value != "env" || len(x.Arguments) != 1 {
				return false // a wrong count of arguments is the checker's
			}
			called[x.Callee] = true
			if s, ok := x.Arguments[0].(*ast.StringNode); !ok {
				msg = `env() takes a literal name, such as env("API_KEY"); a computed name could read any secret`
			} else if forbiddenEnv(s.Value) {
				msg = fmt.Sprintf("env(%q): SLACK_* variables and REDIS_URL cannot be read by rules", s.Value)
			}
		case *ast.IdentifierNode:
			if x.Value == "$env" {
				msg = "$env cannot be used in rules"
			}
		}
		return msg != ""
	})
	if bad == nil { // callees are visited before their calls: a second look
		bad = ast.Find(root, func(node ast.Node) bool {
			id, ok := node.(*ast.IdentifierNode)
			if msg == "" && ok && id.Value == "env" && !called[node] {
				msg = `env can only be called, with a literal name, such as env("API_KEY")`
				return true
			}
			return false
		})
	}
	if bad == nil {
		return "", 0
	}
	return msg, bad.Location().From
}

// forbiddenEnv reports whether name is one of the bot's own secrets, which
// rules may never read: SLACK_* and REDIS_URL, in any case.
func forbiddenEnv(name string) bool {
	u := strings.ToUpper(name)
	return strings.HasPrefix(u, "SLACK_") || u == "REDIS_URL"
}

var structType = regexp.MustCompile(`^type (struct \{.*\}|engine\.expr(\w+)) has no field (\w+)$`)

// friendlyExprError rewrites messages that name Go types, and adds a
// "did you mean" to unknown names close to a known one. src is the
// expression, col the (0-based, in runes) column expr gave for msg and env
// the environment it was compiled against.
func friendlyExprError(msg, src string, col int, env map[string]any) string {
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok && !strings.ContainsAny(name, " .") {
		return msg + suggest(name, slices.Sorted(maps.Keys(env)))
	}
	if m := structType.FindStringSubmatch(msg); m != nil {
		path := strings.ToLower(m[2]) + "." + m[3]
		if m[2] == "" {
			// A vars struct: name the field by the path written before it.
			path = memberPath(src, col, m[3], "vars")
		}
		return "unknown name " + path + suggestPath(path, env)
	}
	msg = strings.ReplaceAll(msg, "engine.expr", "")
	return strings.TrimSpace(replaceStructTypes(msg, "a map"))
}

// suggestPath returns a "did you mean" for the unknown dotted path, such as
// user.nmae, naming a field of the same parent in env; "" if none is close.
func suggestPath(path string, env map[string]any) string {
	i := strings.LastIndexByte(path, '.')
	parent, field := path[:i], path[i+1:]
	names := strings.Split(parent, ".")
	v := reflect.ValueOf(env[names[0]])
	for _, name := range names[1:] {
		if v = fieldByTag(v, name); !v.IsValid() {
			return ""
		}
	}
	v = deref(v)
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return ""
	}
	var known []string
	for i := range v.NumField() {
		if tag := v.Type().Field(i).Tag.Get("expr"); tag != "" {
			known = append(known, tag)
		}
	}
	if s := suggest(field, known); s != "" {
		return yamlpos.Suggest(path, []string{parent + "." + strings.Split(s, `"`)[1]})
	}
	return ""
}

// suggest is yamlpos.Suggest trying first the known names that begin with
// the same letter as name: typos are rarer there, so txt is taken for text
// rather than bot.
func suggest(name string, known []string) string {
	known = slices.Clone(known)
	slices.SortStableFunc(known, func(a, b string) int {
		return cmp.Compare(sameStart(b, name), sameStart(a, name))
	})
	return yamlpos.Suggest(name, known)
}

func sameStart(a, b string) int {
	if a != "" && b != "" && a[0] == b[0] {
		return 1
	}
	return 0
}

// deref unwraps interfaces and pointers.
func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		v = v.Elem()
	}
	return v
}

// fieldByTag returns the field of struct v tagged expr:"name".
func fieldByTag(v reflect.Value, name string) reflect.Value {
	v = deref(v)
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("expr") == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// memberPath returns the dotted path, such as vars.a.b, that ends with the
// field written at rune column col of src; def.field if none is found.
func memberPath(src string, col int, field, def string) string {
	r := []rune(src)
	end := col + len([]rune(field))
	if col < 0 || end > len(r) || string(r[col:end]) != field {
		return def + "." + field
	}
	start := col
	for start > 0 && (r[start-1] == '.' || r[start-1] == '?' || r[start-1] == '_' ||
		unicode.IsLetter(r[start-1]) || unicode.IsDigit(r[start-1])) {
		start--
	}
	path := strings.ReplaceAll(string(r[start:end]), "?.", ".")
	if !strings.HasPrefix(path, def+".") {
		return def + "." + field
	}
	return path
}

// replaceStructTypes replaces every Go struct type written in msg, such as
// struct { F0 int "expr:\"a\"" }, by name.
func replaceStructTypes(msg, name string) string {
	for {
		i := strings.Index(msg, "struct {")
		if i < 0 {
			return msg
		}
		depth, j, inStr := 0, i+len("struct "), false
		for ; j < len(msg); j++ {
			switch c := msg[j]; {
			case inStr && c == '\\':
				j++
			case c == '"':
				inStr = !inStr
			case !inStr && c == '{':
				depth++
			case !inStr && c == '}':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if j >= len(msg) {
			return msg
		}
		msg = msg[:i] + name + msg[j+1:]
	}
}

// scalarCol is the column of byte offset off (plus col more runes) inside
// the scalar n, when n is written on one line; else n's own column.
func scalarCol(n *yaml.Node, off, col int) int {
	if off < 0 || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || strings.Contains(n.Value, "\n") {
		return n.Column
	}
	c := n.Column + len([]rune(n.Value[:min(off, len(n.Value))])) + col
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		c++
	}
	return c
}

// template compiles the template src found in node n.
func (l *loader) template(n *yaml.Node, src, what string) *template {
	segs, err := splitTemplate(src)
	if err != nil {
		var te *templateError
		off := -1
		if errors.As(err, &te) {
			off = te.offset
		}
		l.Problems = append(l.Problems, Problem{File: l.File, Line: n.Line, Col: scalarCol(n, off, 0),
			Msg: fmt.Sprintf("%s: %v", what, err)})
		return nil
	}
	t := &template{src: src}
	ok := true
	for _, s := range segs {
		if !s.isExpr {
			t.parts = append(t.parts, part{lit: s.lit})
			continue
		}
		prog := l.expression(n, s.expr, s.offset, what)
		if prog == nil {
			ok = false
			continue
		}
		t.parts = append(t.parts, part{prog: prog, off: s.offset})
	}
	if !ok {
		return nil
	}
	if len(t.parts) == 0 {
		t.parts = []part{{lit: ""}}
	}
	return t
}

func (l *loader) match(r *rule, n *yaml.Node, what string) bool {
	m, ok := l.Mapping(n, what+": match", "command", "regex", "exact", "contains")
	if !ok {
		return false
	}
	if len(m) == 0 {
		if len(n.Content) == 0 { // else its keys were reported as unknown
			l.Errorf(n, "%s: match: give one of command, regex, exact or contains", what)
		}
		return false
	}
	if len(m) > 1 {
		var keys []*yaml.Node
		for i := 0; i < len(n.Content); i += 2 {
			keys = append(keys, n.Content[i])
		}
		l.Errorf(keys[1], "%s: match: only one of command, regex, exact or contains may be given", what)
		return false
	}
	for key, p := range m {
		switch key {
		case "command":
			list, ok := l.StrList(p.Val, what+": match.command")
			if !ok {
				return false
			}
			for _, c := range list {
				r.commands = append(r.commands, prefilter.Fold(strings.Join(strings.Fields(c), " ")))
			}
			r.kind = matchCommand
		case "exact", "contains":
			list, ok := l.StrList(p.Val, what+": match."+key)
			if !ok {
				return false
			}
			for _, c := range list {
				if key == "exact" {
					r.texts = append(r.texts, prefilter.Fold(strings.Join(strings.Fields(c), " ")))
				} else {
					r.texts = append(r.texts, prefilter.Fold(strings.TrimSpace(c)))
				}
			}
			r.kind = matchExact
			if key == "contains" {
				r.kind = matchContains
			}
		case "regex":
			s, ok := l.Str(p.Val, what+": match.regex")
			if !ok {
				return false
			}
			re, err := regexp.Compile(s)
			if err != nil {
				msg := err.Error()
				var se *syntax.Error
				if errors.As(err, &se) {
					msg = fmt.Sprintf("%s: %q", se.Code, shorten(se.Expr, 40))
				}
				l.Errorf(p.Val, "%s: match.regex: %s", what, msg)
				return false
			}
			r.re = re
			if parsed, err := syntax.Parse(s, syntax.Perl); err == nil {
				r.reLits = prefilter.Required(parsed)
				r.reCase = prefilter.RequiredCase(parsed)
			}
			r.kind = matchRegex
		}
	}
	return true
}

// shorten returns s, or its first n runes and "…" if it is longer.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// headerNameRE matches an HTTP header name (an RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}

func (l *loader) fetch(n *yaml.Node, what string) *fetchSpec {
	what += ": fetch"
	m, ok := l.Mapping(n, what, "url", "method", "headers", "body", "timeout")
	if !ok {
		return nil
	}
	f := &fetchSpec{method: http.MethodGet, timeout: l.bot.FetchTimeout}
	bad := false
	if p := m["url"]; p == nil {
		l.Errorf(n, "%s: has no url", what)
		bad = true
	} else if s, ok := l.Str(p.Val, what+".url"); !ok {
		bad = true
	} else if f.url = l.template(p.Val, s, what+".url"); f.url == nil {
		bad = true
	} else if lit := f.url.parts[0]; lit.prog == nil && !strings.HasPrefix(lit.lit, "http://") && !strings.HasPrefix(lit.lit, "https://") {
		l.Errorf(p.Val, "%s.url: %q: only http and https URLs can be fetched", what, s)
		bad = true
	} else {
		l.warnSenderHost(p.Val, f.url, what)
	}
	if p := m["method"]; p != nil {
		if s, ok := l.Str(p.Val, what+".method"); ok {
			f.method = strings.ToUpper(s)
			if !slices.Contains(methods, f.method) {
				l.Errorf(p.Val, "%s.method: %q is not one of %s", what, s, strings.Join(methods, ", "))
				bad = true
			}
		}
	}
	if p := m["headers"]; p != nil {
		h := yamlpos.Resolve(p.Val)
		if h.Kind != yaml.MappingNode {
			l.Errorf(h, "%s.headers: expected a mapping of header names to values, got %s", what, yamlpos.KindName(h))
			bad = true
		} else {
			for i := 0; i+1 < len(h.Content); i += 2 {
				k, v := yamlpos.Resolve(h.Content[i]), yamlpos.Resolve(h.Content[i+1])
				name, ok1 := l.Str(k, what+".headers")
				val, ok2 := l.Str(v, what+".headers."+name)
				if !ok1 || !ok2 {
					bad = true
					continue
				}
				if !headerNameRE.MatchString(name) {
					l.Errorf(k, "%s.headers: %q is not a header name", what, name)
					bad = true
					continue
				}
				t := l.template(v, val, what+".headers."+name)
				if t == nil {
					bad = true
					continue
				}
				f.headers = append(f.headers, header{name: name, value: t})
			}
		}
	}
	if p := m["body"]; p != nil {
		if s, ok := l.Str(p.Val, what+".body"); ok {
			f.body = l.template(p.Val, s, what+".body")
		}
		if f.body == nil {
			bad = true
		}
	}
	if p := m["timeout"]; p != nil {
		if d, ok := l.Duration(p.Val, what+".timeout"); ok {
			f.timeout = d
		} else {
			bad = true
		}
	}
	if bad {
		return nil
	}
	return f
}

// senderNames are the names whose values the message's sender writes.
var senderNames = []string{"text", "raw", "rest", "args", "groups", "match"}

// warnSenderHost warns when an interpolation of the fetch url t, found in
// node n, uses what the message's sender wrote and comes before the url's
// path: at the start of the url, or in its host. The sender then chooses
// the host the bot fetches from, and sees what it answers.
func (l *loader) warnSenderHost(n *yaml.Node, t *template, what string) {
	var before strings.Builder // the url up to the part, each expression as "{}"
	for i, p := range t.parts {
		if p.prog == nil {
			before.WriteString(p.lit)
			continue
		}
		if names := usedNames(p.prog, senderNames); len(names) > 0 {
			var msg string
			switch {
			case i == 0:
				msg = fmt.Sprintf("%s.url starts with %s, which the message's sender writes: the sender chooses the host to fetch (start the url with https://HOST/)", what, strings.Join(names, ", "))
			case !pastHost(before.String()):
				msg = fmt.Sprintf("%s.url: %s, which the message's sender writes, comes before the url's path: the sender can choose the host to fetch (put it after the host's first /)", what, strings.Join(names, ", "))
			}
			if msg != "" {
				l.Problems = append(l.Problems, Problem{File: l.File, Line: n.Line, Col: scalarCol(n, p.off, 0), Warning: true, Msg: msg})
				return
			}
		}
		before.WriteString("{}")
	}
}

// pastHost reports whether the start of a url template, with each
// expression written as "{}", has reached the url's path, query or
// fragment.
func pastHost(before string) bool {
	if _, after, ok := strings.Cut(before, "://"); ok {
		before = after
	} else if strings.HasPrefix(before, "{}") {
		before = before[2:] // a base url from an expression
	} else {
		return false
	}
	return strings.ContainsAny(before, "/?#")
}

// usedNames returns the names of list that prog reads, in list order.
func usedNames(prog *vm.Program, list []string) []string {
	used := map[string]bool{}
	ast.Find(prog.Node(), func(node ast.Node) bool {
		if id, ok := node.(*ast.IdentifierNode); ok {
			used[id.Value] = true
		}
		return false
	})
	var names []string
	for _, name := range list {
		if used[name] {
			names = append(names, name)
		}
	}
	return names
}

var emojiRE = regexp.MustCompile(`^[a-z0-9_+'-]+(::skin-tone-[2-6])?$`)

// onlyAddressed reports whether r can fire only on messages addressed to the bot.
func (r *rule) onlyAddressed() bool {
	return r.kind == matchCommand || (r.addressed != nil && *r.addressed)
}

// warnUnreachable warns about each rule that earlier catch-alls always
// swallow: one without addressed, or one with addressed: true for a rule
// that only sees addressed messages (and likewise for false), or two with
// addressed: true and false between them.
func (l *loader) warnUnreachable(rules []*rule) {
	var all, addressed, unaddressed *rule // the first catch-all of each kind
	for _, r := range rules {
		if r.schedule != nil {
			continue // not tried against messages
		}
		if r.kind == matchCommand && r.addressed != nil && !*r.addressed {
			l.Problems = append(l.Problems, Problem{File: l.File, Line: r.line, Col: r.col, Warning: true,
				Msg: fmt.Sprintf("rule %q can never fire: a command is always addressed to the bot, and the rule says addressed: false", r.name)})
			continue
		}
		var by []*rule // the catch-all that swallows r, or the two that do
		swallowers := []*rule{all}
		if r.onlyAddressed() {
			swallowers = append(swallowers, addressed)
		}
		if r.addressed != nil && !*r.addressed {
			swallowers = append(swallowers, unaddressed)
		}
		for _, c := range swallowers {
			if c != nil && (by == nil || c.line < by[0].line) {
				by = []*rule{c}
			}
		}
		if by == nil && addressed != nil && unaddressed != nil {
			by = []*rule{addressed, unaddressed}
			if unaddressed.line < addressed.line {
				by = []*rule{unaddressed, addressed}
			}
		}
		if by != nil {
			msg := fmt.Sprintf("rule %q is never reached: rule %q (line %d) fires first on every message it could match", r.name, by[0].name, by[0].line)
			if len(by) == 2 {
				msg = fmt.Sprintf("rule %q is never reached: rules %q (line %d) and %q (line %d) between them fire first on every message", r.name, by[0].name, by[0].line, by[1].name, by[1].line)
			}
			l.Problems = append(l.Problems, Problem{File: l.File, Line: r.line, Col: r.col, Warning: true, Msg: msg})
		}
		if !r.canCatchAll {
			continue
		}
		switch {
		case r.addressed == nil:
			all = cmp.Or(all, r)
		case *r.addressed:
			addressed = cmp.Or(addressed, r)
		default:
			unaddressed = cmp.Or(unaddressed, r)
		}
	}
}
