package yamlpos

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, src string
		root      bool // a document was found
		want      []string
	}{
		{"empty", "", false, nil},
		{"only a comment", "# nothing\n", false, nil},
		{"one document with markers", "---\na: 1\n...\n", true, nil},
		{"implicit tags", "a: 2026-11-26\nb: 1.5\nc: ~\nd: [x]\n<<: {e: 1}\n", true, nil},
		{"explicit core tags", "a: !!str 1\nb: !!int '2'\nc: !!map {}\nd: !!seq []\ne: !!null ''\nf: !!bool 'true'\ng: !!float 1\n", true, nil},
		{"a second document", "a: 1\n---\nb: 2\n", true, []string{"f:2:1: a second YAML document starts here: the file must be one document (remove the ---)"}},
		{"an empty second document", "a: 1\n---\n", true, []string{"f:2:1: a second YAML document starts here: the file must be one document (remove the ---)"}},
		{"a second document with a syntax error", "a: 1\n---\n  b: [\n", true, []string{"f:3:6: YAML syntax: unclosed [: the list opened here has no ] on its line"}},
		{"a syntax error", "a: [\n", false, []string{"f:1:4: YAML syntax: unclosed [: the list opened here has no ] on its line"}},
		{"custom tags everywhere", "!top\na: !x 1\nb: !!binary aGk=\nc: !!timestamp 2026-11-26\nd: !!merge x\ne: !!set {a}\n? !k key\n: v\n", true, []string{
			"f:1:1: YAML tag !top is not allowed",
			"f:2:4: YAML tag !x is not allowed",
			"f:3:4: YAML tag !!binary is not allowed",
			"f:4:4: YAML tag !!timestamp is not allowed",
			"f:5:4: YAML tag !!merge is not allowed",
			"f:6:4: YAML tag !!set is not allowed",
			"f:7:3: YAML tag !k is not allowed",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Checker{File: "f"}
			root, _ := c.Parse([]byte(tt.src))
			Sort(c.Problems)
			if (root != nil) != tt.root {
				t.Errorf("root %v, want a document: %v", root, tt.root)
			}
			if len(c.Problems) != len(tt.want) {
				t.Fatalf("problems:\n%v\nwant:\n%s", ErrorList(c.Problems), strings.Join(tt.want, "\n"))
			}
			for i, p := range c.Problems {
				if !strings.HasPrefix(p.String(), tt.want[i]) {
					t.Errorf("problem %d: %s, want %s…", i, p, tt.want[i])
				}
			}
		})
	}
}

// TestParseAliases checks that the tag check does not follow aliases: a
// "billion laughs" file is checked at once, and a tag behind an alias is
// reported once, where it is written.
func TestParseAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 !bad [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 30; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	c := &Checker{File: "f"}
	start := time.Now()
	c.Parse([]byte(b.String()))
	if d := time.Since(start); d > 5*time.Second { // milliseconds; 10^30 nodes if aliases were followed
		t.Errorf("Parse took %s", d)
	}
	if len(c.Problems) != 1 || c.Problems[0].Line != 1 {
		t.Errorf("problems: %v; want one, at line 1", ErrorList(c.Problems))
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
