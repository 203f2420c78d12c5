package yamlpos

import (
	"strings"
	"testing"
)

// TestSyntaxProblems checks that YAML syntax errors are reported where the
// mistake starts, not where yaml.v3 noticed it, and that a guess is only
// reported when yaml.v3 agrees with it.
func TestSyntaxProblems(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"a quote closed by the next one of the file",
			"a:\n  b: \"one\n  c: \"two\"\n  d: x\n",
			`f:2:6: YAML syntax: unterminated quoted string: the " opened here is not closed on its line`},
		{"a quote open at the end of the file, on line 1",
			"a: 'x\nb: y\n",
			"f:1:4: YAML syntax: unterminated quoted string: the ' opened here is never closed"},
		{"a quote in a flow mapping",
			"a: {b: 'c}\nd: e\n",
			"f:1:8: YAML syntax: unterminated quoted string: the ' opened here is never closed"},
		{"a quote with a comment sign in it",
			"a: \"b # c\nd: e\n",
			`f:1:4: YAML syntax: unterminated quoted string: the " opened here is never closed`},
		{"escaped quotes are not closing ones",
			"a: \"say \\\"hi\\\"\"\nb: 'it''s\nc: d\n",
			"f:2:4: YAML syntax: unterminated quoted string: the ' opened here is never closed"},
		{"CRLF line ends",
			"a: \"b\r\nc: d\r\n",
			`f:1:4: YAML syntax: unterminated quoted string: the " opened here is never closed`},
		{"a quote in a plain value is text",
			"a: It's\nb: \"c\n",
			`f:2:4: YAML syntax: unterminated quoted string: the " opened here is never closed`},
		{"a quote in a block scalar is text",
			"a: |\n  it's \"x\nb: \"c\n",
			`f:3:4: YAML syntax: unterminated quoted string: the " opened here is never closed`},
		{"a quoted string over two lines is not blamed",
			"a: \"b\n  c\"\nd: e: f\n",
			`f:3:5: YAML syntax: ": " starts a mapping here, where none is allowed: put the value in quotes if ": " is part of its text`},
		{"an unclosed [ with a comment after it",
			"a: [b, c  # d\ne: f\n",
			"f:1:4: YAML syntax: unclosed [: the list opened here has no ] on its line"},
		{"two brackets left open",
			"a: {b: [c\nd: e\n",
			"f:1:4: YAML syntax: unclosed {: the mapping opened here has no } on its line\n" +
				"f:1:8: YAML syntax: unclosed [: the list opened here has no ] on its line"},
		{"the wrong bracket",
			"a: {b: [c}\nd: e\n",
			"f:1:8: YAML syntax: unclosed [: the list opened here has no ] before the } that ends it"},
		{"a list over two lines is not blamed",
			"a: [b,\n  c]\nd: [e\nf: g\n",
			"f:3:4: YAML syntax: unclosed [: the list opened here has no ] on its line"},
		{"two mistakes: the bracket's line is named",
			"a: [b, c\nd: {e\n",
			"f:1:4: YAML syntax: did not find expected ',' or ']'"},
		{"a tab in the indentation",
			"a:\n  b: c\n\td: e\n",
			"f:3:1: YAML syntax: a tab indents this line: YAML indents with spaces only"},
		{"a tab before a list item",
			"a:\n \t- b\n",
			"f:2:2: YAML syntax: a tab indents this line: YAML indents with spaces only"},
		{"a second colon",
			"a:\n  b: see: this\n",
			`f:2:9: YAML syntax: ": " starts a mapping here, where none is allowed: put the value in quotes if ": " is part of its text`},
		{"a reserved character",
			"a: `b`\n",
			"f:1:4: YAML syntax: a value cannot start with `: put the value in quotes"},
		{"an unknown escape",
			"a: \"\\s+\"\n",
			`f:1:5: YAML syntax: \s is not an escape in a "double-quoted" string: write \\s, or use 'single quotes'`},
		{"a quote meant as text",
			"a:\n  b: \"say \"hi\"\"\n",
			`f:2:12: YAML syntax: text right after a closing ": is it a " inside the quotes? Write it \"`},
		{"text after a quoted value",
			"a:\n  b: c\n  d: 'e' f\n",
			"f:3:10: YAML syntax: did not find expected key (in the block that starts on line 2)"},
		{"a syntax error in a second document",
			"a: 1\n---\nb: 'c\n",
			"f:3:4: YAML syntax: unterminated quoted string: the ' opened here is never closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Checker{File: "f"}
			c.Parse([]byte(tt.src))
			Sort(c.Problems)
			var got []string
			for _, p := range c.Problems {
				if strings.Contains(p.Msg, "YAML syntax") {
					got = append(got, p.String())
				}
			}
			if g := strings.Join(got, "\n"); g != tt.want {
				t.Errorf("problems:\n%s\nwant:\n%s", g, tt.want)
			}
		})
	}
}
