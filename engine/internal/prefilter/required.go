package prefilter

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	// maxSet bounds the size of every literal set: exact sets, cross
	// products and returned requirement sets. Beyond it the information is
	// dropped (conservatively).
	maxSet = 16
	// maxClassRunes bounds the number of runes of a character class that is
	// expanded into an exact set.
	maxClassRunes = 4 * maxSet
	// maxExactLen bounds the length in bytes of a string built by
	// concatenation or repetition in an exact set.
	maxExactLen = 256
	// maxRepeatExpand bounds the repetition counts that are expanded.
	maxRepeatExpand = 8
	// maxUnion bounds the raw size of a union before it is minimized.
	maxUnion = 64 * maxSet
)

// Required returns a set of folded literals (see [Fold]) such that any string
// matched by re, once folded, contains at least one of them as a substring.
// It returns nil when no useful set is known; the rule must then always be
// treated as a candidate. The result is sorted, has no duplicates, contains
// no empty string, no element is a substring of another, and it has at most
// 16 elements.
//
// re is a regexp as returned by [syntax.Parse] (typically with
// [syntax.Perl]); it may or may not be simplified, and it is not modified.
// The analysis is case-insensitive by construction: literals are folded
// whether or not their FoldCase flag is set, which is correct because the
// prefilter runs on folded text.
//
// When re contains several required pieces (as in `foo.*bar`), the most
// selective one is chosen: the set whose shortest literal is longest, and
// among those the smallest set.
func Required(re *syntax.Regexp) []string {
	if re == nil {
		return nil
	}
	return analyzer{fold: true}.analyze(re).best()
}

// RequiredCase is Required for a case-sensitive regexp, without folding:
// any string matched by re contains at least one of the returned literals,
// exactly as written. It returns nil when re has a case-insensitive part
// ((?i)) or no useful set is known. A text that contains none of them
// cannot match, which a caller can check once per literal set where
// Required's folded literals are shared by many regexps that differ in case
// ("Deploy " and "deploy ").
func RequiredCase(re *syntax.Regexp) []string {
	if re == nil || foldsCase(re) {
		return nil
	}
	lits := analyzer{}.analyze(re).best()
	for _, l := range lits {
		if strings.ContainsRune(l, utf8.RuneError) {
			return nil // U+FFFD in a regexp also matches an invalid byte
		}
	}
	return lits
}

// foldsCase reports whether some literal of re matches case-insensitively.
// (A character class under (?i) lists every case itself.)
func foldsCase(re *syntax.Regexp) bool {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase != 0 {
		return true
	}
	return slices.ContainsFunc(re.Sub, foldsCase)
}

// An analyzer works out literal sets, folded (for Required) or exactly as
// written (for RequiredCase).
type analyzer struct{ fold bool }

// info is what is known about the strings a regexp node matches.
type info struct {
	// exact, when non-nil, is the complete set of folded strings the node
	// can match: Fold(w) ∈ exact for every match w. It is never an empty
	// non-nil slice.
	exact []string
	// req, when non-nil, is a minimized requirement set: Fold(w) contains
	// some element of req for every match w. Only set when exact is nil.
	req []string
}

// best returns the node's requirement set, or nil.
func (i info) best() []string {
	if i.exact != nil {
		return minimize(i.exact)
	}
	return i.req
}

func (a analyzer) analyze(re *syntax.Regexp) info {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return info{exact: []string{""}}

	case syntax.OpLiteral:
		if !a.fold {
			return info{exact: []string{string(re.Rune)}}
		}
		return info{exact: []string{Fold(string(re.Rune))}}

	case syntax.OpCharClass:
		return info{exact: a.classExact(re.Rune)}

	case syntax.OpCapture:
		return a.analyze(re.Sub[0])

	case syntax.OpPlus:
		return info{req: a.analyze(re.Sub[0]).best()}

	case syntax.OpQuest:
		sub := a.analyze(re.Sub[0])
		if sub.exact != nil {
			if e := dedupe(append(slices.Clip(sub.exact), "")); len(e) <= maxSet {
				return info{exact: e}
			}
		}
		return info{}

	case syntax.OpRepeat:
		return a.analyzeRepeat(re)

	case syntax.OpConcat:
		return a.analyzeConcat(re)

	case syntax.OpAlternate:
		return a.analyzeAlternate(re)
	}
	// OpNoMatch (treated conservatively), OpAnyChar, OpAnyCharNotNL,
	// OpStar, zero-width assertions and anything unknown: nothing is known.
	return info{}
}

func isZeroWidth(op syntax.Op) bool {
	switch op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	return false
}

// classExact returns the set of (folded) runes of a small character class, or
// nil when the class is empty or too large.
func (a analyzer) classExact(ranges []rune) []string {
	n := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		n += int(ranges[i+1]-ranges[i]) + 1
		if n > maxClassRunes {
			return nil
		}
	}
	if n == 0 {
		return nil
	}
	set := make([]string, 0, n)
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			c := r
			if a.fold {
				c = foldRune(r)
			}
			set = append(set, string(c))
		}
	}
	set = dedupe(set)
	if len(set) > maxSet {
		return nil
	}
	return set
}

func (a analyzer) analyzeRepeat(re *syntax.Regexp) info {
	sub := a.analyze(re.Sub[0])
	if sub.exact != nil && re.Max >= 0 && re.Max <= maxRepeatExpand && re.Min <= re.Max {
		// Exact: the union of E^k for k in [Min, Max].
		var all []string
		pow := []string{""}
		ok := true
		for k := 0; k <= re.Max && ok; k++ {
			if k >= re.Min {
				all = append(all, pow...)
			}
			if k < re.Max {
				pow, ok = product(pow, sub.exact)
			}
		}
		if ok {
			if all = dedupe(all); len(all) <= maxSet {
				return info{exact: all}
			}
		}
	}
	if re.Min < 1 {
		return info{}
	}
	if sub.exact == nil {
		return info{req: sub.req}
	}
	// Every match starts with m consecutive matches of the child, for any
	// m ≤ Min; use the largest m whose expansion stays small.
	best := minimize(sub.exact)
	pow := sub.exact
	for k := 2; k <= re.Min && k <= maxRepeatExpand; k++ {
		p, ok := product(pow, sub.exact)
		if !ok {
			break
		}
		pow = p
		if r := minimize(pow); better(r, best) {
			best = r
		}
	}
	return info{req: best}
}

func (a analyzer) analyzeConcat(re *syntax.Regexp) info {
	var best []string
	consider := func(r []string) {
		if better(r, best) {
			best = r
		}
	}
	// cur is the exact set of the current run of adjacent exact children.
	cur := []string{""}
	flush := func() {
		consider(minimize(cur))
		cur = []string{""}
	}
	exact := true
	for _, sub := range re.Sub {
		if isZeroWidth(sub.Op) {
			// Transparent (it matches the empty string) but it breaks
			// adjacency.
			exact = false
			flush()
			continue
		}
		si := a.analyze(sub)
		if si.exact != nil {
			if p, ok := product(cur, si.exact); ok {
				cur = p
				continue
			}
			exact = false
			flush()
			cur = si.exact
			continue
		}
		exact = false
		flush()
		consider(si.req)
	}
	if exact {
		return info{exact: cur}
	}
	flush()
	return info{req: best}
}

func (a analyzer) analyzeAlternate(re *syntax.Regexp) info {
	var exact, req []string
	allExact, allReq := true, true
	for _, sub := range re.Sub {
		si := a.analyze(sub)
		if allExact {
			if si.exact == nil || len(exact)+len(si.exact) > maxUnion {
				allExact = false
			} else {
				exact = append(exact, si.exact...)
			}
		}
		if allReq {
			r := si.best()
			if r == nil || len(req)+len(r) > maxUnion {
				allReq = false
			} else {
				req = append(req, r...)
			}
		}
		if !allExact && !allReq {
			return info{}
		}
	}
	if allExact {
		if e := dedupe(exact); len(e) <= maxSet {
			return info{exact: e}
		}
	}
	if allReq {
		return info{req: minimize(req)}
	}
	return info{}
}

// product returns the set of concatenations {x+y : x ∈ a, y ∈ b}, or false if
// it would be too large.
func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxSet {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > maxExactLen {
				return nil, false
			}
			out = append(out, x+y)
		}
	}
	return dedupe(out), true
}

// dedupe sorts s in place and removes duplicates.
func dedupe(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// minimize turns a set of strings into a requirement set: it returns nil if
// the set contains "" (which carries no information) or, after removing every
// string that contains another element, has more than maxSet elements. The
// input is not modified.
func minimize(s []string) []string {
	if len(s) == 0 || len(s) > maxUnion {
		return nil
	}
	s = dedupe(slices.Clone(s))
	if s[0] == "" {
		return nil
	}
	// Shortest first, so that only shorter strings need checking.
	byLen := slices.Clone(s)
	slices.SortStableFunc(byLen, func(a, b string) int { return len(a) - len(b) })
	keep := byLen[:0]
	for _, x := range byLen {
		redundant := false
		for _, y := range keep {
			if strings.Contains(x, y) {
				redundant = true
				break
			}
		}
		if !redundant {
			keep = append(keep, x)
		}
	}
	if len(keep) > maxSet {
		return nil
	}
	slices.Sort(keep)
	return keep
}

// better reports whether requirement set a is more selective than b: a
// longer shortest literal, then fewer literals. A nil a is never better.
func better(a, b []string) bool {
	if a == nil {
		return false
	}
	if b == nil {
		return true
	}
	ma, mb := minLen(a), minLen(b)
	if ma != mb {
		return ma > mb
	}
	return len(a) < len(b)
}

func minLen(s []string) int {
	m := len(s[0])
	for _, x := range s[1:] {
		m = min(m, len(x))
	}
	return m
}
