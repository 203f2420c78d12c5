package engine

import (
	"slices"
	"strings"

	"github.com/rulebot/rulebot/engine/internal/prefilter"
)

// An index picks, for one message, the few rules that could match it, so
// the cost of a message does not grow with the number of keyword, command
// and exact-text rules. It never drops a rule that could match: rules it
// cannot index are always candidates.
type index struct {
	always   []int32            // rules without match, or regexps without a required literal
	commands map[string][]int32 // folded first word of a command → rules
	exact    map[string][]int32 // folded, single-spaced text → rules
	lits     *prefilter.Matcher // literals of contains and regex rules
	litRules [][]int32          // literal i → rules that need it
}

func buildIndex(rules []*rule) *index {
	ix := &index{commands: map[string][]int32{}, exact: map[string][]int32{}}
	var lits []string
	litPos := map[string]int{}
	addLit := func(lit string, i int32) {
		p, ok := litPos[lit]
		if !ok {
			p = len(lits)
			litPos[lit] = p
			lits = append(lits, lit)
			ix.litRules = append(ix.litRules, nil)
		}
		if rs := ix.litRules[p]; len(rs) == 0 || rs[len(rs)-1] != i {
			ix.litRules[p] = append(rs, i)
		}
	}
	for n, r := range rules {
		i := int32(n)
		if r.schedule != nil {
			continue // never tried against messages
		}
		switch r.kind {
		case matchCommand:
			for _, c := range r.commands {
				first, _, _ := strings.Cut(c, " ")
				ix.commands[first] = appendOnce(ix.commands[first], i)
			}
		case matchExact:
			for _, t := range r.texts {
				ix.exact[t] = appendOnce(ix.exact[t], i)
			}
		case matchContains:
			for _, t := range r.texts {
				addLit(t, i)
			}
		case matchRegex:
			if r.reLits == nil {
				ix.always = append(ix.always, i)
				continue
			}
			for _, lit := range r.reLits {
				addLit(lit, i)
			}
		default:
			ix.always = append(ix.always, i)
		}
	}
	if len(lits) > 0 {
		ix.lits = prefilter.NewMatcher(lits)
	}
	return ix
}

func appendOnce(list []int32, i int32) []int32 {
	if len(list) > 0 && list[len(list)-1] == i {
		return list
	}
	return append(list, i)
}

// candidates appends to dst, in file order and without repeats, the rules
// that could match in.
func (ix *index) candidates(in *input, dst []int32) []int32 {
	dst = append(dst, ix.always...)
	if in.addressed && len(in.fields) > 0 && len(ix.commands) > 0 {
		first := prefilter.Fold(in.word(0))
		dst = append(dst, ix.commands[first]...)
	}
	if len(ix.exact) > 0 {
		dst = append(dst, ix.exact[in.exact()]...)
	}
	if ix.lits != nil {
		ix.lits.Each(in.folded, func(p int) {
			dst = append(dst, ix.litRules[p]...)
		})
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}
