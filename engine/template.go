package engine

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/rulebot/rulebot/engine/internal/exprlimit"
)

// A template is text with {{ EXPR }} parts, compiled once at load.
type template struct {
	src   string
	parts []part
}

// A part is either literal text written by the rule author or an
// expression whose value is interpolated.
type part struct {
	lit  string
	prog *vm.Program
	off  int // byte offset of the expression in the template's source
}

// segment is a parsed but not yet compiled template part.
type segment struct {
	lit    string
	expr   string
	offset int // byte offset of expr (or lit) in the template source
	isExpr bool
}

// splitTemplate cuts src into literal and {{ expression }} segments. Inside
// an expression, string literals and balanced braces may contain "}}", so
// `{{ "}}" }}` and `{{ {"a": {"b": 1}} }}` work; a literal "{{" is written
// {{ "{{" }}.
func splitTemplate(src string) ([]segment, error) {
	var segs []segment
	i := 0
	for {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			if i < len(src) {
				segs = append(segs, segment{lit: src[i:], offset: i})
			}
			return segs, nil
		}
		if j > 0 {
			segs = append(segs, segment{lit: src[i : i+j], offset: i})
		}
		start := i + j + 2
		end, err := exprEnd(src, start)
		if err != nil {
			return nil, err
		}
		e := strings.TrimSpace(src[start:end])
		if e == "" {
			return nil, &templateError{offset: i + j, msg: "empty {{ }} in template"}
		}
		segs = append(segs, segment{expr: src[start:end], offset: start, isExpr: true})
		i = end + 2
	}
}

type templateError struct {
	offset int
	msg    string
}

func (e *templateError) Error() string { return e.msg }

// exprEnd returns the index of the "}}" that closes the expression starting
// at start.
func exprEnd(src string, start int) (int, error) {
	var open []int // offsets of the brackets not closed yet
	for i := start; i < len(src); i++ {
		switch c := src[i]; c {
		case '"', '\'', '`':
			k := i + 1
			for ; k < len(src) && src[k] != c; k++ {
				if src[k] == '\\' && c != '`' {
					k++
				}
			}
			if k >= len(src) {
				return 0, &templateError{offset: i, msg: "unterminated string in {{ }}"}
			}
			i = k
		case '{', '(', '[':
			open = append(open, i)
		case ')', ']':
			if len(open) > 0 {
				o := open[len(open)-1]
				if closer(src[o]) != c {
					return 0, &templateError{offset: o, msg: fmt.Sprintf("%q is not closed in {{ }}", src[o:o+1])}
				}
				open = open[:len(open)-1]
			}
		case '}':
			closes := i+1 < len(src) && src[i+1] == '}'
			if len(open) == 0 && closes {
				return i, nil
			}
			if len(open) > 0 && src[open[len(open)-1]] != '{' && closes {
				o := open[len(open)-1]
				return 0, &templateError{offset: o, msg: fmt.Sprintf("%q is not closed in {{ }}", src[o:o+1])}
			}
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		}
	}
	return 0, &templateError{offset: start - 2, msg: `unclosed "{{" in template (a literal "{{" is written {{ "{{" }})`}
}

// closer returns the bracket that closes the bracket c.
func closer(c byte) byte {
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}

// escapeMode says how interpolated values are escaped.
type escapeMode int

const (
	escapeSlack escapeMode = iota // message text: &, <, > as entities
	escapeURL                     // fetch url: path- or query-escaped
	escapeNone                    // header values and bodies
)

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeSlack makes s safe to put into a Slack message: it can no longer form
// a mention, a channel ping or a link.
func escapeSlackText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return slackEscaper.Replace(s)
}

// isLiteral reports whether t has no expressions.
func (t *template) isLiteral() bool {
	for _, p := range t.parts {
		if p.prog != nil {
			return false
		}
	}
	return true
}

// render evaluates every expression of t against env and joins the parts.
// in is the message (or schedule occurrence) the values come from.
func (t *template) render(in *input, env map[string]any, mode escapeMode) (string, error) {
	if len(t.parts) == 1 && t.parts[0].prog == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for i, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := exprlimit.Run(p.prog, env)
		if err != nil {
			return "", runError(err)
		}
		s, err := renderValue(v)
		if err != nil {
			return "", err
		}
		if in.hasMentions(s) {
			if mode == escapeSlack {
				b.WriteString(in.mentions(s, escapeSlackText))
				continue
			}
			s = in.mentions(s, noEscape)
		}
		switch mode {
		case escapeSlack:
			s = escapeSlackText(s)
		case escapeURL:
			switch {
			case i == 0:
				// A value that starts the url is its base, taken as it is.
			case strings.Contains(b.String(), "?"):
				s = url.QueryEscape(s)
			default:
				s = escapePath(s)
			}
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// escapePath escapes s for a URL path as url.PathEscape does, and escapes
// the dots of a value that is only dots, so that no value can make a "." or
// ".." path segment and climb the path.
func escapePath(s string) string {
	if s != "" && strings.Trim(s, ".") == "" {
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}

// runError shortens an expr run-time error to its first line, which is what
// a rules author (and the error variable of on_error) needs.
func runError(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	msg = exprPos.ReplaceAllString(msg, "")
	if m := goConversion.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("expected %s, got %s", goTypeName(m[2]), goTypeName(m[1]))
	}
	return errors.New(msg)
}

var (
	exprPos      = regexp.MustCompile(` \(\d+:\d+\)$`)
	goConversion = regexp.MustCompile(`interface conversion: interface \{\} is ([^,]+), not (.+)$`)
)

// goTypeName names a Go type the way a rules author thinks of it.
func goTypeName(t string) string {
	switch {
	case t == "string":
		return "text"
	case t == "bool":
		return "true or false"
	case t == "<nil>" || t == "nil":
		return "nothing"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a map"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "a number"
	}
	return t
}
