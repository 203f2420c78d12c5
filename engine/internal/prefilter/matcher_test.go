package prefilter

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// naiveCounts returns, for each pattern, 1 if it occurs in text (an empty
// pattern always does) and 0 otherwise: how many times Each must report it.
func naiveCounts(patterns []string, text string) []int {
	counts := make([]int, len(patterns))
	for i, p := range patterns {
		if strings.Contains(text, p) {
			counts[i] = 1
		}
	}
	return counts
}

func matcherCounts(m *Matcher, text string) []int {
	counts := make([]int, m.Len())
	m.Each(text, func(p int) { counts[p]++ })
	return counts
}

// denseBudgets exercises the all-sparse (root only), mixed and all-dense
// code paths.
var denseBudgets = []int{0, 64, defaultDenseEntries, 1 << 30}

func checkMatcher(t *testing.T, patterns []string, texts ...string) {
	t.Helper()
	for _, budget := range denseBudgets {
		m := newMatcher(patterns, budget)
		for _, text := range texts {
			got, want := matcherCounts(m, text), naiveCounts(patterns, text)
			if !slices.Equal(got, want) {
				t.Fatalf("budget %d, patterns %q, text %q:\n got %v\nwant %v", budget, patterns, text, got, want)
			}
		}
	}
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		patterns []string
		texts    []string
	}{
		{nil, []string{"", "abc"}},
		{[]string{""}, []string{"", "abc"}},
		{[]string{"a"}, []string{"", "a", "b", "aaa", "bab"}},
		{[]string{"he", "she", "his", "hers"}, []string{"ushers", "ahishers", "", "h", "she"}},
		{[]string{"king", "kingdom", "dom", "ing"}, []string{"the kingdom", "king", "do", "kin g"}},
		{[]string{"abc", "abc", "", "bc"}, []string{"xabcx", "abcabc"}}, // duplicates
		{[]string{"a", "aa", "aaa", "aaaa"}, []string{"aaaaaa", "abaa"}},
		{[]string{"straße", "cafÉ", "\uFFFD"}, []string{Fold("STRAẞE im CAFÉ\xff")}},
		{[]string{"\x00", "\xff\x00", "\xff"}, []string{"\x00\xff\x00\xff"}},
		{[]string{"abcd", "bcde", "cdef", "c"}, []string{"abcdefg", "abcabcdbcdecdef"}},
	}
	for _, tt := range tests {
		checkMatcher(t, tt.patterns, tt.texts...)
	}

	// All 256 byte values in use (no "unused" class).
	var all []string
	for b := range 256 {
		all = append(all, string([]byte{byte(b)}), string([]byte{byte(b), byte(255 - b)}))
	}
	var text []byte
	for b := range 512 {
		text = append(text, byte(b*7))
	}
	checkMatcher(t, all, string(text), "", "\x00\xff")
}

// TestMatcherRandom compares the automaton with a naive search on random
// patterns over small alphabets, which makes overlaps and failure chains
// frequent.
func TestMatcherRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		alphabet := "ab"
		if iter%3 == 1 {
			alphabet = "abcd"
		} else if iter%3 == 2 {
			alphabet = "ab\xffé K"
		}
		randString := func(maxLen int) string {
			n := rnd.IntN(maxLen + 1)
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[rnd.IntN(len(alphabet))]
			}
			return string(b)
		}
		patterns := make([]string, rnd.IntN(40))
		for i := range patterns {
			patterns[i] = randString(6)
		}
		texts := make([]string, 5)
		for i := range texts {
			texts[i] = randString(60)
		}
		checkMatcher(t, patterns, texts...)
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add("he,she,his,hers", "ushers")
	f.Add("a,aa,,aaa", "aaaa")
	f.Add("king,kingdom,dom", "the kingdom of \xff")
	f.Fuzz(func(t *testing.T, list, text string) {
		if len(list) > 2000 || len(text) > 2000 {
			return
		}
		checkMatcher(t, strings.Split(list, ","), text)
	})
}

// TestMatcherOverlapping checks that Each reports each pattern once, and does
// work linear in the text, when patterns occur at every position and end at
// the same positions as many others: "a", "aa", … "a"×499 in "aaaa…" (and
// "b", which does not occur, so that the scan goes to the end).
func TestMatcherOverlapping(t *testing.T) {
	pats := []string{"b"}
	for n := 1; n < 500; n++ {
		pats = append(pats, strings.Repeat("a", n))
	}
	text := strings.Repeat("a", 40_000)
	for _, budget := range denseBudgets {
		m := newMatcher(pats, budget)
		calls := 0
		m.Each(text, func(int) { calls++ })
		if calls != len(pats)-1 {
			t.Errorf("budget %d: Each called fn %d times, want %d (once per pattern)", budget, calls, len(pats)-1)
		}
		// A second call on the same Matcher starts from a clean slate.
		calls = 0
		m.Each(text[:10], func(int) { calls++ })
		if calls != 10 {
			t.Errorf("budget %d: second call: fn called %d times, want 10", budget, calls)
		}
	}
}

// TestMatcherConcurrent runs Each from several goroutines on one Matcher:
// each call has its own record of what it reported.
func TestMatcherConcurrent(t *testing.T) {
	pats := []string{"a", "aa", "ab", "b", "bab"}
	m := NewMatcher(pats)
	texts := []string{"aaaa", "bab", "abba", "", "ccc", "babab"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				text := texts[(g+i)%len(texts)]
				if got, want := matcherCounts(m, text), naiveCounts(pats, text); !slices.Equal(got, want) {
					t.Errorf("Each(%q) counts %v, want %v", text, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMatcherNoAlloc(t *testing.T) {
	m := NewMatcher(keywords(1000))
	text := missMessage
	n := 0
	if a := testing.AllocsPerRun(100, func() { m.Each(text, func(int) { n++ }) }); a != 0 {
		t.Errorf("Each allocates %v times per call", a)
	}
}

// TestMatcherSize reports memory and checks it stays reasonable for 10,000
// keyword patterns.
func TestMatcherSize(t *testing.T) {
	pats := keywords(10000)
	m := NewMatcher(pats)
	bytes := 4*(len(m.dense)+len(m.kids)+len(m.fail)+len(m.report)+len(m.outOff)+len(m.outPat)) + len(m.label)
	t.Logf("%d patterns: %d states, %d classes, %d dense states, ~%d KiB", len(pats), len(m.label), m.nc, m.nDense, bytes/1024)
	if bytes > 8<<20 {
		t.Errorf("matcher uses %d bytes, want < 8 MiB", bytes)
	}
}
