package prefilter

import (
	"slices"
	"strings"
	"sync"
)

// defaultDenseEntries is the budget, in transitions, for the dense
// (full-DFA) rows given to the states closest to the root: 64Ki entries of 4
// bytes, i.e. 256 KiB at most.
const defaultDenseEntries = 1 << 16

// Matcher is an Aho–Corasick automaton that finds which of a fixed set of
// patterns occur in a text. It works on bytes, so patterns and text may be any
// strings; for the prefilter both are expected to be folded (see [Fold]).
//
// A Matcher is immutable once built and safe for concurrent use.
//
// Representation: bytes are first mapped to classes (bytes that occur in no
// pattern share class 0). States are numbered in breadth-first order, so the
// children of a state are consecutive and the trie needs one offset and one
// label per state. The states closest to the root, which the scan visits
// most, get dense rows of complete DFA transitions over the classes; the
// others keep only their sorted trie edges plus a failure link.
type Matcher struct {
	class      [256]uint8 // byte → class
	zeroUnused bool       // class 0 means "byte occurs in no pattern"
	nc         int        // number of classes
	nDense     int32      // states [0, nDense) have dense rows
	dense      []int32    // nDense*nc complete transitions
	kids       []int32    // children of s are states kids[s] to kids[s+1]-1
	label      []uint8    // label[t] is the class of the edge into t
	fail       []int32    // failure link
	report     []int32    // s itself if it has outputs, else report[fail[s]]; -1 if none
	outOff     []int32    // outputs of s are outPat[outOff[s]:outOff[s+1]]
	outPat     []int32
	empty      []int32 // indices of empty patterns
	n          int     // number of patterns
	nOut       int     // number of states with outputs

	seen sync.Pool // of *seenSet, scratch for Each
}

// seenSet marks the states whose outputs one call of Each has reported. Its
// bits are all clear between calls: only the bits listed in set are ever
// set, and they are cleared before the set goes back to the pool.
type seenSet struct {
	bits []uint64 // one bit per state
	set  []int32  // the states whose bit is set
}

// NewMatcher builds a Matcher for patterns. Pattern indices reported by
// [Matcher.Each] are indices into this slice. Duplicates are allowed (each
// copy is reported), and so are empty strings, which match every text. The
// slice is not retained.
func NewMatcher(patterns []string) *Matcher {
	return newMatcher(patterns, defaultDenseEntries)
}

func newMatcher(patterns []string, denseEntries int) *Matcher {
	m := &Matcher{n: len(patterns)}

	// Byte classes, monotone in the byte value so that sorted pattern order
	// gives sorted edge labels.
	var used [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	nUsed := 0
	for _, u := range used {
		if u {
			nUsed++
		}
	}
	if nUsed == 256 {
		for b := range m.class {
			m.class[b] = uint8(b)
		}
		m.nc = 256
	} else {
		c := 1
		for b, u := range used {
			if u {
				m.class[b] = uint8(c)
				c++
			}
		}
		m.nc = c
		m.zeroUnused = true
	}

	// Sort the non-empty patterns; then a trie can be built in one pass,
	// sharing with the previous pattern only.
	idx := make([]int32, 0, len(patterns))
	for i, p := range patterns {
		if p == "" {
			m.empty = append(m.empty, int32(i))
		} else {
			idx = append(idx, int32(i))
		}
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := strings.Compare(patterns[a], patterns[b]); c != 0 {
			return c
		}
		return int(a - b)
	})
	size := 1
	for _, i := range idx {
		size += len(patterns[i])
	}
	parent := make([]int32, 1, size) // trie in creation (DFS) order
	lab := make([]uint8, 1, size)
	parent[0] = -1
	term := make([]int32, len(idx)) // terminal state of idx[j]
	path := []int32{0}              // path[d]: state of prev[:d]
	prev := ""
	for j, pi := range idx {
		p := patterns[pi]
		l := 0
		for l < len(p) && l < len(prev) && p[l] == prev[l] {
			l++
		}
		path = path[:l+1]
		for d := l; d < len(p); d++ {
			id := int32(len(parent))
			parent = append(parent, path[d])
			lab = append(lab, m.class[p[d]])
			path = append(path, id)
		}
		term[j] = path[len(p)]
		prev = p
	}
	n := len(parent)

	// Children lists in creation order, which is increasing label order.
	cstart := make([]int32, n+1)
	for v := 1; v < n; v++ {
		cstart[parent[v]+1]++
	}
	for i := 1; i <= n; i++ {
		cstart[i] += cstart[i-1]
	}
	clist := make([]int32, max(n-1, 0))
	pos := slices.Clone(cstart[:n])
	for v := 1; v < n; v++ {
		u := parent[v]
		clist[pos[u]] = int32(v)
		pos[u]++
	}

	// Breadth-first renumbering: order[new] = old.
	newID := make([]int32, n)
	order := make([]int32, 1, n)
	m.kids = make([]int32, n+1)
	for h := 0; h < n; h++ {
		u := order[h]
		m.kids[h] = int32(len(order))
		for _, v := range clist[cstart[u]:cstart[u+1]] {
			newID[v] = int32(len(order))
			order = append(order, v)
		}
	}
	m.kids[n] = int32(n)
	m.label = make([]uint8, n)
	for h, old := range order {
		m.label[h] = lab[old]
	}

	// Own outputs per state.
	m.outOff = make([]int32, n+1)
	for _, t := range term {
		m.outOff[newID[t]+1]++
	}
	for i := 1; i <= n; i++ {
		m.outOff[i] += m.outOff[i-1]
	}
	m.outPat = make([]int32, len(term))
	fill := slices.Clone(m.outOff[:n])
	for j, t := range term {
		s := newID[t]
		m.outPat[fill[s]] = idx[j]
		fill[s]++
	}

	// Failure links, report links and dense rows, in breadth-first order:
	// fail[s] < s, so everything it depends on is already computed.
	m.nDense = int32(min(max(denseEntries/m.nc, 1), n))
	m.dense = make([]int32, int(m.nDense)*m.nc)
	m.fail = make([]int32, n)
	m.report = make([]int32, n)
	for u := int32(0); u < int32(n); u++ {
		if u < m.nDense {
			row := m.dense[int(u)*m.nc : int(u+1)*m.nc]
			if u != 0 {
				f := int(m.fail[u])
				copy(row, m.dense[f*m.nc:(f+1)*m.nc])
			}
			for k := m.kids[u]; k < m.kids[u+1]; k++ {
				row[m.label[k]] = k
			}
		}
		switch {
		case u == 0:
			m.report[u] = -1
		case m.outOff[u] < m.outOff[u+1]:
			m.report[u] = u
		default:
			m.report[u] = m.report[m.fail[u]]
		}
		for k := m.kids[u]; k < m.kids[u+1]; k++ {
			if u != 0 {
				m.fail[k] = m.step(m.fail[u], m.label[k])
			}
		}
	}
	for u := range n {
		if m.outOff[u] < m.outOff[u+1] {
			m.nOut++
		}
	}
	words := (n + 63) / 64
	m.seen.New = func() any { return &seenSet{bits: make([]uint64, words)} }
	return m
}

// step returns the DFA transition from state s on class c.
func (m *Matcher) step(s int32, c uint8) int32 {
	for {
		if s < m.nDense {
			return m.dense[int(s)*m.nc+int(c)]
		}
		for k, end := m.kids[s], m.kids[s+1]; k < end; k++ {
			if l := m.label[k]; l >= c {
				if l == c {
					return k
				}
				break
			}
		}
		s = m.fail[s]
	}
}

// Each calls fn(i) once for every pattern i that occurs in text, in the
// order of the end of its first occurrence; copies of a duplicated pattern
// are each reported. Empty patterns are reported first. The work is linear in
// len(text) plus the number of patterns reported, however many times and
// however overlapped they occur ("a", "aa", "aaa"… in "aaaa…"), and the scan
// stops once every pattern is reported. Each does
// not allocate (once warm, and provided fn does not escape).
func (m *Matcher) Each(text string, fn func(pattern int)) {
	for _, p := range m.empty {
		fn(int(p))
	}
	var (
		s      int32
		nDense = m.nDense
		dense  = m.dense
		nc     = m.nc
		kids   = m.kids
		label  = m.label
		fail   = m.fail
		report = m.report
		class  = &m.class
		unused = m.zeroUnused
		seen   *seenSet
	)
	for i := 0; i < len(text); i++ {
		c := class[text[i]]
		if c == 0 && unused {
			s = 0 // the byte occurs in no pattern
			continue
		}
	walk:
		for {
			if s < nDense {
				s = dense[int(s)*nc+int(c)]
				break
			}
			for k, end := kids[s], kids[s+1]; k < end; k++ {
				if l := label[k]; l >= c {
					if l == c {
						s = k
						break walk
					}
					break
				}
			}
			s = fail[s]
		}
		if r := report[s]; r >= 0 {
			if seen == nil {
				seen = m.seen.Get().(*seenSet)
			}
			m.emit(r, seen, fn)
			if len(seen.set) == m.nOut {
				break // every pattern is reported: the rest cannot add any
			}
		}
	}
	if seen != nil {
		for _, r := range seen.set {
			seen.bits[r/64] = 0
		}
		seen.set = seen.set[:0]
		m.seen.Put(seen)
	}
}

// emit reports the outputs of state r and of the states reachable from it by
// report links, skipping those already reported. The states after a
// reported one on the chain were reported with it, so the walk stops there.
func (m *Matcher) emit(r int32, seen *seenSet, fn func(pattern int)) {
	for r >= 0 {
		w, bit := r/64, uint64(1)<<(r%64)
		if seen.bits[w]&bit != 0 {
			return
		}
		seen.bits[w] |= bit
		seen.set = append(seen.set, r)
		for _, p := range m.outPat[m.outOff[r]:m.outOff[r+1]] {
			fn(int(p))
		}
		r = m.report[m.fail[r]]
	}
}

// Len returns the number of patterns the Matcher was built with.
func (m *Matcher) Len() int { return m.n }
