package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExamples proves every example under examples/ as a team would: each
// is a rules.yaml that `rulebot check` accepts, with golden conversations
// in its testdata/ that `rulebot test` passes, and a README.md. Rewrite the
// goldens with `rulebot test -update examples/NAME/testdata` (from the
// repository's root), then read the diff.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, dir := range dirs {
		name := filepath.Base(dir)
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			rules := filepath.Join(dir, "rules.yaml")
			code, out, _ := rulebot(t, nil, "", "check", rules)
			if code != 0 || strings.Contains(out, "warning") {
				t.Errorf("rulebot check %s exited %d:\n%s", rules, code, out)
			}
			code, out, errOut := rulebot(t, nil, "", "test", "-rules", rules, filepath.Join(dir, "testdata"))
			if code != 0 || strings.HasPrefix(out, "0 passed") {
				t.Errorf("rulebot test %s exited %d:\n%s%s", dir, code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
				t.Errorf("the example has no README.md: %v", err)
			}
		})
	}
	for _, want := range []string{"karma", "oncall", "standup"} {
		if !slices.Contains(names, want) {
			t.Errorf("examples/%s is missing (found %v)", want, names)
		}
	}
}
