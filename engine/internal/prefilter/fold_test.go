package prefilter

import (
	"regexp"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"hello world", "hello world"},
		{"Hello WORLD 123!?", "hello world 123!?"},
		{"\u212Aelvin", "kelvin"},             // KELVIN SIGN → k
		{"KELVIN \u212A k K", "kelvin k k k"}, // all members of k's orbit
		{"\u017Fun", "sun"},                   // LONG S → s
		{"Straße STRASSE", "straße strasse"},
		{"\u1E9E", "ß"},            // CAPITAL SHARP S → its orbit minimum ß
		{"café CAFÉ", "cafÉ cafÉ"}, // non-ASCII: smallest rune of the orbit
		{"σ ς Σ", "Σ Σ Σ"},         // three-member orbit
		{"ǅ ǆ Ǆ", "Ǆ Ǆ Ǆ"},
		{"İ ı", "İ ı"}, // no simple folding: unchanged
		{"日本語 😀", "日本語 😀"},
		{"a\xffb", "a\uFFFDb"},                 // invalid UTF-8 → U+FFFD per byte
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // encoded surrogate
		{"\uFFFD", "\uFFFD"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(AppendFold([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendFold(x, %q) = %q, want %q", tt.in, got, "x"+tt.want)
		}
		if got := Fold(tt.want); got != tt.want {
			t.Errorf("Fold not idempotent on %q: %q", tt.want, got)
		}
	}
}

// TestFoldLong checks Fold on longer texts, where it tests eight bytes at
// a time: each ASCII byte and a non-ASCII rune at every offset.
func TestFoldLong(t *testing.T) {
	base := []byte("the deploy to staging is done; can someone check it?")
	for _, c := range []string{"@", "A", "M", "Z", "[", "`", "a", "z", "{", "\x7f", "É", "é", "\u212a", "\xff"} {
		for off := range 24 {
			in := string(base[:off]) + c + string(base[off:])
			want := string(base[:off]) + foldNaive(c) + string(base[off:])
			if got := Fold(in); got != want {
				t.Errorf("Fold(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

// foldNaive folds s a rune at a time.
func foldNaive(s string) string {
	var b []byte
	for _, r := range s {
		b = utf8.AppendRune(b, foldRune(r))
	}
	return string(b)
}

// TestFoldOrbits checks, for every rune, that all members of its simple
// folding orbit fold to the same rune, which is a member of the orbit, and
// that Go's regexp (?i) agrees that r and Fold(r) are equal.
func TestFoldOrbits(t *testing.T) {
	checked := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := unicode.SimpleFold(r)
		if f == r {
			if r >= utf8.RuneSelf && foldRune(r) != r {
				t.Fatalf("foldRune(%U) = %U, want identity", r, foldRune(r))
			}
			continue
		}
		want := foldRune(r)
		inOrbit := want == r
		hasASCII := r < utf8.RuneSelf
		for ; f != r; f = unicode.SimpleFold(f) {
			if got := foldRune(f); got != want {
				t.Fatalf("orbit of %U: foldRune(%U) = %U, foldRune(%U) = %U", r, f, got, r, want)
			}
			inOrbit = inOrbit || f == want
			hasASCII = hasASCII || f < utf8.RuneSelf
		}
		if !inOrbit {
			t.Fatalf("foldRune(%U) = %U is not in the orbit", r, want)
		}
		if hasASCII && !('a' <= want && want <= 'z') {
			t.Fatalf("foldRune(%U) = %U, want a lowercase ASCII letter", r, want)
		}
		if Fold(string(r)) != string(want) {
			t.Fatalf("Fold(%q) = %q, want %q", string(r), Fold(string(r)), string(want))
		}
		checked++
	}
	if checked < 2000 {
		t.Fatalf("only %d cased runes checked", checked)
	}
	// Spot-check agreement with the regexp package itself.
	for _, r := range []rune{'k', 'K', 0x212A, 's', 0x17F, 0xDF, 0x1E9E, 'σ', 'ς', 'Σ', 0x1C5, 'é'} {
		re := regexp.MustCompile(`(?i)^` + regexp.QuoteMeta(string(r)) + `$`)
		if !re.MatchString(Fold(string(r))) {
			t.Errorf("(?i)%q does not match its fold %q", string(r), Fold(string(r)))
		}
	}
}

func TestFoldNoAlloc(t *testing.T) {
	s := "hey team, the deploy to staging is done; can someone check?"
	if n := testing.AllocsPerRun(100, func() { _ = Fold(s) }); n != 0 {
		t.Errorf("Fold of folded ASCII allocates %v times", n)
	}
	buf := make([]byte, 0, 128)
	u := "Hey Team, the Deploy to STAGING is done; can someone check? \u212A"
	if n := testing.AllocsPerRun(100, func() { buf = AppendFold(buf[:0], u) }); n != 0 {
		t.Errorf("AppendFold into a large enough buffer allocates %v times", n)
	}
}
