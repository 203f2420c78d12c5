package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain ünïcödé ☃", "plain ünïcödé ☃"},
		{"a\x00b\x00", "ab"},
		{"a\xffb", "a\uFFFDb"},
		{"cut \xe2\x98", "cut \uFFFD"}, // a truncated sequence: one U+FFFD
		{"\xed\xa0\x80", "\uFFFD"},     // a UTF-16 surrogate is not UTF-8
		{"\x00\xff\x00", "\uFFFD"},     // NUL removed after the replacement
		{"a\uFFFDb", "a\uFFFDb"},       // a real U+FFFD stays
	}
	for _, tt := range tests {
		if got := sanitize(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSplitReply checks where long replies are split. Characters are code
// points: "é" and "😀" count one each.
func TestSplitReply(t *testing.T) {
	r := strings.Repeat
	const max = MaxReplyChars
	tests := []struct {
		name      string
		in        string
		want      []string
		truncated bool
	}{
		{"empty", "", nil, false},
		{"short", "hi", []string{"hi"}, false},
		{"exactly 4,000", r("x", max), []string{r("x", max)}, false},
		{"4,001 with no break", r("x", max+1), []string{r("x", max), "x"}, false},
		{"at the last line break", r("a", 3000) + "\n" + r("b", 3000), []string{r("a", 3000), r("b", 3000)}, false},
		{"a line break right after 4,000", r("a", max) + "\n" + "b", []string{r("a", max), "b"}, false},
		{"a space right after 4,000", r("a", max) + " " + "b", []string{r("a", max), "b"}, false},
		{"a line break before a later space", r("a", 100) + "\n" + r("b", 3000) + " " + r("c", 3000),
			[]string{r("a", 100), r("b", 3000), r("c", 3000)}, false},
		{"at the last space", "w " + r("a", 3000) + " " + r("b", 3000), []string{"w " + r("a", 3000), r("b", 3000)}, false},
		{"a tab", r("a", 3000) + "\t" + r("b", 3000), []string{r("a", 3000), r("b", 3000)}, false},
		{"CRLF", r("a", 3000) + "\r\n" + r("b", 3000), []string{r("a", 3000), r("b", 3000)}, false},
		{"blank lines do not start a part", r("a", 3999) + "\n\n\n" + "b", []string{r("a", 3999), "b"}, false},
		{"spaces before the break are dropped", r("a", 3000) + "   " + r("b", 3000), []string{r("a", 3000), r("b", 3000)}, false},
		{"a part may start indented", r("a", 3000) + "\n  " + r("b", 3000), []string{r("a", 3000), "  " + r("b", 3000)}, false},
		{"two-byte runes", r("é", max+1), []string{r("é", max), "é"}, false},
		{"four-byte runes", r("😀", max+1), []string{r("😀", max), "😀"}, false},
		{"a four-byte rune at the boundary", r("x", max-1) + "😀y", []string{r("x", max-1) + "😀", "y"}, false},
		{"not inside a link label", r("a", 3980) + " <https://example.com/|the label with spaces> " + r("b", 10),
			[]string{r("a", 3980), "<https://example.com/|the label with spaces> " + r("b", 10)}, false},
		{"not inside a mention", r("a", 3996) + "<@UBOB>" + r("b", 10), []string{r("a", 3996), "<@UBOB>" + r("b", 10)}, false},
		{"not inside an entity", r("a", 3998) + "&amp;" + r("b", 10), []string{r("a", 3998), "&amp;" + r("b", 10)}, false},
		{"a literal < is not markup", r("a", 10) + " < " + r("b", 3000) + " " + r("c", 3000),
			[]string{r("a", 10) + " < " + r("b", 3000), r("c", 3000)}, false},
		{"a long link is cut anywhere", "<" + r("h", max+10) + ">", []string{"<" + r("h", max-1), r("h", 11) + ">"}, false},
		{"exactly 5 parts", r(r("x", max)+"\n", 5), []string{r("x", max), r("x", max), r("x", max), r("x", max), r("x", max)}, false},
		{"more than 5 parts: the fifth cut with …", r(r("x", max)+"\n", 6),
			[]string{r("x", max), r("x", max), r("x", max), r("x", max), r("x", max-1) + "…"}, true},
		{"more than 5 parts, no breaks", r("x", 6*max),
			[]string{r("x", max), r("x", max), r("x", max), r("x", max), r("x", max-1) + "…"}, true},
		{"the fifth part cut at a line break", r(r("x", max)+"\n", 4) + r("y", 3000) + "\n" + r("z", 3000),
			[]string{r("x", max), r("x", max), r("x", max), r("x", max), r("y", 3000) + "…"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := splitReply(tt.in)
			if truncated != tt.truncated || !slices.Equal(got, tt.want) {
				t.Errorf("splitReply = %s, truncated %v; want %s, %v", describeParts(got), truncated, describeParts(tt.want), tt.truncated)
			}
		})
	}
}

// TestSplitReplyProperties splits random texts made of the characters the
// rules care about and checks what every split must satisfy.
func TestSplitReplyProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "bc", " ", "\n", "\r\n", "\t", "é", "😀", "<", ">", "<@U1>", "&amp;", ";", "&", "<http://x|a b>"}
	for i := range 500 {
		var b strings.Builder
		n := rng.IntN(30000)
		if i%2 == 0 {
			n = rng.IntN(9000) // mostly one to three parts
		}
		for b.Len() < n {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := strings.TrimRightFunc(b.String(), unicode.IsSpace)
		parts, truncated := splitReply(in)
		if (in == "") != (len(parts) == 0) || len(parts) > MaxReplyParts {
			t.Fatalf("%d parts of %q", len(parts), in)
		}
		for _, p := range parts {
			if c := utf8.RuneCountInString(p); c == 0 || c > MaxReplyChars || !utf8.ValidString(p) || strings.TrimSpace(p) == "" {
				t.Fatalf("a part of %d characters, %q, from %.200q", c, p, in)
			}
		}
		// Only white space is lost at the splits, unless truncated.
		strip := func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
		joined := strip(strings.Join(parts, ""))
		if truncated {
			if !strings.HasSuffix(parts[len(parts)-1], "…") || !strings.HasPrefix(strip(in), strings.TrimSuffix(joined, "…")) {
				t.Fatalf("truncated parts are not a prefix of the text ending with …")
			}
		} else if joined != strip(in) {
			t.Fatalf("parts lose more than white space: %.200q", in)
		}
	}
}

// describeParts shows parts briefly: their ends and lengths in characters.
func describeParts(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		rs := []rune(p)
		if len(rs) > 24 {
			out[i] = fmt.Sprintf("%q…%q(%d)", string(rs[:10]), string(rs[len(rs)-10:]), len(rs))
		} else {
			out[i] = fmt.Sprintf("%q(%d)", p, len(rs))
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}
