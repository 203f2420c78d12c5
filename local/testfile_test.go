package local

import (
	"os"
	"path/filepath"
	"testing"
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
