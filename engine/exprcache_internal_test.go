package engine

import (
	"context"
	"strings"
	"testing"
)

// TestCompileReusesExpressions: an expression that many rules repeat is
// compiled once per file, and each rule still answers with its own
// groups; the checks that depend on the rule still run for every use.
func TestCompileReusesExpressions(t *testing.T) {
	rs, err := Compile("rules.yaml", []byte(`rules:
  - {name: a, match: {regex: 'a (\w+)'}, reply: 'A {{ groups[1] }}'}
  - {name: b, match: {regex: 'b (\w+)'}, reply: 'B {{ groups[1] }}'}
  - {name: c, match: {regex: 'c (\w+)'}, reply: 'C {{ len(groups[1]) }}'}
`))
	if err != nil {
		t.Fatal(err)
	}
	prog := func(i int) any { return rs.rules[i].replies[0].parts[1].prog }
	if prog(0) != prog(1) {
		t.Error("{{ groups[1] }} of rules a and b was compiled twice")
	}
	if prog(0) == prog(2) {
		t.Error("rules a and c share a program, though their expressions differ")
	}
	e := New(rs, Options{BotUserID: "UBOT"})
	for text, want := range map[string]string{"a x": "A x", "b yz": "B yz", "c abc": "C 3"} {
		acts := e.Handle(context.Background(), Message{Text: text, UserID: "UALICE", ChannelID: "CGENERAL", TS: "1.1"})
		if len(acts) != 1 || acts[0].Text != want {
			t.Errorf("%q: %+v, want the reply %q", text, acts, want)
		}
	}

	// groups in a command rule is refused there, although the same
	// expression compiled without a problem in the regex rule before it.
	_, err = Compile("rules.yaml", []byte(`rules:
  - {name: a, match: {regex: 'a (\w+)'}, reply: 'A {{ groups[1] }}'}
  - {name: d, match: {command: d}, reply: 'D {{ groups[1] }}'}
`))
	if err == nil || !strings.Contains(err.Error(), `rules.yaml:3:49: rule "d": reply: groups is always empty`) {
		t.Errorf("Compile = %v, want a problem at line 3 (groups in a command rule)", err)
	}
}
