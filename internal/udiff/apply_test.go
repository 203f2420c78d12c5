package udiff

import (
	"fmt"
	"strings"
)

// applyUnified applies a patch produced by Unified to old and returns the
// result. Besides applying the patch it checks that the patch is well
// formed: exact headers, hunk ranges that agree with the hunk bodies, hunks
// in order and separated by unchanged lines, three lines of context around
// each hunk (less only at the ends of the file), at most six context lines
// between two changes in a hunk, and deletions before insertions within
// each change.
func applyUnified(oldName, newName string, old, patch []byte) ([]byte, error) {
	if patch == nil {
		return old, nil
	}
	text := string(patch)
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("patch does not end in a newline")
	}
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1] // drop "" after the final newline
	if len(lines) < 3 {
		return nil, fmt.Errorf("patch too short: %q", text)
	}
	if lines[0] != "--- "+oldName+"\n" || lines[1] != "+++ "+newName+"\n" {
		return nil, fmt.Errorf("bad header %q %q", lines[0], lines[1])
	}
	oldLines := strings.SplitAfter(string(old), "\n")
	if oldLines[len(oldLines)-1] == "" {
		oldLines = oldLines[:len(oldLines)-1]
	}

	var out []string
	pos := 0 // next unconsumed line of old
	i := 2
	for nh := 0; i < len(lines); nh++ {
		var la, sa, lb, sb int
		if _, err := fmt.Sscanf(lines[i], "@@ -%d,%d +%d,%d @@\n", &la, &sa, &lb, &sb); err != nil {
			return nil, fmt.Errorf("line %d: bad hunk header %q: %v", i+1, lines[i], err)
		}
		if want := fmt.Sprintf("@@ -%d,%d +%d,%d @@\n", la, sa, lb, sb); lines[i] != want {
			return nil, fmt.Errorf("line %d: hunk header %q not in canonical form", i+1, lines[i])
		}
		startA, startB := la-1, lb-1
		if sa == 0 {
			startA = la
		}
		if sb == 0 {
			startB = lb
		}
		if startA < pos || (nh > 0 && startA == pos) {
			return nil, fmt.Errorf("line %d: hunk starts at old line %d, overlapping or touching the previous hunk (ends %d)", i+1, startA, pos)
		}
		if startA > len(oldLines) {
			return nil, fmt.Errorf("line %d: hunk starts beyond end of old", i+1)
		}
		out = append(out, oldLines[pos:startA]...)
		pos = startA
		if len(out) != startB {
			return nil, fmt.Errorf("line %d: hunk says new starts at %d, but applying gives %d", i+1, startB, len(out))
		}
		i++

		var kinds []byte
		na, nb := 0, 0
		for i < len(lines) && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			i++
			if l == noNewline || len(l) < 2 {
				return nil, fmt.Errorf("line %d: unexpected line %q", i, l)
			}
			content := l[1:]
			if i < len(lines) && lines[i] == noNewline {
				content = strings.TrimSuffix(content, "\n")
				i++
			}
			kinds = append(kinds, l[0])
			switch l[0] {
			case ' ', '-':
				if pos >= len(oldLines) || oldLines[pos] != content {
					return nil, fmt.Errorf("line %d: %q does not match old line %d", i, l, pos+1)
				}
				if l[0] == ' ' {
					out = append(out, content)
					nb++
				}
				pos++
				na++
			case '+':
				out = append(out, content)
				nb++
			default:
				return nil, fmt.Errorf("line %d: bad line prefix in %q", i, l)
			}
		}
		if na != sa || nb != sb {
			return nil, fmt.Errorf("hunk %d: header counts %d,%d but body has %d,%d", nh+1, sa, sb, na, nb)
		}
		if err := checkHunkShape(string(kinds), startA == 0, pos == len(oldLines)); err != nil {
			return nil, fmt.Errorf("hunk %d: %v", nh+1, err)
		}
	}
	out = append(out, oldLines[pos:]...)
	return []byte(strings.Join(out, "")), nil
}

// checkHunkShape checks the sequence of line kinds (' ', '-', '+') of a hunk.
func checkHunkShape(kinds string, atStart, atEnd bool) error {
	trimmed := strings.Trim(kinds, " ")
	if trimmed == "" {
		return fmt.Errorf("hunk has no changes")
	}
	lead := strings.Index(kinds, trimmed)
	trail := len(kinds) - lead - len(trimmed)
	if lead > contextLines || (lead < contextLines && !atStart) {
		return fmt.Errorf("%d leading context lines", lead)
	}
	if trail > contextLines || (trail < contextLines && !atEnd) {
		return fmt.Errorf("%d trailing context lines", trail)
	}
	for _, run := range strings.FieldsFunc(trimmed, func(r rune) bool { return r != ' ' }) {
		if len(run) > 2*contextLines {
			return fmt.Errorf("%d context lines inside a hunk", len(run))
		}
	}
	if strings.Contains(trimmed, "+-") {
		return fmt.Errorf("deletion follows insertion")
	}
	return nil
}
