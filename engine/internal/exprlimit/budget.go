package exprlimit

import (
	"math"
	"math/bits"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// The budget of one evaluation. A unit of work is about what one
// nanosecond buys: copying or scanning a byte or two. Evaluations that use
// the whole budget take 10 to 50 ms of CPU time (BenchmarkFullBudget).
const (
	MaxWork = 10_000_000
	MaxMem  = 16 << 20 // bytes allocated, in total
	// iterCost is the work of one iteration of a loop (map, filter…).
	iterCost = 64
	// callCost is the work of calling a metered function.
	callCost = 32
	// valueCost is the work of visiting one value through reflection, as
	// JSON encoding does.
	valueCost = 128
	// slotSize is the memory of one element of a list, or one entry of a map.
	slotSize = 16
)

// A Budget is the work and memory one evaluation has spent so far.
type Budget struct {
	work, mem int64
}

// charge spends work units and mem bytes (allocating 4 bytes is a unit of
// work too), and fails once either limit is passed.
func (b *Budget) charge(work, mem int64) error {
	if b == nil {
		return ErrTooCostly // a program run without a budget: refuse it
	}
	b.work = sat(sat(b.work, callCost+work), mem/4)
	b.mem = sat(b.mem, mem)
	if b.work > MaxWork || b.mem > MaxMem {
		return ErrTooCostly
	}
	return nil
}

// Charge charges b for v, a value that a function bound in the environment
// produced during the evaluation (such as a read of the bot's memory): the
// memory it holds, and the work of visiting each of its values. It fails
// with ErrTooCostly once the budget is exceeded, so a loop cannot read a
// large value again and again. (A value put in the environment beforehand
// costs nothing until it is used.)
func (b *Budget) Charge(v any) error {
	bytes, values := deepSize(v)
	return b.charge(sat(bytes, mul(values, iterCost)), sat(bytes, mul(values, slotSize)))
}

// sat returns a+b for non-negative a and b, or MaxInt64 if that overflows.
func sat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// mul returns a*b for non-negative a and b, or MaxInt64 if that overflows.
func mul(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// A meterFunc is called by the rewritten tree with the Budget first.
type meterFunc = func(args ...any) (any, error)

// The names of the functions the rewritten tree calls. They start with a
// character that an expression cannot write in an identifier.
const (
	fnLoop    = "·loop"    // ·loop(b, list) charges a loop over list, returns list
	fnMem     = "·mem"     // ·mem(b, x) charges the size of x as memory, returns x
	fnWork    = "·work"    // ·work(b, x) charges the size of x as work, returns x
	fnDeep    = "·deep"    // ·deep(b, x) charges x written out as text, returns x
	fnMatches = "·matches" // ·matches(b, s, re) is s matches re
	fnRange   = "·range"   // ·range(b, lo, hi) is lo..hi
	builtinFn = "·"        // ·NAME(b, args...) is the builtin NAME, charged first
)

// meters are the functions the rewritten tree calls, by name.
var meters = func() map[string]meterFunc {
	m := map[string]meterFunc{
		fnLoop: func(args ...any) (any, error) {
			n := int64(length(args[1]))
			return args[1], budget(args).charge(mul(n, iterCost), mul(n, slotSize))
		},
		fnMem: func(args ...any) (any, error) {
			return args[1], budget(args).charge(0, size(args[1]))
		},
		fnWork: func(args ...any) (any, error) {
			return args[1], budget(args).charge(size(args[1]), 0)
		},
		fnDeep: func(args ...any) (any, error) {
			return args[1], budget(args).charge(textCost(args[1]))
		},
		fnMatches: func(args ...any) (any, error) {
			s, re := args[1], args[2]
			if runtime.IsNil(s) || runtime.IsNil(re) {
				return false, nil
			}
			// Go's regexp is linear in the text times the pattern.
			if err := budget(args).charge(mul(size(s)+1, size(re)+1), 0); err != nil {
				return nil, err
			}
			var ok bool
			var err error
			if str, isStr := s.(string); isStr {
				ok, err = regexp.MatchString(re.(string), str)
			} else {
				ok, err = regexp.Match(re.(string), s.([]byte))
			}
			return ok, err
		},
	}
	m[fnRange] = makeRange
	for name, cost := range builtinCosts {
		f := builtin.Builtins[builtin.Index[name]]
		m[builtinFn+name] = func(args ...any) (any, error) {
			work, mem := cost(args[1:])
			if err := budget(args).charge(work, mem); err != nil {
				return nil, err
			}
			return callBuiltin(f, args[1:])
		}
	}
	return m
}()

func budget(args []any) *Budget {
	b, _ := args[0].(*Budget)
	return b
}

func callBuiltin(f *builtin.Function, args []any) (any, error) {
	switch {
	case f.Fast != nil && len(args) == 1:
		return f.Fast(args[0]), nil
	case f.Func != nil:
		return f.Func(args...)
	default:
		v, _, err := f.Safe(args...)
		return v, err
	}
}

// A costFunc returns the work and memory a builtin will spend on args.
type costFunc func(args []any) (work, mem int64)

// builtinCosts are the builtins whose cost grows with their arguments.
// The others (len, abs, first, get, …) take constant time.
var builtinCosts = map[string]costFunc{
	"repeat": func(a []any) (int64, int64) {
		s, _ := a[0].(string)
		n := int64(runtime.ToInt(a[1]))
		if n < 0 {
			return 0, 0 // repeat fails
		}
		return 0, mul(int64(len(s)), n)
	},
	"join": func(a []any) (int64, int64) {
		var n, total int64
		switch l := a[0].(type) {
		case []string:
			n = int64(len(l))
			for _, s := range l {
				total += int64(len(s))
			}
		case []any:
			n = int64(len(l))
			for _, v := range l {
				total = sat(total, size(v))
			}
		}
		if len(a) > 1 {
			glue, _ := a[1].(string)
			total = sat(total, mul(n, int64(len(glue))))
		}
		return n, total
	},
	"replace": func(a []any) (int64, int64) {
		s, _ := a[0].(string)
		old, _ := a[1].(string)
		repl, _ := a[2].(string)
		n := int64(strings.Count(s, old))
		if len(a) > 3 {
			if limit := int64(runtime.ToInt(a[3])); limit >= 0 {
				n = min(n, limit)
			}
		}
		return int64(len(s)), sat(int64(len(s)), mul(n, int64(max(0, len(repl)-len(old)))))
	},
	"split":       splitCost,
	"splitAfter":  splitCost,
	"upper":       caseCost,
	"lower":       caseCost,
	"trim":        scanCost,
	"trimPrefix":  scanCost,
	"trimSuffix":  scanCost,
	"indexOf":     scanCost,
	"lastIndexOf": scanCost,
	"hasPrefix":   scanCost,
	"hasSuffix":   scanCost,
	"date":        scanCost,
	"duration":    scanCost,
	"toJSON":      textArgCost,
	"string":      textArgCost,
	"fromJSON": func(a []any) (int64, int64) {
		n := size(a[0])
		// Decoding takes some 10 ns a byte; "[1,1,…]" is a value of 16
		// bytes or more per 2 bytes.
		return mul(n, 16), mul(n, 16)
	},
	"toBase64": func(a []any) (int64, int64) {
		n := size(a[0])
		return n, n/3*4 + 4
	},
	"fromBase64": func(a []any) (int64, int64) {
		n := size(a[0])
		return n, n
	},
	"keys":      listCost,
	"values":    listCost,
	"toPairs":   func(a []any) (int64, int64) { n := int64(length(a[0])); return mul(n, iterCost), mul(n, 4*slotSize) },
	"fromPairs": listCost,
	"reverse":   listCost,
	"uniq":      listCost,
	"max":       listCost,
	"min":       listCost,
	"mean":      listCost,
	"median":    sortCost,
	"sort":      sortCost,
	"concat": func(a []any) (int64, int64) {
		var n int64
		for _, l := range a {
			n = sat(n, int64(length(l)))
		}
		return mul(n, iterCost), mul(n, slotSize)
	},
	"flatten": func(a []any) (int64, int64) {
		n := deepLen(a[0], MaxWork/iterCost+1)
		return mul(n, iterCost), mul(n, slotSize)
	},
}

func splitCost(a []any) (int64, int64) {
	s, _ := a[0].(string)
	sep, _ := a[1].(string)
	pieces := int64(utf8.RuneCountInString(s)) + 1
	if sep != "" {
		pieces = int64(strings.Count(s, sep)) + 1
	}
	return int64(len(s)), sat(int64(len(s)), mul(pieces, slotSize))
}

func caseCost(a []any) (int64, int64) {
	n := size(a[0])
	return n, n + n/2 // a few runes grow by a byte when their case changes
}

func scanCost(a []any) (int64, int64) {
	var n int64
	for _, v := range a {
		n = sat(n, size(v))
	}
	return n, 0
}

func textArgCost(a []any) (int64, int64) { return textCost(a[0]) }

func listCost(a []any) (int64, int64) {
	var n int64
	for _, v := range a {
		n = sat(n, int64(length(v)))
	}
	return mul(n, iterCost), mul(n, 4*slotSize)
}

func sortCost(a []any) (int64, int64) {
	n := int64(length(a[0]))
	return mul(mul(n, int64(bits.Len64(uint64(n))+1)), iterCost), mul(n, slotSize)
}

// length is the number of elements of a list or map, or of bytes of a
// string; 0 for anything else.
func length(v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		return len(x)
	case []any:
		return len(x)
	case []string:
		return len(x)
	case []int:
		return len(x)
	case []float64:
		return len(x)
	case map[string]any:
		return len(x)
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len()
	}
	return 0
}

// size is the memory v holds at its top level: the bytes of a string, a slot
// per element of a list or map, 8 bytes for anything else.
func size(v any) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x))
	case []byte:
		return int64(len(x))
	case nil, bool, int, float64:
		return 8
	}
	return max(8, mul(int64(length(v)), slotSize))
}

// deepSize is about how many bytes v takes written out as JSON, and how
// many values it holds. It stops counting, and returns more than the
// budget allows, once bytes*6 passes MaxMem or the values' cost MaxWork.
func deepSize(v any) (bytes, values int64) {
	over := func() bool { return bytes > MaxMem/6 || sat(bytes, mul(values, valueCost)) > MaxWork }
	stack := []reflect.Value{reflect.ValueOf(v)}
	values = 1
	for len(stack) > 0 && !over() {
		rv := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch rv.Kind() {
		case reflect.String:
			bytes += int64(rv.Len()) + 2
		case reflect.Slice, reflect.Array:
			if rv.Type().Elem().Kind() == reflect.Uint8 {
				bytes += int64(rv.Len())*4/3 + 2
				continue
			}
			bytes += 2 + int64(rv.Len())
			for i := 0; i < rv.Len() && !over(); i++ {
				stack = append(stack, rv.Index(i))
				values++
			}
		case reflect.Map:
			bytes += 2 + 2*int64(rv.Len())
			it := rv.MapRange()
			for it.Next() && !over() {
				stack = append(stack, it.Key(), it.Value())
				values += 2
			}
		case reflect.Struct:
			bytes += 2
			for i := 0; i < rv.NumField() && !over(); i++ {
				bytes += 8
				stack = append(stack, rv.Field(i))
				values++
			}
		case reflect.Pointer, reflect.Interface:
			if rv.IsNil() {
				bytes += 4
			} else {
				stack = append(stack, rv.Elem()) // the same value
			}
		case reflect.Invalid:
			bytes += 4 // nil
		default:
			bytes += 24 // a number or a boolean
		}
	}
	return bytes, values
}

// textCost is the cost of writing v out as text (JSON or Go's %v): a byte
// of output is a unit of work and 6 bytes of memory (JSON may write a byte
// as \u00XX); each value, reached through reflection, is valueCost units.
func textCost(v any) (work, mem int64) {
	bytes, values := deepSize(v)
	return sat(bytes, mul(values, valueCost)), mul(bytes, 6)
}

// deepLen is how many values v holds, lists counted down to their leaves,
// counting no further than limit.
func deepLen(v any, limit int64) int64 {
	var n int64
	stack := []reflect.Value{reflect.ValueOf(v)}
	for len(stack) > 0 && n <= limit {
		rv := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n++
		for rv.Kind() == reflect.Interface && !rv.IsNil() {
			rv = rv.Elem()
		}
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			for i := 0; i < rv.Len() && n+int64(len(stack)) <= limit; i++ {
				stack = append(stack, rv.Index(i))
			}
		}
	}
	return n
}
