package udiff_test

import (
	"fmt"

	"github.com/rulebot/rulebot/internal/udiff"
)

func ExampleUnified() {
	old := []byte("one\ntwo\nthree\n")
	new := []byte("one\n2\nthree\nfour")
	fmt.Print(string(udiff.Unified("a/numbers.txt", "b/numbers.txt", old, new)))
	// Output:
	// --- a/numbers.txt
	// +++ b/numbers.txt
	// @@ -1,3 +1,4 @@
	//  one
	// -two
	// +2
	//  three
	// +four
	// \ No newline at end of file
}
