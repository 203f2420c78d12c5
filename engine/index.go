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

	// A case-sensitive regexp named by a folded literal is tried only when
	// one of its literals occurs in the text exactly as written. Rules that
	// share a set share its check, so 1,000 regexps starting "Deploy " cost
	// one search of a message that says only "deploy".
	caseSets [][]string // case-sensitive literal sets
	ruleCase []int32    // rule → its set in caseSets, or -1
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
	ix.ruleCase = make([]int32, len(rules))
	casePos := map[string]int32{}
	for n, r := range rules {
		i := int32(n)
		ix.ruleCase[i] = -1
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
			if r.reCase != nil {
				key := strings.Join(r.reCase, "\x00")
				c, ok := casePos[key]
				if !ok {
					c = int32(len(ix.caseSets))
					casePos[key] = c
					ix.caseSets = append(ix.caseSets, r.reCase)
				}
				ix.ruleCase[i] = c
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
// that could match in. Its work is linear in the message's length plus the
// number of rules it names: the matcher reports each literal once however
// often it occurs, so a rule is appended at most once per literal it has.
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
		ix.lits.Each(in.fold(), func(p int) {
			dst = append(dst, ix.litRules[p]...)
		})
	}
	slices.Sort(dst)
	dst = slices.Compact(dst)
	if len(ix.caseSets) == 0 {
		return dst
	}
	// Drop case-sensitive regexps none of whose literals occur as written,
	// checking each set at most once.
	var stack [64]caseSeen
	var seen []caseSeen
	out := dst[:0]
	for _, i := range dst {
		if c := ix.ruleCase[i]; c >= 0 {
			if seen == nil {
				if len(ix.caseSets) <= len(stack) {
					seen = stack[:len(ix.caseSets)]
				} else {
					seen = make([]caseSeen, len(ix.caseSets))
				}
			}
			if seen[c] == caseUnknown {
				seen[c] = caseAbsent
				for _, lit := range ix.caseSets[c] {
					if strings.Contains(in.text, lit) {
						seen[c] = casePresent
						break
					}
				}
			}
			if seen[c] == caseAbsent {
				continue
			}
		}
		out = append(out, i)
	}
	return out
}

// caseSeen is what candidates knows of a case-sensitive literal set.
type caseSeen uint8

const (
	caseUnknown caseSeen = iota
	casePresent
	caseAbsent
)
