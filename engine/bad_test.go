package engine_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.err golden files")

// TestBad compiles every testdata/NAME.bad.yaml, which must fail, and every
// testdata/NAME.warn.yaml, which must compile with warnings, and compares
// the problems, printed as `rulebot check` prints them, with NAME.*.err.
// With -update it rewrites the .err files instead.
func TestBad(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/*.bad.yaml", "testdata/*.warn.yaml"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.bad.yaml files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.ToSlash(file)
			rs, err := engine.Compile(file, src)
			var got string
			if strings.HasSuffix(file, ".warn.yaml") {
				if err != nil {
					t.Fatalf("Compile: unexpected error:\n%v", err)
				}
				if len(rs.Warnings) == 0 {
					t.Fatal("Compile: no warnings")
				}
				got = engine.ErrorList(rs.Warnings).Error()
			} else {
				if err == nil {
					t.Fatalf("Compile succeeded with %d rules; want errors", rs.Len())
				}
				var list engine.ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("Compile error is a %T, want an engine.ErrorList: %v", err, err)
				}
				checkProblems(t, list, file)
				got = err.Error()
			}
			got += "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./engine -run TestBad -update)", err)
			}
			if got != string(want) {
				t.Errorf("Compile(%s) problems differ from %s:\n--- got\n%s--- want\n%s", file, golden, got, want)
			}
		})
	}
}

// checkProblems checks what every ErrorList must satisfy: each problem names
// the file, has a position, and the list is sorted by position.
func checkProblems(t *testing.T, list engine.ErrorList, file string) {
	t.Helper()
	if list.ErrorCount() == 0 {
		t.Errorf("the ErrorList holds no errors:\n%v", list)
	}
	for i, p := range list {
		if p.File != file {
			t.Errorf("problem %d names file %q, want %q", i, p.File, file)
		}
		if p.Line < 0 || p.Col < 0 {
			t.Errorf("problem %d has a negative position: %v", i, p)
		}
		if strings.Contains(p.Msg, "\n") {
			t.Errorf("problem %d spans lines: %q", i, p.Msg)
		}
		if i > 0 && (p.Line < list[i-1].Line || p.Line == list[i-1].Line && p.Col < list[i-1].Col) {
			t.Errorf("problems not sorted by position: %v before %v", list[i-1], p)
		}
	}
}

// TestCompileLimits feeds Compile inputs too large to commit: each must be
// refused quickly with one clear problem, and never crash the loader.
func TestCompileLimits(t *testing.T) {
	deep := func(open, middle, close string, n int) string {
		return strings.Repeat(open, n) + middle + strings.Repeat(close, n)
	}
	rule := func(keys string) []byte { return []byte("rules:\n  - name: a\n" + keys) }
	tenMB := bytes.Repeat([]byte("# padding padding padding padding padding padding\n"), 10<<20/50)
	tenMB = append([]byte("rules:\n  - name: a\n    reply: x\n"), tenMB...)
	tests := []struct {
		name string
		src  []byte
		want string
	}{
		{
			name: "an expression nested 10,000 levels deep",
			src:  rule(`    reply: "{{ ` + deep("(", "1", ")", 10000) + ` }}"` + "\n"),
			want: `x.yaml:3:16: rule "a": reply: the expression is 20003 bytes long (the limit is 10000)`,
		},
		{
			name: "an expression nested 4,000 levels deep",
			src:  rule(`    reply: "{{ ` + deep("(", "1", ")", 4000) + ` }}"` + "\n"),
			want: `x.yaml:3:116: rule "a": reply: brackets nest more than 100 levels deep`,
		},
		{
			name: "a when nested 4,000 levels deep",
			src:  rule(`    when: "` + deep("[", "true", "]", 4000) + `"` + "\n    reply: x\n"),
			want: `x.yaml:3:112: rule "a": when: brackets nest more than 100 levels deep`,
		},
		{
			name: "nesting just under the limit",
			src:  rule(`    reply: "{{ ` + deep("(", "1", ")", 100) + ` }}"` + "\n    when: 'false'\n"),
			want: "",
		},
		{
			name: "4,000 unary operators",
			src:  rule(`    when: "` + strings.Repeat("!", 4000) + `true"` + "\n    reply: x\n"),
			want: `x.yaml:3:112: rule "a": when: operators nest more than 100 levels deep`,
		},
		{
			name: "3,000 binary operators",
			src:  rule(`    when: "` + strings.Repeat("1+", 2500) + `1 > 0"` + "\n    reply: x\n"),
			want: `x.yaml:3:12: rule "a": when: the expression is too large (more than 2000 operands and operators)`,
		},
		{
			name: "a regex nested 10,000 levels deep",
			src:  rule(`    match: {regex: '` + deep("(", "a", ")", 10000) + `'}` + "\n    reply: x\n"),
			want: `x.yaml:3:20: rule "a": match.regex: expression nests too deeply: "((((((((((((((((((((((((((((((((((((((((…"`,
		},
		{
			name: "YAML nested 10,000 levels deep",
			src:  []byte("vars:\n  x: " + deep("[", "", "]", 10000) + "\nrules:\n  - name: a\n    reply: x\n"),
			want: `x.yaml:2:6: vars.x: nested more than 32 levels deep`,
		},
		{
			name: "a 10 MB file",
			src:  tenMB,
			want: fmt.Sprintf("x.yaml:1:1: file is too large: %d bytes (the limit is %d)", len(tenMB), engine.MaxFileSize),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engine.Compile("x.yaml", tt.src)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Compile error:\ngot  %.300q\nwant %.300q", got, tt.want)
			}
		})
	}
}
