package yamlpos

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports a syntax error as "yaml: line N: message", where N is
// often the line of the construct being read rather than of the mistake: an
// unterminated quote is reported where the next quote of the file ends up
// making no sense, or at the end of the file, and never with a column. The
// functions below run only after yaml.v3 has failed, and look for the
// place where the problem starts, using yaml.v3 itself as the judge:
//
//   - a quote or a flow bracket ([ or {) that is still open at the end of
//     the line that opens it is the culprit when closing it there makes the
//     whole file parse;
//   - for the other errors, the shortest prefix of the file that fails with
//     the same error ends at the character where yaml.v3 gave up.

// maxOracleBytes bounds the bytes that each of the two searches re-parses
// while diagnosing one error (a few seconds for a 4 MB file at worst).
const maxOracleBytes = 32 << 20

// syntaxProblems returns the problems to report for err, yaml.v3's error on
// src: one positioned problem, or several when more than one bracket opened
// on a line is left open.
func syntaxProblems(file string, src []byte, err error) []Problem {
	budget := max(2, maxOracleBytes/max(len(src), 1))
	p := SyntaxProblem(file, err)
	lines, eofQuote := scanOpenings(src)
	if ps := unclosed(file, src, err, p.Line, lines, eofQuote, budget); ps != nil {
		return ps
	}
	msg := strings.TrimPrefix(p.Msg, "YAML syntax: ")
	if b, ok := flowProblems[msg]; ok {
		// The line is where the list or mapping starts, or the line of the
		// mistake when it starts on line 1: point at its bracket.
		for _, line := range []int{p.Line, 1} {
			i := slices.IndexFunc(lines, func(l openLine) bool {
				return len(l.flows) > 0 && l.flows[0].line == line && l.flows[0].ch == b
			})
			if i >= 0 {
				p.Line, p.Col = line, lines[i].flows[0].col
				break
			}
		}
	} else if slices.Contains(prefixProblems, msg) {
		if off, ok := failingPrefix(src, err, budget); ok {
			p = refine(p, src, off)
		}
	}
	return []Problem{p}
}

// flowProblems are yaml.v3's errors in a flow list or mapping, reported at
// the line of its bracket.
var flowProblems = map[string]byte{
	"did not find expected ',' or ']'": '[',
	"did not find expected ',' or '}'": '{',
}

// prefixProblems are the errors that a prefix of a file cannot produce by
// ending early, so that the shortest prefix failing with the same error
// ends where yaml.v3 gave up.
var prefixProblems = []string{
	"mapping values are not allowed in this context",
	"found character that cannot start any token",
	"found unknown escape character",
	"found a tab character that violates indentation",
	"did not find expected key",
	"did not find expected '-' indicator",
}

// parseErr parses every document of src and returns the first error.
func parseErr(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// An opening is a quote or a flow bracket as the pre-scan found it.
type opening struct {
	ch        byte
	line, col int // 1-based
}

// An openLine is a line at whose end a quote or brackets it opens are still
// open.
type openLine struct {
	quote    *opening  // an open quote, opened on this line
	flows    []opening // brackets opened on this line and still open, outermost first
	insertAt int       // where closers go: the end of the line, or before its comment
	closedBy byte      // the wrong bracket that ends flows[0], if any: [a, b}
}

var closer = map[byte]byte{'[': ']', '{': '}'}

// line returns the line of l's first opening.
func (l openLine) line() int {
	if len(l.flows) > 0 {
		return l.flows[0].line
	}
	return l.quote.line
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// fix returns src with the openings of l closed at insertAt.
func (l openLine) fix(src []byte) []byte {
	var closers []byte
	if l.quote != nil {
		closers = append(closers, l.quote.ch)
	}
	for i := len(l.flows) - 1; i >= 0; i-- {
		closers = append(closers, closer[l.flows[i].ch])
	}
	out := make([]byte, 0, len(src)+len(closers))
	out = append(out, src[:l.insertAt]...)
	out = append(out, closers...)
	return append(out, src[l.insertAt:]...)
}

// unclosed reports the quote or brackets left open on a line when closing
// them at the end of that line makes src parse. A quote still open at the
// end of the file is reported when yaml.v3 says so too.
func unclosed(file string, src []byte, err error, errLine int, lines []openLine, eofQuote *opening, budget int) []Problem {
	// Try the lines nearest the one yaml.v3 names first.
	lines = slices.Clone(lines)
	slices.SortStableFunc(lines, func(a, b openLine) int {
		return cmp.Compare(abs(a.line()-errLine), abs(b.line()-errLine))
	})
	for _, l := range lines[:min(len(lines), budget)] {
		if parseErr(l.fix(src)) != nil {
			continue
		}
		if q := l.quote; q != nil {
			how := "is not closed on its line"
			if q == eofQuote {
				how = "is never closed"
			}
			return []Problem{{File: file, Line: q.line, Col: q.col,
				Msg: fmt.Sprintf("YAML syntax: unterminated quoted string: the %c opened here %s", q.ch, how)}}
		}
		ps := make([]Problem, len(l.flows))
		for i, f := range l.flows {
			what := "list"
			if f.ch == '{' {
				what = "mapping"
			}
			where := "on its line"
			if l.closedBy != 0 {
				where = fmt.Sprintf("before the %c that ends it", l.closedBy)
			}
			ps[i] = Problem{File: file, Line: f.line, Col: f.col,
				Msg: fmt.Sprintf("YAML syntax: unclosed %c: the %s opened here has no %c %s", f.ch, what, closer[f.ch], where)}
		}
		return ps
	}
	if q := eofQuote; q != nil && strings.HasSuffix(err.Error(), "found unexpected end of stream") {
		return []Problem{{File: file, Line: q.line, Col: q.col,
			Msg: fmt.Sprintf("YAML syntax: unterminated quoted string: the %c opened here is never closed", q.ch)}}
	}
	return nil
}

// scanOpenings is a rough YAML tokenizer: it follows quoted strings, flow
// brackets, comments and block scalars well enough to find the lines that
// end with a quote or a bracket they opened still open, and the quote still
// open at the end of the file. It may be wrong on unusual files: a guess is
// reported only when yaml.v3 parses the file it fixes, or, for the quote
// open at the end, when yaml.v3 too ran out of file in a quoted string.
func scanOpenings(src []byte) (lines []openLine, eofQuote *opening) {
	var (
		quote       *opening
		flows       []opening
		blockIndent = -1 // ≥ 0: inside a block scalar (|, >) whose parent node is at this column
	)
	for lineNo, off := 1, 0; off < len(src); lineNo++ {
		end := bytes.IndexByte(src[off:], '\n')
		next := off + end + 1
		if end < 0 {
			end, next = len(src)-off, len(src)
		}
		line := bytes.TrimSuffix(src[off:off+end], []byte("\r"))
		lineStart := off
		off = next
		indent := len(line) - len(bytes.TrimLeft(line, " "))
		if blockIndent >= 0 && quote == nil {
			if len(bytes.TrimSpace(line)) == 0 || indent > blockIndent {
				continue
			}
			blockIndent = -1
		}
		cur := openLine{insertAt: lineStart + len(line)}
		tokenStart := true // a token (a quote, a bracket) may start here
		nodeCol := indent  // the column of the last node started: a block scalar's parent
		for i := 0; i < len(line); i++ {
			b := line[i]
			if quote != nil {
				switch {
				case quote.ch == '\'' && b == '\'' && i+1 < len(line) && line[i+1] == '\'':
					i++ // '' is an escaped quote
				case quote.ch == '"' && b == '\\':
					i++
				case b == quote.ch:
					quote, tokenStart = nil, false
				}
				continue
			}
			blankNext := i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t'
			switch {
			case b == ' ' || b == '\t':
			case b == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				cur.insertAt = lineStart + i
				i = len(line)
			case tokenStart && (b == '"' || b == '\''):
				quote = &opening{ch: b, line: lineNo, col: utf8.RuneCount(line[:i]) + 1}
				nodeCol = i
			case (tokenStart || len(flows) > 0) && (b == '[' || b == '{'):
				flows = append(flows, opening{ch: b, line: lineNo, col: utf8.RuneCount(line[:i]) + 1})
				tokenStart = true
			case len(flows) > 0 && (b == ']' || b == '}'):
				top := flows[len(flows)-1]
				flows, tokenStart = flows[:len(flows)-1], false
				if closer[top.ch] != b { // [a, b} or {a: [b}: the inner bracket is unclosed
					lines = append(lines, openLine{flows: []opening{top}, insertAt: lineStart + i, closedBy: b})
					if len(flows) > 0 && closer[flows[len(flows)-1].ch] == b {
						flows = flows[:len(flows)-1]
					}
				}
			case len(flows) > 0 && b == ',':
				tokenStart = true
			case b == ':' && (blankNext || len(flows) > 0):
				tokenStart = true
			case tokenStart && (b == '-' || b == '?') && blankNext:
				nodeCol = i
			case tokenStart && (b == '|' || b == '>') && len(flows) == 0:
				blockIndent = nodeCol
				i = len(line)
			case tokenStart && (b == '&' || b == '!'): // an anchor or a tag: a node follows
				for i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
					i++
				}
			default: // a plain scalar, or an alias
				if tokenStart {
					nodeCol = i
				}
				tokenStart = false
			}
		}
		if quote != nil && quote.line == lineNo {
			cur.quote = quote
			cur.insertAt = lineStart + len(line)
		}
		for _, f := range flows {
			if f.line == lineNo {
				cur.flows = append(cur.flows, f)
			}
		}
		if cur.quote != nil || quote == nil && len(cur.flows) > 0 {
			lines = append(lines, cur)
		}
	}
	return lines, quote
}

// failingPrefix returns the offset of the byte at which yaml.v3 gives up:
// the last byte of the shortest prefix of src that fails with err. It
// searches between the start of err's line and the end of the file.
func failingPrefix(src []byte, err error, budget int) (int, bool) {
	same := func(k int) bool {
		e := parseErr(src[:k])
		return e != nil && e.Error() == err.Error()
	}
	lo := lineOffset(src, SyntaxProblem("", err).Line) // same(lo) must be false
	hi := len(src)                                     // same(hi) is true
	if budget < 2 || same(lo) {
		return 0, false
	}
	for n := 1; hi-lo > 1; n++ {
		if n > budget {
			return 0, false
		}
		mid := lo + (hi-lo)/2
		if same(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	off := hi - 1
	for off > 0 && !utf8.RuneStart(src[off]) {
		off--
	}
	return off, true
}

// lineOffset returns the offset of the start of the 1-based line n of src,
// clamped to the file.
func lineOffset(src []byte, n int) int {
	off := 0
	for ; n > 1; n-- {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return off
		}
		off += i + 1
	}
	return off
}

// refine moves p to offset off of src, where yaml.v3 gave up, and explains
// the commonest mistakes found there.
func refine(p Problem, src []byte, off int) Problem {
	msg := strings.TrimPrefix(p.Msg, "YAML syntax: ")
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	line, col := bytes.Count(src[:start], []byte("\n"))+1, utf8.RuneCount(src[start:off])+1
	r, _ := utf8.DecodeRune(src[off:])
	switch {
	case msg == "found character that cannot start any token" && r == '\t',
		msg == "found a tab character that violates indentation":
		if l, c, ok := indentTab(src, p.Line); ok {
			line, col = l, c
			msg = "a tab indents this line: YAML indents with spaces only"
		}
	case msg == "found character that cannot start any token":
		msg = fmt.Sprintf("a value cannot start with %c: put the value in quotes", r)
	case msg == "mapping values are not allowed in this context":
		msg = `": " starts a mapping here, where none is allowed: put the value in quotes if ": " is part of its text`
	case msg == "found unknown escape character" && r == '\\':
		r, _ = utf8.DecodeRune(src[off+1:])
		msg = fmt.Sprintf(`\%c is not an escape in a "double-quoted" string: write \\%c, or use 'single quotes'`, r, r)
	case msg == "did not find expected key" && off > 0 && (src[off-1] == '\'' || src[off-1] == '"'):
		// 'It's': the quoted string ended at a quote meant as text.
		q := src[off-1]
		esc := map[byte]string{'\'': "''", '"': `\"`}[q]
		msg = fmt.Sprintf("text right after a closing %c: is it a %c inside the quotes? Write it %s", q, q, esc)
	case line != p.Line && slices.Contains(yamlParserProblems, msg):
		msg += fmt.Sprintf(" (in the block that starts on line %d)", p.Line)
	}
	p.Line, p.Col, p.Msg = line, col, "YAML syntax: "+msg
	return p
}

// indentTab finds the first tab in the indentation of a line from line
// from on, where yaml.v3 reports tab errors.
func indentTab(src []byte, from int) (line, col int, ok bool) {
	for n, l := range strings.Split(string(src), "\n") {
		if n+1 < from {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if i := strings.IndexByte(lead, '\t'); i >= 0 {
			return n + 1, i + 1, true
		}
	}
	return 0, 0, false
}
