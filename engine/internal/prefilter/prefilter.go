// Package prefilter decides cheaply which regexp rules can possibly match a
// chat message, so that the rules engine only runs the few regexps that
// might succeed instead of all of them.
//
// The scheme has three parts:
//
//   - [Fold] maps text to a canonical case-folded form that agrees with the
//     case-insensitive (?i) semantics of Go's regexp package: two runes that
//     (?i) treats as equal fold to the same rune.
//   - [Required] analyses a parsed regexp and returns a small set of folded
//     literals such that every string the regexp matches contains, after
//     folding, at least one of them. A rule without such a set is always a
//     candidate.
//   - [Matcher] is an Aho–Corasick automaton over all rules' required
//     literals. One linear scan of the folded message reports every literal
//     it contains, whatever the number of rules.
//
// Typical use at rule-load time:
//
//	re, _ := syntax.Parse(pattern, syntax.Perl)
//	lits := prefilter.Required(re) // nil: the rule is always a candidate
//	// collect lits of all rules, remember literal index -> rule index
//	m := prefilter.NewMatcher(allLits)
//
// and per message:
//
//	buf = prefilter.AppendFold(buf[:0], text)
//	m.Each(string(buf), func(lit int) { markCandidate(ruleOf[lit]) })
//	// run, in file order, the always-candidate rules and the marked ones
//
// The prefilter is conservative: it may report a rule whose regexp then does
// not match (false positive), but it never omits a rule whose regexp matches
// (no false negatives), provided the text given to the Matcher is the Fold of
// the text given to the regexp.
package prefilter
