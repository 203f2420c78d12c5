package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeFiles writes files (path relative to dir -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunnerOutput runs small test trees and compares the runner's whole
// output: tests in subfolders are found (rules files beside them are not
// tests), an unlisted fetch names the item that caused it, and -cover
// reports the rules no test fired.
func TestRunnerOutput(t *testing.T) {
	const rules = "rules:\n" +
		"  - {name: hi, match: {exact: hi}, reply: hello}\n" +
		"  - {name: bye, match: {exact: bye}, reply: goodbye}\n" +
		"  - {name: quote, match: {exact: quote}, fetch: {url: 'https://q.example/q'}, reply: '{{ fetch.json.q }}'}\n" +
		"  - {name: tick, schedule: '@hourly', to: '#ops', reply: tick}\n" +
		"  - {name: silent, match: {exact: shh}, react: zipper_mouth_face, when: 'false'}\n"
	tests := []struct {
		name  string
		files map[string]string
		opts  TestOptions
		want  string // with D for the tree's directory
		code  int
	}{
		{
			name: "subfolders",
			files: map[string]string{
				"rules.yaml":          rules,
				"a.yaml":              "rules: rules.yaml\nconversation: [hi]\n",
				"a.golden":            "[#general] alice: hi\n[#general] rulebot: hello\n",
				"sub/b.yaml":          "rules: ../rules.yaml\nconversation: [bye]\n",
				"sub/b.golden":        "[#general] alice: bye\n[#general] rulebot: goodbye\n",
				"sub/deep/rules.yaml": "rules:\n  - {name: x, reply: x}\n",
			},
			want: "ok   D/a.yaml\nok   D/sub/b.yaml\n2 passed, 0 failed\n",
		},
		{
			name: "unlisted fetch at its item",
			files: map[string]string{
				"rules.yaml": rules,
				"q.yaml":     "rules: rules.yaml\nconversation:\n  - hi\n  - {user: bob, text: quote}\n",
				"q.golden":   "",
			},
			want: "FAIL D/q.yaml\nD/q.yaml:4:5: rule \"quote\" fetched https://q.example/q, which has no canned answer under fetch:\n" +
				"--- D/q.golden\n+++ D/q.yaml (actual)\n@@ -0,0 +1,3 @@\n+[#general] alice: hi\n+[#general] rulebot: hello\n+[#general] bob: quote\n" +
				"0 passed, 1 failed\n",
			code: 1,
		},
		{
			name: "cover",
			files: map[string]string{
				"rules.yaml":   rules,
				"other.yaml":   "rules:\n  - {name: hi, match: {exact: hi}, reply: hey}\n  - {name: ping, match: {exact: ping}, reply: pong}\n",
				"a.yaml":       "rules: rules.yaml\nconversation: [hi, shh, {after: 1h}]\n",
				"a.golden":     "[#general] alice: hi\n[#general] rulebot: hello\n[#general] alice: shh\n[#ops] rulebot: tick\n",
				"sub/o.yaml":   "rules: ../other.yaml\nconversation: [ping]\n",
				"sub/o.golden": "wrong\n",
			},
			opts: TestOptions{Cover: true},
			want: "ok   D/a.yaml\nFAIL D/sub/o.yaml\n" +
				"--- D/sub/o.golden\n+++ D/sub/o.yaml (actual)\n@@ -1,1 +1,2 @@\n-wrong\n+[#general] alice: ping\n+[#general] rulebot: pong\n" +
				"1 passed, 1 failed\n" +
				"coverage: 3 of 7 rules fired (42.9%)\n" +
				"never fired: bye (D/rules.yaml:3)\n" +
				"never fired: quote (D/rules.yaml:4)\n" +
				"never fired: silent (D/rules.yaml:6)\n" +
				"never fired: hi (D/other.yaml:2)\n",
			code: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			opts := tt.opts
			opts.Paths = []string{dir}
			var out bytes.Buffer
			res, err := RunTests(context.Background(), opts, &out)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "D/", dir+"/")
			if out.String() != want || res.ExitCode() != tt.code {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and:\n%s", res.ExitCode(), out.String(), tt.code, want)
			}
		})
	}
}

// TestRunSelectsNothing: a -run that selects no test file is an error, so
// a mistyped filter never passes; one that selects some runs only those.
func TestRunSelectsNothing(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"rules.yaml":   "rules:\n  - {name: hi, match: {exact: hi}, reply: hello}\n",
		"sub/a.yaml":   "rules: ../rules.yaml\nconversation: [hi]\n",
		"sub/a.golden": "[#general] alice: hi\n[#general] rulebot: hello\n",
	})
	var out bytes.Buffer
	_, err := RunTests(context.Background(), TestOptions{Paths: []string{dir}, Run: regexp.MustCompile("nomatch")}, &out)
	if !errors.Is(err, ErrNoTests) || !strings.Contains(err.Error(), `"nomatch" matches none of the 1 test files`) {
		t.Errorf("-run nomatch: error %v, output %q; want ErrNoTests", err, out.String())
	}
	out.Reset()
	res, err := RunTests(context.Background(), TestOptions{Paths: []string{dir}, Run: regexp.MustCompile(`sub/a\.yaml`)}, &out)
	if err != nil || res.Passed != 1 {
		t.Errorf("-run sub/a.yaml: %d passed, error %v:\n%s", res.Passed, err, out.String())
	}
}
