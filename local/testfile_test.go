package local

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadTestFileYAML checks that a test file is read as strictly as a
// rules file: one document, core tags only.
func TestReadTestFileYAML(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"one document", "---\nconversation: [hi]\n...\n", ""},
		{"an untagged clock", "clock: 2026-11-26T09:00:00Z\nconversation: [hi]\n", ""},
		{"a second document", "conversation: [hi]\n---\nconversation: [bye]\n",
			"T.yaml:2:1: a second YAML document starts here: the file must be one document (remove the ---)"},
		{"a custom tag", "conversation: [!shout hi]\n",
			"T.yaml:1:16: YAML tag !shout is not allowed: only the core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) may be written"},
		{"a binary tag", "fetch:\n  https://x.example/: {body: !!binary aGk=}\nconversation: [hi]\n",
			"T.yaml:2:30: YAML tag !!binary is not allowed: only the core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) may be written"},
		{"an unterminated quote", "conversation:\n  - you: \"@rulebot hi\n  - rulebot: \"hello\"\n  - you: bye\n",
			`T.yaml:2:10: YAML syntax: unterminated quoted string: the " opened here is not closed on its line`},
		{"an unquoted mention", "conversation:\n  - you: @rulebot hi\n",
			"T.yaml:2:10: YAML syntax: a value cannot start with @: put the value in quotes"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "T.yaml")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadTestFile(path)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if want := tt.want; want != "" {
				tt.want = filepath.Join(dir, want)
			}
			if got != tt.want {
				t.Errorf("ReadTestFile:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestReadTestFileMemory reads memory: seeds and {after: D} items, and
// reports their mistakes where they are written.
func TestReadTestFileMemory(t *testing.T) {
	tests := []struct {
		name, src string
		memory    map[string]any
		steps     []Step
		want      string // the error, with T.yaml for the file
	}{
		{
			name: "every kind of value",
			src: "memory:\n  karma/UBOB: 3\n  pi: 3.5\n  motto: hello\n  quotes: [first, second]\n  numbers: [1, true]\n" +
				"conversation:\n  - hi\n  - {after: 24h}\n  - {text: later, after: 1m}\n",
			memory: map[string]any{"karma/UBOB": 3.0, "pi": 3.5, "motto": "hello", "quotes": []string{"first", "second"}, "numbers": []string{"1", "true"}},
			steps: []Step{
				{Post: Post{User: "alice", Channel: "general", Text: "hi"}, Line: 8, Col: 5},
				{Post: Post{User: "alice", Channel: "general"}, After: 24 * time.Hour, ClockOnly: true, Line: 9, Col: 5},
				{Post: Post{User: "alice", Channel: "general", Text: "later"}, After: time.Minute, Line: 10, Col: 5},
			},
		},
		{
			name:   "an empty list",
			src:    "memory: {quotes: []}\nconversation: [hi]\n",
			memory: map[string]any{"quotes": []string{}},
			steps:  []Step{{Post: Post{User: "alice", Channel: "general", Text: "hi"}, Line: 2, Col: 16}},
		},
		{
			name: "not a mapping",
			src:  "memory: [a, b]\nconversation: [hi]\n",
			want: "T.yaml:1:9: memory: expected a mapping of keys to values, got a list",
		},
		{
			name: "values of the wrong kind",
			src:  "memory:\n  a: true\n  b: ~\n  c: {x: 1}\n  d: [x, [y]]\n  e: .inf\nconversation: [hi]\n",
			want: "T.yaml:2:6: memory: a: a value must be a number, a text or a list of texts, got \"true\"\n" +
				"T.yaml:3:6: memory: b: a value must be a number, a text or a list of texts, got nothing\n" +
				"T.yaml:4:6: memory: c: a value must be a number, a text or a list of texts, got a mapping\n" +
				"T.yaml:5:10: memory: d: a list item must be text, got a list\n" +
				"T.yaml:6:6: memory: e: \".inf\" is not a number rulebot can hold",
		},
		{
			name: "keys and values past the limits",
			src: "memory:\n  " + strings.Repeat("k", 201) + ": 1\n  long: " + strings.Repeat("x", 4001) + "\n  \"\": 1\n  a: 1\n  a: 2\n" +
				"conversation: [hi]\n",
			want: "T.yaml:2:3: memory key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"… is 201 bytes, longer than 200\n" +
				"T.yaml:3:9: text for memory key \"long\" is 4,001 bytes, longer than 4,000\n" +
				"T.yaml:4:3: memory key is empty\n" +
				"T.yaml:6:3: memory: key \"a\" is repeated (first at line 5)",
		},
		{
			name: "a list longer than a push keeps",
			src:  "memory:\n  q: [" + strings.TrimSuffix(strings.Repeat("x, ", 1001), ", ") + "]\nconversation: [hi]\n",
			want: "T.yaml:2:6: memory key \"q\": a list holds at most 1,000 items, not 1,001",
		},
		{
			name: "an item with neither text nor after",
			src:  "conversation:\n  - {user: bob}\n  - {after: 1h, user: bob}\n  - {}\n",
			want: "T.yaml:2:5: conversation[0]: has no text (an item without text is {after: D} alone, which only advances the clock)\n" +
				"T.yaml:3:5: conversation[1]: has no text (an item without text is {after: D} alone, which only advances the clock)\n" +
				"T.yaml:4:5: conversation[2]: has no text (an item without text is {after: D} alone, which only advances the clock)",
		},
		{
			name: "an after that is no duration",
			src:  "conversation:\n  - {after: soon}\n  - {after: -1h}\n",
			want: "T.yaml:2:13: conversation[0]: after: \"soon\" is not a duration like 30s, 5m or 1h30m\n" +
				"T.yaml:3:13: conversation[1]: after: \"-1h\" is not a duration like 30s, 5m or 1h30m",
		},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "T.yaml")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			tf, err := ReadTestFile(path)
			if tt.want != "" {
				want := strings.ReplaceAll(tt.want, "T.yaml", path)
				if err == nil || err.Error() != want {
					t.Fatalf("ReadTestFile error:\ngot  %v\nwant %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tf.Memory, tt.memory) {
				t.Errorf("memory = %#v, want %#v", tf.Memory, tt.memory)
			}
			if !reflect.DeepEqual(tf.Conversation, tt.steps) {
				t.Errorf("conversation = %+v, want %+v", tf.Conversation, tt.steps)
			}
		})
	}
}
