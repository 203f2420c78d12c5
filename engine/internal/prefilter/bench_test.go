package prefilter

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Typical 60-byte chat messages, already folded. hitMessage gets one
// keyword spliced in by the benchmarks.
const (
	missMessage = "hey team, the deploy to staging is done; can someone check?"
	hitTemplate = "hey team, the deploy to staging is done; can %s check?"
)

// keywords returns n distinct pseudo-random lowercase keywords of 3–15
// letters (deterministic), none of which occurs in missMessage.
func keywords(n int) []string {
	rnd := rand.New(rand.NewPCG(42, 7))
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		l := 3 + rnd.IntN(13)
		if rnd.IntN(2) == 0 {
			l = 3 + rnd.IntN(6) // favour short, word-like keywords
		}
		b := make([]byte, l)
		for i := range b {
			b[i] = "etaoinshrdlcumwfgypbvkjxqz"[min(rnd.IntN(26), rnd.IntN(26))] // English-ish skew
		}
		w := string(b)
		if seen[w] || strings.Contains(missMessage, w) {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

var sizes = []int{10, 100, 1000, 10000}

func BenchmarkMatcher(b *testing.B) {
	for _, n := range sizes {
		pats := keywords(n)
		m := NewMatcher(pats)
		hit := fmt.Sprintf(hitTemplate, pats[n/2])
		for _, c := range []struct{ name, text string }{{"miss", missMessage}, {"hit", hit}} {
			b.Run(fmt.Sprintf("patterns=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(c.text)))
				found := 0
				for b.Loop() {
					m.Each(c.text, func(int) { found++ })
				}
				if (found > 0) != (c.name == "hit") {
					b.Fatalf("%s: %d matches", c.name, found)
				}
			})
		}
	}
}

// BenchmarkMatcherOverlapping scans 40,000 bytes in which every one of
// 999 patterns ("a", "aa", …) ends at (almost) every position, and a
// 1,000th ("b") never occurs, so the scan goes to the end.
func BenchmarkMatcherOverlapping(b *testing.B) {
	pats := []string{"b"}
	for i := range 999 {
		pats = append(pats, strings.Repeat("a", i+1))
	}
	m := NewMatcher(pats)
	text := strings.Repeat("a", 40_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		m.Each(text, func(int) {})
	}
}

func BenchmarkNewMatcher(b *testing.B) {
	for _, n := range sizes {
		pats := keywords(n)
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewMatcher(pats)
			}
		})
	}
}

func BenchmarkFold(b *testing.B) {
	for _, c := range []struct{ name, text string }{
		{"folded", missMessage},
		{"ascii", "Hey Team, the deploy to STAGING is done; can someone check?"},
		{"unicode", "Héllo Wörld, ça va? Straße ist GROẞ, \u212Aelvin — 日本語 😀"},
	} {
		b.Run(c.name+"/Fold", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.text)))
			for b.Loop() {
				Fold(c.text)
			}
		})
		b.Run(c.name+"/AppendFold", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.text)))
			buf := make([]byte, 0, 256)
			for b.Loop() {
				buf = AppendFold(buf[:0], c.text)
			}
		})
	}
}

// rules simulates the engine: n rules `(?i)\bWORD\b` with their prefilter.
type rules struct {
	res    []*regexp.Regexp
	m      *Matcher
	ruleOf []int // literal index → rule index
	always []int // rules without requirement
	// per-goroutine scratch
	stamp []uint32
	gen   uint32
	cand  []int
	buf   []byte
}

func newRules(b *testing.B, words []string) *rules {
	r := &rules{stamp: make([]uint32, len(words))}
	var lits []string
	for i, w := range words {
		pat := `(?i)\b` + w + `\b`
		r.res = append(r.res, regexp.MustCompile(pat))
		req := Required(mustParse(b, pat))
		if req == nil {
			r.always = append(r.always, i)
			continue
		}
		for _, l := range req {
			lits = append(lits, l)
			r.ruleOf = append(r.ruleOf, i)
		}
	}
	r.m = NewMatcher(lits)
	return r
}

// match returns the first rule (in file order) matching text, or -1.
func (r *rules) match(text string) int {
	r.gen++
	r.cand = append(r.cand[:0], r.always...)
	r.buf = AppendFold(r.buf[:0], text)
	r.m.Each(string(r.buf), func(lit int) {
		if i := r.ruleOf[lit]; r.stamp[i] != r.gen {
			r.stamp[i] = r.gen
			r.cand = append(r.cand, i)
		}
	})
	slices.Sort(r.cand)
	for _, i := range r.cand {
		if r.res[i].MatchString(text) {
			return i
		}
	}
	return -1
}

// BenchmarkRules measures the whole per-message cost (fold, scan, run the
// candidate regexps) against running every regexp.
func BenchmarkRules(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		words := keywords(n)
		r := newRules(b, words)
		target := n / 2
		hit := fmt.Sprintf("Hey Team, the deploy to STAGING is done; can %s check?", strings.ToUpper(words[target]))
		miss := "Hey Team, the deploy to STAGING is done; can someone check?"
		for _, c := range []struct {
			name, text string
			want       int
		}{{"miss", miss, -1}, {"hit", hit, target}} {
			b.Run(fmt.Sprintf("rules=%d/%s/prefilter", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if got := r.match(c.text); got != c.want {
						b.Fatalf("match = %d, want %d", got, c.want)
					}
				}
			})
			if n > 1000 {
				continue
			}
			b.Run(fmt.Sprintf("rules=%d/%s/all-regexps", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					got := -1
					for i, re := range r.res {
						if re.MatchString(c.text) {
							got = i
							break
						}
					}
					if got != c.want {
						b.Fatalf("match = %d, want %d", got, c.want)
					}
				}
			})
		}
	}
}
