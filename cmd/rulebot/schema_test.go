package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestProcessSchema checks that `rulebot schema` prints the schema committed
// as schema/rules.schema.json, the file the rules files' modeline names.
func TestProcessSchema(t *testing.T) {
	out, err := exec.Command(binary, "schema").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../schema/rules.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("rulebot schema differs from schema/rules.schema.json (%d bytes against %d): run go test ./engine -run TestSchemaFile -update", len(out), len(want))
	}
}
