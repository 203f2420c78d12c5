package prefilter

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func mustParse(t testing.TB, pattern string) *syntax.Regexp {
	t.Helper()
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		t.Fatalf("parse %q: %v", pattern, err)
	}
	return re
}

func digits(prefix string) []string {
	var d []string
	for c := '0'; c <= '9'; c++ {
		d = append(d, prefix+string(c))
	}
	return d
}

func TestRequired(t *testing.T) {
	alts := make([]string, 17)
	for i := range alts {
		alts[i] = fmt.Sprintf("%czz", 'a'+i) // no common prefix for the parser to factor
	}
	tests := []struct {
		pattern string
		want    []string // nil: no requirement
	}{
		{`hello`, []string{"hello"}},
		{`Hello`, []string{"hello"}}, // folded even without (?i)
		{`(?i)\bking\b`, []string{"king"}},
		{`(?i)\bKING\b`, []string{"king"}},
		{`(?i)k`, []string{"k"}},
		{`[Kk\x{212A}]ing`, []string{"king"}},
		{`\x{212A}elvin`, []string{"kelvin"}},
		{`(?i)\x{17F}un`, []string{"sun"}},
		{`(?i)straße`, []string{"straße"}},
		{`STRAẞE`, []string{"straße"}},
		{`(?i)café`, []string{"cafÉ"}},
		{`(?i)hello|world`, []string{"hello", "world"}},
		{`(?i)\b(hello|hi|hey)\b`, []string{"hello", "hey", "hi"}},
		{`(?i)\b(?:cat|dog)s?\b`, []string{"cat", "dog"}},
		{`foo.*bar`, []string{"foo"}}, // tie: first one
		{`fo.*barbaz`, []string{"barbaz"}},
		{`^foo$`, []string{"foo"}},
		{`(?m)^\s*!deploy\s+(\w+)`, []string{"!deploy"}},
		{`a+`, []string{"a"}},
		{`(abc)+`, []string{"abc"}},
		{`(?:ab){2,}`, []string{"abab"}},
		{`x{2,}`, []string{"xx"}},
		{`a{3}`, []string{"aaa"}},
		{`(?:foo){2,5}`, []string{"foofoo"}},
		{`a{2,1000}`, []string{"aa"}},
		{`colou?r`, []string{"color", "colour"}},
		{`gr[ae]y`, []string{"gray", "grey"}},
		{`abc|abd`, []string{"abc", "abd"}},
		{`x(a|)y`, []string{"xay", "xy"}},
		{`(a|ab)(c|bcd)`, []string{"abbcd", "abc", "ac"}}, // abcd contains abc
		{`(?:a|b)c`, []string{"ac", "bc"}},
		{`foo\d+bar\d`, digits("bar")}, // longer shortest literal wins over {foo}
		{`foo\d+bar`, []string{"foo"}},
		{`\d{3}`, digits("")}, // weak but sound: a digit is required
		{`foo|\d+`, append(digits(""), "foo")},
		{"(" + strings.Join(alts[:16], "|") + `)\d`, alts[:16]}, // product overflow
		{`\bfoo\b\s+\bbarbaz\b`, []string{"barbaz"}},
		{`(?s)wo.ld`, []string{"wo"}},
		{`(?i)error: (timeout|refused)`, []string{"error: refused", "error: timeout"}},
		{`(foo|bar.*baz)`, []string{"bar", "foo"}},
		{`((((nested))))`, []string{"nested"}},
		{`(?:x|y|z)+q`, []string{"q"}}, // {x,y,z} vs {q}: fewer wins
		{"(" + strings.Join(alts[:16], "|") + ")", alts[:16]},

		// No useful requirement.
		{`a*`, nil},
		{`a?`, nil},
		{`a{0,3}`, nil},
		{`(a|)`, nil},
		{`(|a)b?`, nil},
		{`.`, nil},
		{`.+`, nil},
		{`[a-z]+`, nil},
		{`\w+`, nil},
		{`^$`, nil},
		{`\b`, nil},
		{``, nil},
		{`foo|.*`, nil},
		{`foo|\D`, nil},
		{`[^a]`, nil},
		{`\pL`, nil},
		{`[^\x00-\x{10FFFF}]`, nil}, // matches nothing: conservatively nil
		{"(" + strings.Join(alts, "|") + ")", nil}, // 17 alternatives
	}
	for _, tt := range tests {
		re := mustParse(t, tt.pattern)
		got := Required(re)
		if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Required(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
		// The simplified form must be analysed soundly too.
		checkRequiredShape(t, tt.pattern, Required(re.Simplify()))
	}
}

// TestRequiredDoesNotModify checks that the argument is left untouched.
func TestRequiredCase(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string // nil: no requirement
	}{
		{`Deploy +[0-9]{2}[a-z]`, []string{"Deploy"}},
		{`\x{FFFD}x`, nil}, // U+FFFD also matches an invalid byte
		{`Hello`, []string{"Hello"}},
		{`[Kk]ing`, []string{"King", "king"}},
		{`K\x{212A}`, []string{"K\u212a"}},
		{`(?i)hello`, nil},
		{`Deploy (?i:now)`, nil}, // a case-insensitive part: no exact literals
		{`[A-Z]+`, nil},
		{`foo|Bar`, []string{"Bar", "foo"}},
		{`\w+`, nil},
	}
	for _, tt := range tests {
		re, err := syntax.Parse(tt.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got := RequiredCase(re)
		checkShape(t, tt.pattern, got, false)
		if !slices.Equal(got, tt.want) {
			t.Errorf("RequiredCase(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestRequiredDoesNotModify(t *testing.T) {
	for _, p := range []string{`(?i)\b(cat|dog)s?\b`, `(?:ab){2,5}x`, `gr[ae]y`} {
		re := mustParse(t, p)
		before := re.String()
		Required(re)
		if after := re.String(); after != before {
			t.Errorf("Required modified %q: %q → %q", p, before, after)
		}
	}
}

func checkRequiredShape(t *testing.T, pattern string, req []string) {
	t.Helper()
	checkShape(t, pattern, req, true)
}

// checkShape checks the promises of Required (folded) or RequiredCase.
func checkShape(t *testing.T, pattern string, req []string, folded bool) {
	t.Helper()
	if req == nil {
		return
	}
	if len(req) == 0 || len(req) > maxSet {
		t.Fatalf("Required(%q): bad size %d", pattern, len(req))
	}
	if !slices.IsSorted(req) {
		t.Fatalf("Required(%q) = %q: not sorted", pattern, req)
	}
	for i, s := range req {
		if s == "" {
			t.Fatalf("Required(%q) = %q: contains empty string", pattern, req)
		}
		if folded && Fold(s) != s {
			t.Fatalf("Required(%q) = %q: %q is not folded", pattern, req, s)
		}
		for j, u := range req {
			if i != j && strings.Contains(s, u) {
				t.Fatalf("Required(%q) = %q: %q contains %q", pattern, req, s, u)
			}
		}
	}
}

var fuzzSeeds = []struct{ pattern, text string }{
	{`(?i)\bking\b`, "Long live the KING!"},
	{`(?i)\bking\b`, "the \u212Aing"},
	{`(?i)k`, "\u212A"},
	{`(?i)[k]ing`, "\u212AING"},
	{`[Kk\x{212A}]`, "\u212A"},
	{`\x{212A}`, "x\u212Ax"},
	{`(?i)s`, "\u017F"},
	{`(?i)ſ`, "S"},
	{`(?i)straße`, "STRAẞE"},
	{`ß`, "ß"},
	{`(?i)σ`, "ς"},
	{`(?i)café`, "CAFÉ au lait"},
	{`hello|world`, "hello"},
	{`(?i)hello|world`, "WoRlD"},
	{`(a|)`, ""},
	{`(|a)b`, "b"},
	{`x(a|)y`, "xy"},
	{`(a|ab)(c|bcd)(d*)`, "abcd"},
	{`a{0,3}b`, "aaab"},
	{`(?:ab){2,}`, "ababab"},
	{`(?:ab){2,3}c`, "ababc"},
	{`a{2,}`, "aaaa"},
	{`((a)|b)+c`, "bac"},
	{`(?i)(?:cat|dog)s?`, "DOGS"},
	{`colou?r`, "color"},
	{`gr[ae]y`, "GREY"},
	{`^foo$`, "foo"},
	{`(?m)^foo$`, "x\nfoo\ny"},
	{`foo\bbar`, "foobar"},
	{`\Bfoo\B`, "xfoox"},
	{`foo.*bar`, "foo and bar"},
	{`(?s)a.b`, "a\nb"},
	{`[^a-z]x`, "Xx"},
	{`\d+ apples?`, "3 apples"},
	{`[\x{FFFD}]`, "\xff"},
	{`\x{FFFD}x`, "\xffx"},
	{`(?i)\x{FFFD}`, "\xed\xa0\x80"},
	{`.`, "\xff"},
	{`[^\x00-\x{10FFFF}]|foo`, "foo"},
	{`(?i)[^k]`, "k"},
	{`(((((x)))))`, "x"},
	{`(?:(?:a|b)(?:c|d)){2}`, "acbd"},
	{`\pL+ok`, "éok"},
	{`(?U)a+?b`, "aab"},
	{`a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q`, "q"},
	{`(aa|bb|cc|dd|ee|ff|gg|hh|ii|jj|kk|ll|mm|nn|oo|pp|qq)`, "qq"},
	{`(?:x|y)(?:x|y)(?:x|y)(?:x|y)(?:x|y)z`, "xyxyxz"},
	// Once hung the generator (empty bodies under large repeats).
	{`((?:){1000}){1000}`, ""},
	{`(?:(?:a?){1000}){1000}b`, "b"},
}

func FuzzRequired(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.pattern, s.text)
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		if len(pattern) > 256 || len(text) > 1024 {
			return
		}
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			return
		}
		rx, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		req := Required(re)
		checkRequiredShape(t, pattern, req)
		if sreq := Required(re.Simplify()); sreq != nil {
			checkRequiredShape(t, pattern, sreq)
		}
		if req == nil {
			return
		}
		check := func(s string) {
			if !rx.MatchString(s) {
				return
			}
			fs := Fold(s)
			for _, lit := range req {
				if strings.Contains(fs, lit) {
					return
				}
			}
			t.Fatalf("regexp %q matches %q (folded %q) but Required = %q", pattern, s, fs, req)
		}
		check(text)
		creq := RequiredCase(re)
		checkShape(t, pattern, creq, false)
		checkCase := func(s string) {
			if creq == nil || !rx.MatchString(s) {
				return
			}
			for _, lit := range creq {
				if strings.Contains(s, lit) {
					return
				}
			}
			t.Fatalf("regexp %q matches %q but RequiredCase = %q", pattern, s, creq)
		}
		checkCase(text)
		// Random text rarely matches, so also check strings generated from
		// the regexp itself, with randomness derived from text.
		h := fnv.New64a()
		h.Write([]byte(text))
		rnd := rand.New(rand.NewPCG(h.Sum64(), uint64(len(pattern))))
		for range 8 {
			var b strings.Builder
			budget := 10000
			generate(&b, re, rnd, &budget)
			g := b.String()
			for _, s := range []string{g, " " + g + " ", text + g} {
				check(s)
				checkCase(s)
			}
		}
	})
}

// generate appends to b a string that re is likely (not certain: assertions
// are ignored) to match, choosing case variants, class members, branches and
// repetition counts at random.
// budget bounds the number of nodes visited (think `((?:){1000}){1000}`).
func generate(b *strings.Builder, re *syntax.Regexp, rnd *rand.Rand, budget *int) {
	if *budget <= 0 || b.Len() > 4096 {
		return
	}
	*budget--
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				r = randomOrbitMember(r, rnd)
			}
			writeRune(b, r, rnd)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return
		}
		i := 2 * rnd.IntN(len(re.Rune)/2)
		lo, hi := re.Rune[i], re.Rune[i+1]
		var r rune
		switch rnd.IntN(3) {
		case 0:
			r = lo
		case 1:
			r = hi
		default:
			r = lo + rune(rnd.Int64N(int64(hi-lo)+1))
		}
		writeRune(b, r, rnd)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		pool := []rune{'a', 'K', 0x212A, 'ß', 0x17F, ' ', utf8.RuneError, 'é', '\n'}
		r := pool[rnd.IntN(len(pool))]
		if r == '\n' && re.Op == syntax.OpAnyCharNotNL {
			r = 'x'
		}
		writeRune(b, r, rnd)
	case syntax.OpCapture:
		generate(b, re.Sub[0], rnd, budget)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			generate(b, sub, rnd, budget)
		}
	case syntax.OpAlternate:
		generate(b, re.Sub[rnd.IntN(len(re.Sub))], rnd, budget)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 {
				hi = lo + 2
			}
		}
		n := lo + rnd.IntN(hi-lo+1)
		for range n {
			generate(b, re.Sub[0], rnd, budget)
		}
	}
	// Empty match, no match and zero-width assertions produce nothing.
}

func randomOrbitMember(r rune, rnd *rand.Rand) rune {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	return orbit[rnd.IntN(len(orbit))]
}

// writeRune writes r, writing U+FFFD sometimes as an invalid byte (which
// the regexp package also reads as U+FFFD).
func writeRune(b *strings.Builder, r rune, rnd *rand.Rand) {
	if r == utf8.RuneError && rnd.IntN(2) == 0 {
		b.WriteByte(0xff)
		return
	}
	b.WriteRune(r)
}
