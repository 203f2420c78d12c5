package engine_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// shapeLinks are the ways FuzzExprShape grows an expression e by one
// level: pre + e + suf.
var shapeLinks = []struct{ pre, suf string }{
	{"- ", ""},
	{"!", ""},
	{"not ", ""},
	{"", " + 1"},
	{"1 + ", ""},
	{"", " * 2 - 1"},
	{"", ".b"},
	{"", "?.b"},
	{"", " | upper()"},
	{"", " | len()"},
	{"(", ")"},
	{"[", "]"},
	{`{"a": `, "}"},
	{"len(", ")"},
	{"map(1..3, ", ")"},
	{"filter([1], ", " != nil)"},
	{"true ? ", " : 1"},
	{"", "[0]"},
	{"let x = ", "; x"},
	{"", " ?? 1"},
	{"'a' + ", ""},
	{"", " in [1]"},
}

var shapeAtoms = []string{"1", "text", "rest", "fetch.json", "vars", "'s'", "#", "args", "nil", "user.name"}

// buildShape reads prog as (link, count) groups of four bytes: count (three
// bytes) times the link chosen by the first byte, around the atom chosen by
// atom, up to about max bytes.
func buildShape(atom uint8, prog []byte, max int) string {
	e := shapeAtoms[int(atom)%len(shapeAtoms)]
	for i := 0; i+3 < len(prog) && len(e) < max; i += 4 {
		l := shapeLinks[int(prog[i])%len(shapeLinks)]
		n := int(prog[i+1])<<16 | int(prog[i+2])<<8 | int(prog[i+3])
		n = min(n, (max-len(e))/(len(l.pre)+len(l.suf))+1)
		e = strings.Repeat(l.pre, n) + e + strings.Repeat(l.suf, n)
	}
	return e
}

// FuzzExprShape compiles expressions of fuzzed shape, long chains of
// operators, member accesses, pipes and brackets of fuzzed length nested in
// a fuzzed order, in a reply and in a when. Compile must never crash, must
// return soon, and must either succeed or give positioned problems; a rules
// file that compiles must handle messages without crashing.
func FuzzExprShape(f *testing.F) {
	f.Add(uint8(0), []byte{0xff, 0, 0x0f, 0x42, 0x40}, false)  // 1,000,000 unary minus signs
	f.Add(uint8(0), []byte{0xff, 3, 0x03, 0x0d, 0x40}, false)  // a 200,000-term 1+1+… chain
	f.Add(uint8(0), []byte{3, 0, 0, 99}, true)                 // a 100-term chain
	f.Add(uint8(4), []byte{6, 0, 0, 150}, true)                // vars.b.b.b…, 150 long
	f.Add(uint8(1), []byte{8, 0, 0, 150}, false)               // text | upper() | …
	f.Add(uint8(0), []byte{10, 0, 0, 101}, true)               // 101 brackets
	f.Add(uint8(0), []byte{11, 0, 0, 50, 0, 0, 0, 50}, false)  // lists and minus signs
	f.Add(uint8(1), []byte{14, 0, 0, 5, 13, 0, 0, 3}, false)   // nested maps
	f.Add(uint8(2), []byte{18, 0, 0, 40, 16, 0, 0, 40}, true)  // lets in a ternary
	f.Add(uint8(6), []byte{15, 0, 0, 30, 21, 0, 0, 70}, false) // predicates
	f.Add(uint8(3), []byte{7, 0, 0, 60, 17, 0, 0, 41, 19, 0, 0, 1}, false)
	opts := fuzzOptions()
	f.Fuzz(func(t *testing.T, atom uint8, prog []byte, inWhen bool) {
		// Up to four times the size limit: the seeds and corpus hold
		// the huge shapes (a million signs); small ones fuzz faster.
		e := buildShape(atom, prog, 40_000)
		if len(prog) > 0 && prog[0] == 0xff {
			e = buildShape(atom, prog[1:], 3<<20)
		}
		src := "rules:\n  - name: s\n    reply: " + yamlQuote("{{ "+e+" }}") + "\n    on_error: '{{ error }}'\n"
		if inWhen {
			src = "rules:\n  - name: s\n    when: " + yamlQuote(e) + "\n    reply: x\n"
		}
		start := time.Now()
		rs, err := engine.Compile("shape.yaml", []byte(src))
		if took := time.Since(start); took > 10*time.Second { // well under a second unloaded
			t.Fatalf("Compile of a %d-byte expression took %v", len(e), took)
		}
		if err != nil {
			var list engine.ErrorList
			if !errors.As(err, &list) || list.ErrorCount() == 0 {
				t.Fatalf("Compile error %T without problems: %v", err, err)
			}
			for _, p := range list {
				if p.File != "shape.yaml" || p.Line < 3 || p.Col < 1 || p.Msg == "" || strings.Contains(p.Msg, "\n") {
					t.Fatalf("malformed or unpositioned problem %#v", p)
				}
			}
			return
		}
		if len(e) > 10_000 {
			t.Fatalf("a %d-byte expression compiled", len(e))
		}
		e2 := engine.New(rs, opts)
		for _, m := range []engine.Message{msg("hello"), at("do 1 2")} {
			e2.Handle(context.Background(), m)
		}
	})
}

// costLinks are the ways FuzzExprCost makes an expression e costlier; n is
// a fuzzed number.
var costLinks = []func(e string, n int) string{
	func(e string, n int) string { return fmt.Sprintf("repeat(%s, %d)", e, n) },
	func(e string, n int) string { return e + " + " + e },
	func(e string, n int) string { return fmt.Sprintf("join(map(1..%d, %s), %s)", n, e, e) },
	func(e string, n int) string { return fmt.Sprintf("len(filter(1..%d, upper(%s) == %s))", n, e, e) },
	func(e string, n int) string { return fmt.Sprintf("reduce(1..%d, #acc + #acc, %s)", n, e) },
	func(e string, n int) string { return fmt.Sprintf("toJSON(map(1..%d, [%s, #]))", n, e) },
	func(e string, n int) string { return fmt.Sprintf("split(%s, '')", e) },
	func(e string, n int) string { return fmt.Sprintf("replace(%s, '', %s)", e, e) },
	func(e string, n int) string { return fmt.Sprintf("flatten(map(1..%d, 1..%d))", n, n) },
	func(e string, n int) string { return fmt.Sprintf("sortBy(map(1..%d, string(#)), #)", n) },
	func(e string, n int) string { return fmt.Sprintf("count(1..%d, # in 1..%d)", n, n) },
	func(e string, n int) string { return fmt.Sprintf("string(%s) matches string(%s)", e, e) },
	func(e string, n int) string { return fmt.Sprintf("json(%s) + urlquery(string(%s))", e, e) },
	func(e string, n int) string { return fmt.Sprintf("concat(1..%d, 1..%d)", n, n) },
	func(e string, n int) string { return fmt.Sprintf("uniq(map(1..%d, %s))", n, e) },
	func(e string, n int) string { return fmt.Sprintf("let v = %s; v + v + v", e) },
}

// FuzzExprCost evaluates nests of costly operations with fuzzed sizes. Each
// evaluation must end soon, succeed or fail (with "expression too costly"
// or another run-time error), and never allocate much.
func FuzzExprCost(f *testing.F) {
	f.Add([]byte{0, 0x7f, 0xff, 0xff, 0xff, 0, 0x00, 0x01, 0x86, 0xa0}, "x")
	f.Add([]byte{4, 0, 0, 0, 40}, "ab")
	f.Add([]byte{3, 0, 6, 0x1a, 0x80}, strings.Repeat("a", 5000))
	f.Add([]byte{8, 0, 0, 0x03, 0xe8, 5, 0, 0, 0, 10}, "")
	f.Add([]byte{2, 0, 0, 0x27, 0x10, 7, 0, 0, 0, 0}, "abc")
	f.Add([]byte{11, 0, 0, 0, 1}, "(a|b)*(a|b)*(a|b)*")
	opts := fuzzOptions()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, prog []byte, rest string) {
		e := "rest"
		for i := 0; i+4 < len(prog) && i < 5*6; i += 5 {
			n := int(int32(uint32(prog[i+1])<<24 | uint32(prog[i+2])<<16 | uint32(prog[i+3])<<8 | uint32(prog[i+4])))
			e = costLinks[int(prog[i])%len(costLinks)](e, n)
		}
		rs, err := engine.Compile("cost.yaml", []byte("rules:\n  - name: c\n    match: {command: go}\n    reply: "+
			yamlQuote("{{ "+e+" }}")+"\n    on_error: '{{ error }}'\n"))
		if err != nil {
			return // a type error, most often
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		engine.New(rs, opts).Handle(ctx, at("go "+rest))
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if took > 10*time.Second { // at most about 0.1 s unloaded
			t.Fatalf("%s took %v", e, took)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
			t.Fatalf("%s allocated %d MiB", e, alloc>>20)
		}
	})
}
