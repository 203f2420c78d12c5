// Package yamlpos reads YAML documents node by node so that every problem
// it finds carries its file, line and column. The rules loader and the test
// file reader share it.
package yamlpos

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A Problem is one positioned error or warning found in a rules file.
type Problem struct {
	File    string
	Line    int // 1-based; 0 when unknown
	Col     int // 1-based; 0 when unknown
	Msg     string
	Warning bool
}

// String formats the problem as FILE:LINE:COL: message, the form editors
// and `rulebot check` use.
func (p Problem) String() string {
	line, col := max(p.Line, 1), max(p.Col, 1)
	if p.Warning {
		return fmt.Sprintf("%s:%d:%d: warning: %s", p.File, line, col, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, line, col, p.Msg)
}

// ErrorList is the error Compile returns: every problem found in a file,
// sorted by position. It may hold warnings too; it is only returned when at
// least one problem is an error.
type ErrorList []Problem

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, p := range l {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// ErrorCount returns how many of the problems are errors, not warnings.
func (l ErrorList) ErrorCount() int {
	n := 0
	for _, p := range l {
		if !p.Warning {
			n++
		}
	}
	return n
}

// Sort orders problems by position.
func Sort(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// A Checker collects the problems found while reading one file.
type Checker struct {
	File     string
	Problems []Problem
}

// Problem records a problem at node n (or at the top of the file when n is nil).
func (l *Checker) Problem(n *yaml.Node, warn bool, format string, args ...any) {
	p := Problem{File: l.File, Msg: fmt.Sprintf(format, args...), Warning: warn}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	l.Problems = append(l.Problems, p)
}

// Errorf records an error at node n.
func (l *Checker) Errorf(n *yaml.Node, format string, args ...any) {
	l.Problem(n, false, format, args...)
}

// Pair is one key: value entry of a YAML mapping.
type Pair struct{ Key, Val *yaml.Node }

// mapping checks that n is a mapping whose keys are all in known, reporting
// unknown and repeated keys, and returns its entries by key.
func (l *Checker) Mapping(n *yaml.Node, what string, known ...string) (map[string]*Pair, bool) {
	if n.Kind != yaml.MappingNode {
		l.Errorf(n, "%s: expected a mapping, got %s", what, KindName(n))
		return nil, false
	}
	m := make(map[string]*Pair, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Resolve(n.Content[i]), Resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			l.Errorf(k, "%s: a key must be text, got %s", what, KindName(k))
			continue
		}
		if !has(known, k.Value) {
			l.Errorf(k, "%s: unknown field %q%s", what, k.Value, Suggest(k.Value, known))
			continue
		}
		if prev := m[k.Value]; prev != nil {
			l.Errorf(k, "%s: %q is repeated (first at line %d)", what, k.Value, prev.Key.Line)
			continue
		}
		m[k.Value] = &Pair{Key: k, Val: v}
	}
	return m, true
}

// suggest returns ` (did you mean "x"?)` when a known name is one edit or a
// transposition away from name.
func Suggest(name string, known []string) string {
	for _, k := range known {
		if closeTo(name, k) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

func closeTo(a, b string) bool {
	if a == b || len(a) < 3 {
		return false
	}
	// Levenshtein distance ≤ 2 on short identifiers.
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] <= 2
}

func Resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("text %q", n.Value)
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (l *Checker) Str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.Errorf(n, "%s: expected text, got %s", what, KindName(n))
		return "", false
	}
	return n.Value, true
}

func (l *Checker) Bool(n *yaml.Node, what string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		l.Errorf(n, "%s: expected true or false, got %s", what, KindName(n))
		return false, false
	}
	return b, true
}

func (l *Checker) Int(n *yaml.Node, what string) (int, bool) {
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		l.Errorf(n, "%s: expected a whole number, got %s", what, KindName(n))
		return 0, false
	}
	return i, true
}

func (l *Checker) Duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := l.Str(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.Errorf(n, "%s: %q is not a duration like 30s, 5m or 1h30m", what, s)
		return 0, false
	}
	return d, true
}

// strings reads one string or a list of strings.
func (l *Checker) StrList(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			l.Errorf(n, "%s: the list is empty", what)
			return nil, false
		}
		out := make([]string, 0, len(n.Content))
		ok := true
		for _, c := range n.Content {
			s, k := l.Str(Resolve(c), what)
			if k && strings.TrimSpace(s) == "" {
				l.Errorf(c, "%s: empty text", what)
				k = false
			}
			ok = ok && k
			out = append(out, s)
		}
		return out, ok
	}
	s, ok := l.Str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		l.Errorf(n, "%s: empty text", what)
		return nil, false
	}
	return []string{s}, ok
}

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMG]i?B?|B)?\s*$`)

func (l *Checker) Size(n *yaml.Node, what string) (int64, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		i, ok := l.Int(n, what)
		if ok && i <= 0 {
			l.Errorf(n, "%s: must be more than 0", what)
			return 0, false
		}
		return int64(i), ok
	}
	s, ok := l.Str(n, what)
	if !ok {
		return 0, false
	}
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		l.Errorf(n, "%s: %q is not a size like 512KiB or 1MiB", what, s)
		return 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || v <= 0 {
		l.Errorf(n, "%s: %q is not a size like 512KiB or 1MiB", what, s)
		return 0, false
	}
	unit := strings.TrimSuffix(m[2], "B")
	mult := map[string]int64{"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[unit]
	return v * mult, true
}

func has(list []string, s string) bool {
	return slices.Contains(list, s)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of yaml.v3's parser, as opposed to its
// scanner. For a parser error yaml.v3 prints a 0-based line number (the
// line where the construct it was parsing starts, or else where the problem
// is); for a scanner error a 1-based one.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
	"found undefined tag handle",
}

// SyntaxProblem turns an error from yaml.Unmarshal into a positioned
// problem, correcting yaml.v3's line numbers for parser errors.
func SyntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Line: 1, Col: 1, Msg: "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = "YAML syntax: " + m[2]
		if slices.Contains(yamlParserProblems, m[2]) {
			p.Line++
		}
	}
	return p
}
