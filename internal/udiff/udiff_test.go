package udiff

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// seq returns the lines "1\n" ... "n\n", with line i replaced by repl[i].
func seq(n int, repl map[int]string) string {
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		if r, ok := repl[i]; ok {
			sb.WriteString(r)
			continue
		}
		fmt.Fprintf(&sb, "%d\n", i)
	}
	return sb.String()
}

// seqLines returns the lines "i\n" for i in [from, to].
func seqLines(prefix byte, from, to int) string {
	var sb strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&sb, "%c%d\n", prefix, i)
	}
	return sb.String()
}

const nnl = noNewline

var goldenTests = []struct {
	name     string
	old, new string
	want     string // hunks only, without the ---/+++ header; "" means nil
}{
	{
		name: "identical",
		old:  "a\nb\nc\n",
		new:  "a\nb\nc\n",
	},
	{
		name: "both empty",
	},
	{
		name: "insert at start",
		old:  "a\nb\nc\nd\ne\n",
		new:  "x\na\nb\nc\nd\ne\n",
		want: "@@ -1,3 +1,4 @@\n+x\n a\n b\n c\n",
	},
	{
		name: "insert in middle",
		old:  "a\nb\nc\nd\ne\nf\ng\nh\n",
		new:  "a\nb\nc\nd\nX\ne\nf\ng\nh\n",
		want: "@@ -2,6 +2,7 @@\n b\n c\n d\n+X\n e\n f\n g\n",
	},
	{
		name: "insert at end",
		old:  "a\nb\nc\nd\n",
		new:  "a\nb\nc\nd\ne\nf\n",
		want: "@@ -2,3 +2,5 @@\n b\n c\n d\n+e\n+f\n",
	},
	{
		name: "delete",
		old:  "a\nb\nc\nd\ne\n",
		new:  "a\nb\nd\ne\n",
		want: "@@ -1,5 +1,4 @@\n a\n b\n-c\n d\n e\n",
	},
	{
		name: "delete first line",
		old:  seq(10, nil),
		new:  seq(10, map[int]string{1: ""}),
		want: "@@ -1,4 +1,3 @@\n-1\n 2\n 3\n 4\n",
	},
	{
		name: "replace",
		old:  "a\nb\nc\n",
		new:  "a\nB\nc\n",
		want: "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
	},
	{
		name: "replace block with unequal block",
		old:  seq(12, nil),
		new:  seq(12, map[int]string{5: "five\n", 6: "six\nsix and a half\n", 7: ""}),
		want: "@@ -2,9 +2,9 @@\n 2\n 3\n 4\n-5\n-6\n-7\n+five\n+six\n+six and a half\n 8\n 9\n 10\n",
	},
	{
		name: "single line replaced",
		old:  "x\n",
		new:  "y\n",
		want: "@@ -1,1 +1,1 @@\n-x\n+y\n",
	},
	{
		name: "no newline at end of old",
		old:  "a\nb",
		new:  "a\nb\n",
		want: "@@ -1,2 +1,2 @@\n a\n-b\n" + nnl + "+b\n",
	},
	{
		name: "no newline at end of new",
		old:  "a\nb\n",
		new:  "a\nb",
		want: "@@ -1,2 +1,2 @@\n a\n-b\n+b\n" + nnl,
	},
	{
		name: "no newline at end of either, last line changed",
		old:  "a\nb",
		new:  "a\nc",
		want: "@@ -1,2 +1,2 @@\n a\n-b\n" + nnl + "+c\n" + nnl,
	},
	{
		name: "no newline at end of either, last line is context",
		old:  "a\nb\nc",
		new:  "a\nB\nc",
		want: "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n" + nnl,
	},
	{
		name: "no newline, last line far from change",
		old:  "a\nb\nc\nd\ne\nf",
		new:  "A\nb\nc\nd\ne\nf",
		want: "@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n",
	},
	{
		name: "append after line without newline",
		old:  "a\nb",
		new:  "a\nb\nc\n",
		want: "@@ -1,2 +1,3 @@\n a\n-b\n" + nnl + "+b\n+c\n",
	},
	{
		name: "empty old",
		old:  "",
		new:  "a\nb\n",
		want: "@@ -0,0 +1,2 @@\n+a\n+b\n",
	},
	{
		name: "empty new",
		old:  "a\nb\n",
		new:  "",
		want: "@@ -1,2 +0,0 @@\n-a\n-b\n",
	},
	{
		name: "empty old, new without newline",
		old:  "",
		new:  "a",
		want: "@@ -0,0 +1,1 @@\n+a\n" + nnl,
	},
	{
		name: "empty new, old without newline",
		old:  "a\nb",
		new:  "",
		want: "@@ -1,2 +0,0 @@\n-a\n-b\n" + nnl,
	},
	{
		name: "only a newline",
		old:  "",
		new:  "\n",
		want: "@@ -0,0 +1,1 @@\n+\n",
	},
	{
		name: "blank line changed to missing newline",
		old:  "a\n\n",
		new:  "a\n",
		want: "@@ -1,2 +1,1 @@\n a\n-\n",
	},
	{
		name: "CRLF is ordinary bytes",
		old:  "a\r\nb\r\nc\r\n",
		new:  "a\r\nb\nc\r\n",
		want: "@@ -1,3 +1,3 @@\n a\r\n-b\r\n+b\n c\r\n",
	},
	{
		name: "lone CR is not a line break",
		old:  "a\rb\nc\n",
		new:  "a\rB\nc\n",
		want: "@@ -1,2 +1,2 @@\n-a\rb\n+a\rB\n c\n",
	},
	{
		name: "two hunks separated by 7 equal lines",
		old:  seq(20, nil),
		new:  seq(20, map[int]string{4: "X\n", 12: "Y\n"}),
		want: "@@ -1,7 +1,7 @@\n 1\n 2\n 3\n-4\n+X\n 5\n 6\n 7\n" +
			"@@ -9,7 +9,7 @@\n 9\n 10\n 11\n-12\n+Y\n 13\n 14\n 15\n",
	},
	{
		name: "merged when separated by 6 equal lines",
		old:  seq(20, nil),
		new:  seq(20, map[int]string{4: "X\n", 11: "Y\n"}),
		want: "@@ -1,14 +1,14 @@\n 1\n 2\n 3\n-4\n+X\n 5\n 6\n 7\n 8\n 9\n 10\n-11\n+Y\n 12\n 13\n 14\n",
	},
	{
		name: "three hunks, line numbers shift",
		old:  seq(40, nil),
		new:  seq(40, map[int]string{1: "", 20: "20\n20b\n20c\n", 40: "Z\n"}),
		want: "@@ -1,4 +1,3 @@\n-1\n 2\n 3\n 4\n" +
			"@@ -18,6 +17,8 @@\n 18\n 19\n 20\n+20b\n+20c\n 21\n 22\n 23\n" +
			"@@ -37,4 +38,4 @@\n 37\n 38\n 39\n-40\n+Z\n",
	},
	{
		name: "duplicate line inserted: second copy is new",
		old:  "a\nb\nc\n",
		new:  "a\nb\nb\nc\n",
		want: "@@ -1,3 +1,4 @@\n a\n b\n+b\n c\n",
	},
	{
		name: "block of repeated lines deleted",
		old:  "{\n}\n{\n}\n{\n}\n",
		new:  "{\n}\n{\n}\n",
		want: "@@ -2,5 +2,3 @@\n }\n {\n }\n-{\n-}\n",
	},
	{
		name: "nothing in common",
		old:  "a\nb\nc\n",
		new:  "d\ne\n",
		want: "@@ -1,3 +1,2 @@\n-a\n-b\n-c\n+d\n+e\n",
	},
	{
		name: "moved line",
		old:  seqLines('l', 1, 5),
		new:  "l2\nl3\nl4\nl1\nl5\n",
		want: "@@ -1,5 +1,5 @@\n-l1\n l2\n l3\n l4\n+l1\n l5\n",
	},
}

func TestUnifiedGolden(t *testing.T) {
	for _, tt := range goldenTests {
		t.Run(tt.name, func(t *testing.T) {
			got := Unified("a/old", "b/new", []byte(tt.old), []byte(tt.new))
			if tt.want == "" {
				if got != nil {
					t.Fatalf("Unified = %q, want nil", got)
				}
				return
			}
			want := "--- a/old\n+++ b/new\n" + tt.want
			if string(got) != want {
				t.Fatalf("Unified mismatch\n got:\n%s\nwant:\n%s\n got %q\nwant %q", got, want, got, want)
			}
			if res, err := applyUnified("a/old", "b/new", []byte(tt.old), got); err != nil {
				t.Fatalf("apply: %v", err)
			} else if string(res) != tt.new {
				t.Fatalf("apply gave %q, want %q", res, tt.new)
			}
		})
	}
}

// diffTool returns the path of the diff program, skipping the test if there
// is none.
func diffTool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("diff not installed")
	}
	return path
}

// runDiff runs "diff -u [flags] old new" on the given contents and returns
// its output from the first "@@" line on, with hunk ranges normalised to the
// "l,s" form (diff omits ",1").
func runDiff(t *testing.T, tool, dir string, old, new []byte, flags ...string) string {
	t.Helper()
	oldPath := filepath.Join(dir, "old")
	newPath := filepath.Join(dir, "new")
	if err := os.WriteFile(oldPath, old, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, new, 0o666); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-u"}, flags...)
	args = append(args, oldPath, newPath)
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ee) && ee.ExitCode() == 1:
	default:
		t.Fatalf("diff: %v", err)
	}
	return normaliseHunkHeaders(fromFirstHunk(string(out)))
}

func fromFirstHunk(s string) string {
	if i := strings.Index(s, "\n@@ "); i >= 0 {
		return s[i+1:]
	}
	if strings.HasPrefix(s, "@@ ") {
		return s
	}
	return ""
}

var hunkHeader = regexp.MustCompile(`(?m)^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@`)

func normaliseHunkHeaders(s string) string {
	return hunkHeader.ReplaceAllStringFunc(s, func(h string) string {
		m := hunkHeader.FindStringSubmatch(h)
		if m[2] == "" {
			m[2] = ",1"
		}
		if m[4] == "" {
			m[4] = ",1"
		}
		return "@@ -" + m[1] + m[2] + " +" + m[3] + m[4] + " @@"
	})
}

// TestGoldenAgainstDiff checks the golden cases, and Unified itself, against
// the system's diff program.
func TestGoldenAgainstDiff(t *testing.T) {
	tool := diffTool(t)
	dir := t.TempDir()
	for _, tt := range goldenTests {
		t.Run(tt.name, func(t *testing.T) {
			want := runDiff(t, tool, dir, []byte(tt.old), []byte(tt.new))
			if want != tt.want {
				t.Errorf("golden case disagrees with diff -u\ngolden:\n%s\ndiff:\n%s", tt.want, want)
			}
			got := fromFirstHunk(string(Unified("old", "new", []byte(tt.old), []byte(tt.new))))
			if got != want {
				t.Errorf("Unified disagrees with diff -u\n got:\n%s\ndiff:\n%s", got, want)
			}
		})
	}
}

// countEdits returns the number of '-' and '+' lines in a unified diff, with
// or without the "---"/"+++" header.
func countEdits(patch string) (del, ins int) {
	lines := strings.SplitAfter(patch, "\n")
	if len(lines) >= 2 && strings.HasPrefix(lines[0], "--- ") && strings.HasPrefix(lines[1], "+++ ") {
		lines = lines[2:]
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "-"):
			del++
		case strings.HasPrefix(l, "+"):
			ins++
		}
	}
	return del, ins
}

// randText returns up to maxLines random lines from a small alphabet, so
// that lines repeat a lot, sometimes without a final newline or with CRLF.
func randText(r *rand.Rand, maxLines int) string {
	alphabet := []string{"a", "b", "c", "d", "{", "}", "", "a\r"}
	n := r.Intn(maxLines + 1)
	k := 1 + r.Intn(len(alphabet))
	var sb strings.Builder
	for range n {
		sb.WriteString(alphabet[r.Intn(k)])
		sb.WriteByte('\n')
	}
	s := sb.String()
	if len(s) > 0 && r.Intn(4) == 0 {
		s = s[:len(s)-1]
	}
	return s
}

// mutate returns s with a few random line edits.
func mutate(r *rand.Rand, s string) string {
	lines := strings.SplitAfter(s, "\n")
	for range r.Intn(6) {
		i := r.Intn(len(lines) + 1)
		switch r.Intn(3) {
		case 0:
			lines = append(lines[:i], append([]string{randText(r, 3)}, lines[i:]...)...)
		case 1:
			if i < len(lines) {
				lines = append(lines[:i], lines[i+1:]...)
			}
		case 2:
			if i < len(lines) {
				lines[i] = "x" + lines[i]
			}
		}
	}
	return strings.Join(lines, "")
}

// TestRandomAgainstDiff checks on random inputs that Unified finds as few
// edits as "diff --minimal" does.
func TestRandomAgainstDiff(t *testing.T) {
	tool := diffTool(t)
	dir := t.TempDir()
	r := rand.New(rand.NewSource(1))
	n := 300
	if testing.Short() {
		n = 30
	}
	same := 0
	for i := range n {
		old := randText(r, 30)
		new := randText(r, 30)
		if i%2 == 0 {
			new = mutate(r, old)
		}
		want := runDiff(t, tool, dir, []byte(old), []byte(new), "--minimal")
		got := fromFirstHunk(string(Unified("old", "new", []byte(old), []byte(new))))
		wd, wi := countEdits(want)
		gd, gi := countEdits(got)
		if wd+wi != gd+gi {
			t.Fatalf("old %q new %q: Unified has %d-/%d+ lines, diff --minimal %d-/%d+\n got:\n%s\ndiff:\n%s", old, new, gd, gi, wd, wi, got, want)
		}
		if got == want {
			same++
		}
	}
	t.Logf("%d/%d random cases byte-identical to diff --minimal -u", same, n)
}

// lcsLen returns the length of the longest common subsequence of a and b,
// by dynamic programming.
func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkDiff verifies that patch turns old into new, is well formed, and, for
// small inputs, is minimal.
func checkDiff(t *testing.T, old, new []byte, patch []byte) {
	t.Helper()
	if (patch == nil) != bytes.Equal(old, new) {
		t.Fatalf("Unified(%q, %q) = %q: nil-ness wrong", old, new, patch)
	}
	got, err := applyUnified("old", "new", old, patch)
	if err != nil {
		t.Fatalf("Unified(%q, %q) produced bad patch: %v\n%s", old, new, err, patch)
	}
	if !bytes.Equal(got, new) {
		t.Fatalf("Unified(%q, %q): applying patch gives %q\n%s", old, new, got, patch)
	}
	a, b := splitLines(old), splitLines(new)
	if len(a)*len(b) <= 40_000 {
		del, ins := countEdits(string(patch))
		l := lcsLen(a, b)
		if del != len(a)-l || ins != len(b)-l {
			t.Fatalf("Unified(%q, %q) not minimal: %d-/%d+, want %d-/%d+\n%s", old, new, del, ins, len(a)-l, len(b)-l, patch)
		}
	}
}

func TestRandomMinimal(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for range 3000 {
		old := randText(r, 40)
		new := mutate(r, old)
		if r.Intn(3) == 0 {
			new = randText(r, 40)
		}
		checkDiff(t, []byte(old), []byte(new), Unified("old", "new", []byte(old), []byte(new)))
	}
}

// bigFile returns n lines that look a bit like source code: mostly unique
// lines with frequent repeated ones.
func bigFile(r *rand.Rand, n int) []string {
	common := []string{"\n", "}\n", "\treturn nil\n", "\t}\n", "{\n"}
	lines := make([]string, n)
	for i := range lines {
		if r.Intn(3) == 0 {
			lines[i] = common[r.Intn(len(common))]
		} else {
			lines[i] = fmt.Sprintf("\tx%d := f(%d)\n", r.Intn(n), i)
		}
	}
	return lines
}

func editLines(r *rand.Rand, lines []string, edits int) []string {
	out := append([]string(nil), lines...)
	for range edits {
		i := r.Intn(len(out))
		switch r.Intn(3) {
		case 0:
			out = append(out[:i], out[i+1:]...)
		case 1:
			out = append(out[:i], append([]string{fmt.Sprintf("new %d\n", r.Int())}, out[i:]...)...)
		case 2:
			out[i] = out[r.Intn(len(out))]
		}
	}
	return out
}

func TestLargeInputs(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	ab := func(n int) []byte {
		var b bytes.Buffer
		for range n {
			b.WriteString([]string{"a\n", "b\n"}[r.Intn(2)])
		}
		return b.Bytes()
	}
	base := bigFile(r, 10000)
	cases := []struct {
		name     string
		old, new []byte
	}{
		{"10k lines, 300 edits", []byte(strings.Join(base, "")), []byte(strings.Join(editLines(r, base, 300), ""))},
		{"10k lines, rewritten", []byte(strings.Join(base, "")), []byte(strings.Join(bigFile(r, 10000), ""))},
		{"10k lines, two-line alphabet", ab(10000), ab(10000)},
		{"10k lines vs empty", []byte(strings.Join(base, "")), nil},
	}
	for _, c := range cases {
		start := time.Now()
		patch := Unified("old", "new", c.old, c.new)
		elapsed := time.Since(start)
		got, err := applyUnified("old", "new", c.old, patch)
		if err != nil {
			t.Fatalf("%s: bad patch: %v", c.name, err)
		}
		if !bytes.Equal(got, c.new) {
			t.Fatalf("%s: patch does not reproduce new", c.name)
		}
		del, ins := countEdits(string(patch))
		t.Logf("%s: %d-/%d+ in %v", c.name, del, ins, elapsed)
		if elapsed > 20*time.Second {
			t.Errorf("%s: took %v", c.name, elapsed)
		}
	}
}

func BenchmarkUnified(b *testing.B) {
	r := rand.New(rand.NewSource(4))
	base := bigFile(r, 5000)
	old := []byte(strings.Join(base, ""))
	new := []byte(strings.Join(editLines(r, base, 100), ""))
	b.SetBytes(int64(len(old) + len(new)))
	for b.Loop() {
		Unified("old", "new", old, new)
	}
}

// lineify turns arbitrary bytes into text with one short line per byte,
// drawn from a small alphabet so that lines repeat. A high final byte drops
// the final newline.
func lineify(data []byte) []byte {
	var b bytes.Buffer
	for _, c := range data {
		b.WriteByte('a' + c%5)
		b.WriteByte('\n')
	}
	if len(data) > 0 && data[len(data)-1] >= 0xf0 {
		b.Truncate(b.Len() - 1)
	}
	return b.Bytes()
}

func FuzzUnified(f *testing.F) {
	for _, tt := range goldenTests {
		f.Add([]byte(tt.old), []byte(tt.new))
	}
	f.Add([]byte("abcab"), []byte("bcabba"))
	f.Add([]byte("a\r\nb\r\n"), []byte("a\nb\r\n\r\n"))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		// Large inputs add little over the line-rich small ones but make
		// each run, and the fuzzer's quadratic input minimisation, slow.
		if len(old) > 512 || len(new) > 512 {
			t.Skip("input too large")
		}
		// Raw inputs.
		checkDiff(t, old, new, Unified("old", "new", old, new))
		// The same bytes as line-rich texts.
		lo, ln := lineify(old), lineify(new)
		checkDiff(t, lo, ln, Unified("old", "new", lo, ln))
	})
}
