package prefilter

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fold returns the canonical case folding of s, consistent with the simple
// case folding that Go's regexp package uses for (?i):
//
//   - ASCII letters are lowercased;
//   - a non-ASCII rune whose fold orbit (see [unicode.SimpleFold]) contains an
//     ASCII letter maps to that letter in lowercase (KELVIN SIGN U+212A → 'k',
//     LATIN SMALL LETTER LONG S U+017F → 's');
//   - any other rune maps to the smallest rune of its orbit (so 'é' → 'É',
//     'ẞ' → 'ß', 'ς' and 'σ' → 'Σ').
//
// Every member of an orbit maps to the same rune, and Fold is idempotent.
// Each byte of invalid UTF-8 is replaced by U+FFFD, which is how the regexp
// package sees it. Fold never allocates when s is already folded (in
// particular for lowercase ASCII).
func Fold(s string) string {
	i := 0
	// Eight bytes at a time while they are ASCII and not upper case: a
	// long message is usually all lower-case ASCII.
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		const ones, high = 0x0101010101010101, 0x8080808080808080
		// With every byte below 0x80, adding 0x3f (0x25) to each sets its
		// high bit exactly when it is at least 'A' ('[', just after 'Z').
		if w&high != 0 || (w+0x3f*ones)&^(w+0x25*ones)&high != 0 {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				return foldSlow(s, i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if size == 1 || foldRune(r) != r { // size 1 here means invalid UTF-8
			return foldSlow(s, i)
		}
		i += size
	}
	return s
}

// foldSlow folds s whose prefix s[:i] is known to be folded.
func foldSlow(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			b.WriteByte(lowerASCII(c))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		b.WriteRune(foldRune(r)) // RuneError is written as U+FFFD
	}
	return b.String()
}

// AppendFold appends Fold(s) to dst and returns the extended buffer. With a
// reused buffer it lets the per-message path avoid allocation entirely.
func AppendFold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, lowerASCII(c))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		dst = utf8.AppendRune(dst, foldRune(r))
	}
	return dst
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldRune returns the canonical representative of r's simple case folding
// orbit; see Fold.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(lowerASCII(byte(r)))
	}
	f := unicode.SimpleFold(r)
	if f == r {
		return r
	}
	min := r
	// Orbits have at most four members; the bound only guards against a
	// (hypothetical) non-cyclic table.
	for n := 0; f != r && n < 16; n++ {
		if f < utf8.RuneSelf {
			return rune(lowerASCII(byte(f)))
		}
		if f < min {
			min = f
		}
		f = unicode.SimpleFold(f)
	}
	return min
}
