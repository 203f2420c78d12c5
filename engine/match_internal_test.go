package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// containsWordNaive is containsWord's definition, checked at every offset.
func containsWordNaive(haystack, needle string) bool {
	if needle == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(needle)
	last, _ := utf8.DecodeLastRuneInString(needle)
	for i := 0; i+len(needle) <= len(haystack); i++ {
		if !strings.HasPrefix(haystack[i:], needle) {
			continue
		}
		j := i + len(needle)
		before, _ := utf8.DecodeLastRuneInString(haystack[:i])
		after, _ := utf8.DecodeRuneInString(haystack[j:])
		if (i == 0 || !isWordRune(first) || !isWordRune(before)) &&
			(j == len(haystack) || !isWordRune(last) || !isWordRune(after)) {
			return true
		}
	}
	return false
}

func TestContainsWord(t *testing.T) {
	tests := []struct {
		haystack, needle string
		want             bool
	}{
		{"the king is here", "king", true},
		{"the kingdom", "king", false},
		{"a-king", "king", true},
		{"c++ rocks", "c++", true},
		{"c+++", "c++", true}, // the edge '+' is not a word character
		{"xab-ab-ab ", "ab-ab", true},
		{"xab-ab", "ab-ab", false},
		{strings.Repeat("a", 1000), "aa", false},
		{strings.Repeat("a", 1000) + " aa", "aa", true},
		{strings.Repeat("ab", 500) + "-ab", "ab", true},
		{"élan", "lan", false},
		{"", "a", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		if got := containsWord(tt.haystack, tt.needle); got != tt.want {
			t.Errorf("containsWord(%.40q, %q) = %t, want %t", tt.haystack, tt.needle, got, tt.want)
		}
	}
}

// TestContainsWordRandom compares containsWord with its definition on
// random texts over a small alphabet, where occurrences overlap and word
// runs are long (as in the skipping of word runs) or short.
func TestContainsWordRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for iter := range 20000 {
		alphabet := []string{"a", "b", " ", "-", "é", "_"}
		if iter%2 == 0 {
			alphabet = alphabet[:2] // mostly long word runs
		}
		randString := func(n int) string {
			var b strings.Builder
			for range n {
				if iter%2 == 0 && rnd.IntN(100) == 0 {
					b.WriteString(" ")
				}
				b.WriteString(alphabet[rnd.IntN(len(alphabet))])
			}
			return b.String()
		}
		haystack, needle := randString(rnd.IntN(300)), randString(1+rnd.IntN(4))
		if got, want := containsWord(haystack, needle), containsWordNaive(haystack, needle); got != want {
			t.Fatalf("containsWord(%q, %q) = %t, want %t", haystack, needle, got, want)
		}
	}
}

// TestCandidatesSharedLiteral builds 1,000 regex rules that all require
// only " " and a message where " " occurs 20,000 times: each rule must be
// named once, in file order, without a list of 20,000 × 1,000 entries on
// the way (the index used to append a literal's rules per occurrence).
func TestCandidatesSharedLiteral(t *testing.T) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - name: r%d\n    match: {regex: '\\w+ [0-9]{%d}[a-z]{%d}'}\n    reply: hit\n", i, 2+i/25, 1+i%25)
	}
	rs, err := Compile("rules.yaml", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := rs.index.lits.Len(); n != 1 {
		t.Fatalf("the rules have %d literals, want 1 (\" \")", n)
	}
	e := New(rs, Options{})
	in := e.prepare(rs, Message{Text: strings.Repeat("a ", 20_000)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := rs.index.candidates(in, nil)
	runtime.ReadMemStats(&after)
	if len(got) != 1000 || !slices.IsSorted(got) || got[0] != 0 || got[999] != 999 {
		t.Fatalf("candidates = %d rules (%v…), want the 1,000 in file order", len(got), got[:min(len(got), 5)])
	}
	// The result itself is 4 KB; allow for its growth from nil.
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("candidates allocated %d bytes for 1,000 candidates, want at most 64 KiB", n)
	}
}

// TestCandidatesCaseSensitive: case-sensitive regexps whose folded literal
// occurs but whose literal as written does not are not candidates, checked
// once per shared literal set; where the literal occurs as written they
// still fire, and (?i) regexps are unaffected.
func TestCandidatesCaseSensitive(t *testing.T) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - name: r%d\n    match: {regex: 'Deploy +[0-9]{%d}[a-z]{%d}'}\n    reply: hit\n", i, 2+i/25, 1+i%25)
	}
	src.WriteString("  - {name: any, match: {regex: '(?i)deploy +now'}, reply: now}\n")
	rs, err := Compile("rules.yaml", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rs.index.caseSets); n != 1 {
		t.Fatalf("%d case-sensitive literal sets, want 1 (Deploy)", n)
	}
	e := New(rs, Options{})
	tests := []struct {
		text string
		want int // candidates; the (?i) rule is one whenever "deploy" occurs in any case
	}{
		{strings.Repeat("deploy ", 5000), 1},
		{"deploy now", 1},
		{"Deploy 12a", 1001},             // every Deploy rule may match
		{"DEPLOY 12a and deploy now", 1}, // neither case is "Deploy"
	}
	for _, tt := range tests {
		in := e.prepare(rs, Message{Text: tt.text})
		if got := rs.index.candidates(in, nil); len(got) != tt.want {
			t.Errorf("%.30q: %d candidates, want %d", tt.text, len(got), tt.want)
		}
	}
	acts := e.Handle(t.Context(), Message{Text: "Deploy 12a", UserID: "UALICE", ChannelID: "C1"})
	if len(acts) != 1 || acts[0].Rule != "r0" {
		t.Errorf("Deploy 12a fired %v, want r0", acts)
	}
}

// TestCandidatesNoAlloc checks that an ordinary message costs the index no
// allocation.
func TestCandidatesNoAlloc(t *testing.T) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - {name: k%d, match: {regex: '(?i)\\bkw%d\\b'}, reply: hit}\n", i, i)
		fmt.Fprintf(&src, "  - {name: c%d, match: {contains: cw%d}, reply: hit}\n", i, i)
	}
	rs, err := Compile("rules.yaml", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	e := New(rs, Options{})
	in := e.prepare(rs, Message{Text: "so then I said KW500 and cw7 to them, and left"})
	buf := make([]int32, 0, 64)
	var got []int32
	if a := testing.AllocsPerRun(100, func() { got = rs.index.candidates(in, buf[:0]) }); a != 0 && !raceEnabled {
		t.Errorf("candidates allocates %v times per message", a)
	}
	// k500 (rule 1000) and c7 (rule 15); k5 and k50 require "kw5" and
	// "kw50", which "kw500" contains.
	if want := []int32{10, 15, 100, 1000}; !slices.Equal(got, want) {
		t.Errorf("candidates = %v, want %v", got, want)
	}
}

// TestWords checks that words, found a few at a time, are the words
// strings.Fields finds.
func TestWords(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"a", "bc", " ", "  ", "\t", "\n", "\u0085", "\u00a0", "\u2003", "é", "\xff", "x"}
	for range 2000 {
		var b strings.Builder
		for range rnd.IntN(20) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		text := b.String()
		want := strings.Fields(text)
		in := &input{text: text}
		for _, n := range []int{0, 1, 2, rnd.IntN(10), -1} {
			got := in.words(n)
			if n >= 0 && len(got) < min(n, len(want)) || len(got) > len(want) {
				t.Fatalf("words(%d) of %q: %d words, want %d of %d", n, text, len(got), n, len(want))
			}
			for i := range got {
				if w := in.word(i); w != want[i] {
					t.Fatalf("words(%d) of %q: word %d = %q, want %q", n, text, i, w, want[i])
				}
			}
		}
		if got := in.words(-1); len(got) != len(want) {
			t.Fatalf("words(-1) of %q: %d words, want %d", text, len(got), len(want))
		}
	}
}
