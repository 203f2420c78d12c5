// Package udiff computes line-oriented differences between two texts and
// renders them as unified diffs, in the format printed by "diff -u" and by
// Go's internal/diff package.
//
// The difference is computed with Myers' O(ND) algorithm in its linear-space
// (divide and conquer, "middle snake") form, so the result is always a
// minimal edit script: the number of deleted plus inserted lines is as small
// as possible. Before running Myers, lines that occur in only one of the two
// inputs are removed from consideration (they can never be part of a common
// subsequence), which keeps mostly-rewritten files cheap. Afterwards the
// change groups are slid into a canonical position, the same way GNU diff
// and git do, so that for example a duplicated line is reported as the
// second copy being inserted.
//
// Lines are split at '\n' only; a '\r' before it is part of the line's
// contents, so CRLF files are diffed byte for byte.
//
// Why not a library (measured in issue 9 on rulebot test's transcripts):
// github.com/aymanbagabas/go-udiff, the maintained one, bounds its search
// and on a 2,000-line transcript with random edits reports 1230-/1197+
// lines where 136-/103+ suffice; hexops/gotextdiff and pmezard/go-difflib
// are archived, get the hunk header of an empty side wrong, and go-difflib
// has no "\ No newline at end of file"; gotextdiff takes 12 s on two
// different 10,000-line files (this package: 7 ms); sergi/go-diff does not
// print unified diffs.
package udiff

import (
	"bytes"
	"strconv"
	"strings"
)

// contextLines is the number of unchanged lines shown around each change.
const contextLines = 3

// noNewline is the marker printed after a line that has no trailing newline.
const noNewline = "\\ No newline at end of file\n"

// Unified returns a unified diff that turns old into new, or nil if old and
// new are byte-for-byte equal.
//
// The output starts with the header lines "--- oldName" and "+++ newName",
// followed by hunks of the form "@@ -l,s +l,s @@" that carry three lines of
// context on each side. Hunks whose changes are separated by at most six
// unchanged lines are merged into one. Removed lines are prefixed with '-',
// added lines with '+', and context lines with ' '. A line that lacks a final
// newline is followed by "\ No newline at end of file". An empty side is
// reported with the range 0,0, as diff does.
func Unified(oldName, newName string, old, new []byte) []byte {
	if bytes.Equal(old, new) {
		return nil
	}
	a := splitLines(old)
	b := splitLines(new)
	ca, cb := diffLines(a, b)
	return format(oldName, newName, a, b, ca, cb)
}

// splitLines splits text after each '\n'. The final element lacks a newline
// if text does not end in one. An empty text has no lines.
func splitLines(text []byte) []string {
	n := bytes.Count(text, []byte{'\n'})
	if len(text) > 0 && text[len(text)-1] != '\n' {
		n++
	}
	lines := make([]string, 0, n)
	s := string(text)
	for len(s) > 0 {
		i := 1 + strings.IndexByte(s, '\n')
		if i == 0 {
			i = len(s)
		}
		lines = append(lines, s[:i])
		s = s[i:]
	}
	return lines
}

// diffLines computes a minimal line diff of a and b. It returns one flag per
// line of each side; a set flag marks a deleted (in a) or inserted (in b)
// line. The unflagged lines of a and b are equal, in order.
func diffLines(a, b []string) (ca, cb []bool) {
	// Intern lines as small integers and count occurrences per side.
	ids := make(map[string]int, len(a)+len(b))
	var countA, countB []int
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
				countA = append(countA, 0)
				countB = append(countB, 0)
			}
			out[i] = id
		}
		return out
	}
	ia := intern(a)
	ib := intern(b)
	for _, id := range ia {
		countA[id]++
	}
	for _, id := range ib {
		countB[id]++
	}

	ca = make([]bool, len(a))
	cb = make([]bool, len(b))

	// A line that does not occur on the other side cannot be part of any
	// common subsequence: it is certainly changed. Drop such lines before
	// running Myers; this does not affect minimality.
	keep := func(xs []int, changed []bool, other []int) (vals, pos []int) {
		for i, id := range xs {
			if other[id] == 0 {
				changed[i] = true
				continue
			}
			vals = append(vals, id)
			pos = append(pos, i)
		}
		return vals, pos
	}
	va, pa := keep(ia, ca, countB)
	vb, pb := keep(ib, cb, countA)

	m := newMyers(va, vb)
	m.compare(0, len(va), 0, len(vb))
	for k, c := range m.ca {
		if c {
			ca[pa[k]] = true
		}
	}
	for k, c := range m.cb {
		if c {
			cb[pb[k]] = true
		}
	}

	compact(ia, ca, cb)
	compact(ib, cb, ca)
	return ca, cb
}

// myers holds the state of the linear-space Myers diff of two int sequences.
type myers struct {
	a, b   []int
	ca, cb []bool // changed flags, the result
	vf, vb []int  // furthest-reaching x per diagonal, forward and backward
	off    int    // index of diagonal 0 in vf and vb
}

func newMyers(a, b []int) *myers {
	n := len(a) + len(b)
	return &myers{
		a:   a,
		b:   b,
		ca:  make([]bool, len(a)),
		cb:  make([]bool, len(b)),
		vf:  make([]int, 2*n+3),
		vb:  make([]int, 2*n+3),
		off: n + 1,
	}
}

// compare computes a minimal diff of a[a0:a1] and b[b0:b1], recording the
// changed lines in m.ca and m.cb.
func (m *myers) compare(a0, a1, b0, b1 int) {
	for {
		for a0 < a1 && b0 < b1 && m.a[a0] == m.b[b0] {
			a0++
			b0++
		}
		for a0 < a1 && b0 < b1 && m.a[a1-1] == m.b[b1-1] {
			a1--
			b1--
		}
		switch {
		case a0 == a1:
			for j := b0; j < b1; j++ {
				m.cb[j] = true
			}
			return
		case b0 == b1:
			for i := a0; i < a1; i++ {
				m.ca[i] = true
			}
			return
		}
		// Both ranges are non-empty and differ at both ends, so the edit
		// distance is at least 2 and split returns a point strictly inside
		// the edit graph: both halves are smaller problems.
		x, y := m.split(a0, a1, b0, b1)
		// Recurse on the smaller half, loop on the other to bound the
		// stack depth.
		if (x-a0)+(y-b0) < (a1-x)+(b1-y) {
			m.compare(a0, x, b0, y)
			a0, b0 = x, y
		} else {
			m.compare(x, a1, y, b1)
			a1, b1 = x, y
		}
	}
}

// split finds the middle snake of an optimal edit path for a[a0:a1] versus
// b[b0:b1] and returns a point (x, y) on such a path: a minimal diff of the
// whole is a minimal diff of a[a0:x], b[b0:y] followed by one of a[x:a1],
// b[y:b1].
//
// Forward paths use coordinates relative to (a0, b0); backward paths use
// coordinates relative to (a1, b1) measured towards the start, so backward
// diagonal k corresponds to forward diagonal delta-k.
func (m *myers) split(a0, a1, b0, b1 int) (int, int) {
	n, mm := a1-a0, b1-b0
	delta := n - mm
	odd := delta&1 != 0
	a, b := m.a, m.b
	vf, vb, off := m.vf, m.vb, m.off
	vf[off+1] = 0
	vb[off+1] = 0
	maxD := (n + mm + 1) / 2
	for d := 0; d <= maxD; d++ {
		// Forward d-paths.
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && vf[off+k-1] < vf[off+k+1]) {
				x = vf[off+k+1] // move down: insertion
			} else {
				x = vf[off+k-1] + 1 // move right: deletion
			}
			y := x - k
			for x < n && y < mm && a[a0+x] == b[b0+y] {
				x++
				y++
			}
			vf[off+k] = x
			if odd {
				if kr := delta - k; kr >= -(d-1) && kr <= d-1 && x+vb[off+kr] >= n {
					return a0 + x, b0 + y
				}
			}
		}
		// Backward d-paths.
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && vb[off+k-1] < vb[off+k+1]) {
				x = vb[off+k+1]
			} else {
				x = vb[off+k-1] + 1
			}
			y := x - k
			for x < n && y < mm && a[a1-1-x] == b[b1-1-y] {
				x++
				y++
			}
			vb[off+k] = x
			if !odd {
				if kf := delta - k; kf >= -d && kf <= d && x+vf[off+kf] >= n {
					return a1 - x, b1 - y
				}
			}
		}
	}
	panic("udiff: internal error: no middle snake found")
}

// group is a maximal run [start, end) of changed lines; it may be empty.
type group struct{ start, end int }

// compact slides the change groups of one side (ids, chg) into a canonical
// position without changing the number of edits, keeping the groups aligned
// with the other side's flags (ochg). It follows git's xdl_change_compact
// (without its indentation heuristic), which in turn follows GNU diff's
// shift_boundaries: each group is merged with neighbours where possible,
// then moved as far down as it will go, unless it can be aligned with a
// change on the other side.
//
// Sliding a group [s, e) down by one is valid when ids[s] == ids[e]: the
// sequence of unchanged lines keeps the same contents, so the unchanged
// lines of both sides still match up in order.
func compact(ids []int, chg, ochg []bool) {
	n := len(chg)
	changed := func(c []bool, i int) bool { return i >= 0 && i < len(c) && c[i] }
	first := func(c []bool) group {
		g := group{0, 0}
		for changed(c, g.end) {
			g.end++
		}
		return g
	}
	next := func(c []bool, g *group) bool {
		if g.end >= len(c) {
			return false
		}
		g.start = g.end + 1
		g.end = g.start
		for changed(c, g.end) {
			g.end++
		}
		return true
	}
	prev := func(c []bool, g *group) bool {
		if g.start == 0 {
			return false
		}
		g.end = g.start - 1
		g.start = g.end
		for changed(c, g.start-1) {
			g.start--
		}
		return true
	}
	slideDown := func(g *group) bool {
		if g.end < n && ids[g.start] == ids[g.end] {
			chg[g.start] = false
			g.start++
			chg[g.end] = true
			g.end++
			for changed(chg, g.end) {
				g.end++
			}
			return true
		}
		return false
	}
	slideUp := func(g *group) bool {
		if g.start > 0 && ids[g.start-1] == ids[g.end-1] {
			g.start--
			chg[g.start] = true
			g.end--
			chg[g.end] = false
			for changed(chg, g.start-1) {
				g.start--
			}
			return true
		}
		return false
	}
	bug := func() { panic("udiff: internal error: change groups out of step") }

	g, og := first(chg), first(ochg)
	for {
		if g.end > g.start {
			var earliestEnd int
			endMatchingOther := -1
			for {
				size := g.end - g.start
				endMatchingOther = -1
				for slideUp(&g) {
					if !prev(ochg, &og) {
						bug()
					}
				}
				earliestEnd = g.end
				if og.end > og.start {
					endMatchingOther = g.end
				}
				for slideDown(&g) {
					if !next(ochg, &og) {
						bug()
					}
					if og.end > og.start {
						endMatchingOther = g.end
					}
				}
				if size == g.end-g.start {
					break
				}
			}
			if g.end != earliestEnd && endMatchingOther != -1 {
				// Move back up to line up with a change on the other side.
				for og.end == og.start {
					if !slideUp(&g) || !prev(ochg, &og) {
						bug()
					}
				}
			}
		}
		if !next(chg, &g) {
			break
		}
		if !next(ochg, &og) {
			bug()
		}
	}
}

// change is a maximal region in which a[a0:a1] is replaced by b[b0:b1].
type change struct{ a0, a1, b0, b1 int }

// format renders the diff described by the changed flags as a unified diff.
func format(oldName, newName string, a, b []string, ca, cb []bool) []byte {
	var changes []change
	for i, j := 0, 0; i < len(a) || j < len(b); {
		if (i < len(a) && ca[i]) || (j < len(b) && cb[j]) {
			c := change{a0: i, b0: j}
			for i < len(a) && ca[i] {
				i++
			}
			for j < len(b) && cb[j] {
				j++
			}
			c.a1, c.b1 = i, j
			changes = append(changes, c)
			continue
		}
		i++
		j++
	}
	if len(changes) == 0 {
		return nil // only reachable for equal inputs
	}

	var out bytes.Buffer
	out.WriteString("--- " + oldName + "\n")
	out.WriteString("+++ " + newName + "\n")
	var hdr []byte
	for len(changes) > 0 {
		// Gather the changes that share one hunk: those separated by at
		// most 2*contextLines unchanged lines.
		k := 1
		for k < len(changes) && changes[k].a0-changes[k-1].a1 <= 2*contextLines {
			k++
		}
		hunk := changes[:k]
		changes = changes[k:]
		first, last := hunk[0], hunk[len(hunk)-1]

		pre := min(contextLines, first.a0)
		post := min(contextLines, len(a)-last.a1)
		sa, ea := first.a0-pre, last.a1+post
		sb, eb := first.b0-pre, last.b1+post

		hdr = append(hdr[:0], "@@ -"...)
		hdr = appendRange(hdr, sa, ea-sa)
		hdr = append(hdr, " +"...)
		hdr = appendRange(hdr, sb, eb-sb)
		hdr = append(hdr, " @@\n"...)
		out.Write(hdr)

		pos := sa
		for _, c := range hunk {
			writeLines(&out, ' ', a[pos:c.a0])
			writeLines(&out, '-', a[c.a0:c.a1])
			writeLines(&out, '+', b[c.b0:c.b1])
			pos = c.a1
		}
		writeLines(&out, ' ', a[pos:ea])
	}
	return out.Bytes()
}

// appendRange appends a hunk range "l,s" for the zero-based start line and
// line count. Like diff, an empty range names the line before it (0 at the
// start of the file).
func appendRange(dst []byte, start, count int) []byte {
	if count > 0 {
		start++
	}
	dst = strconv.AppendInt(dst, int64(start), 10)
	dst = append(dst, ',')
	return strconv.AppendInt(dst, int64(count), 10)
}

func writeLines(out *bytes.Buffer, prefix byte, lines []string) {
	for _, l := range lines {
		out.WriteByte(prefix)
		out.WriteString(l)
		if len(l) == 0 || l[len(l)-1] != '\n' {
			out.WriteByte('\n')
			out.WriteString(noNewline)
		}
	}
}
