package ourbot

import (
	"bytes"
	"context"
	"testing"

	"github.com/rulebot/rulebot/local"
)

// TestRules runs the golden conversations in testdata/ against rules.yaml,
// as `rulebot test` does. After a deliberate change, rewrite the goldens
// with `go tool rulebot test -update` and read the diff.
func TestRules(t *testing.T) {
	var out bytes.Buffer
	res, err := local.RunTests(context.Background(), local.TestOptions{Rules: "rules.yaml", Paths: []string{"testdata"}}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != 0 || res.Passed == 0 {
		t.Errorf("%d passed, %d failed (exit code %d)", res.Passed, res.Failed, res.ExitCode())
	}
}
