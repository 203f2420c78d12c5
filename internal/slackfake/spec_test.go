package slackfake

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SpecCompiler (exported for the external conformance test) returns a compiler holding every schema of
// testdata/spec/DIR (written from Slack's published specification, see
// the README there), each known by base + its file name.
func SpecCompiler(t testing.TB, dir, base string) *jsonschema.Compiler {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "spec", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource(base+filepath.Base(f), doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return c
}
