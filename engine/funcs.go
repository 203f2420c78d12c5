package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
)

// pureFuncs are the template functions that depend on nothing but their
// arguments. The ones that need the clock, randomness or the environment
// (now, pick, env) are bound per engine; see bindings.
var pureFuncs = []expr.Option{
	expr.Function("thousands", func(p ...any) (any, error) {
		switch n := p[0].(type) { // whole numbers exactly, even beyond 2^53
		case int:
			return groupThousands(strconv.Itoa(n)), nil
		case int64:
			return groupThousands(strconv.FormatInt(n, 10)), nil
		case uint64:
			return groupThousands(strconv.FormatUint(n, 10)), nil
		}
		f, ok := toFloat(p[0])
		if !ok {
			return nil, fmt.Errorf("thousands: %s is not a number", describe(p[0]))
		}
		return formatNumber(f, true), nil
	}, new(func(int) string), new(func(float64) string)),
	expr.Function("num", func(p ...any) (any, error) {
		if s, ok := p[0].(string); ok {
			return parseNum(s)
		}
		if f, ok := toFloat(p[0]); ok {
			return f, nil // already a number, as in num(fetch.json.price)
		}
		return nil, fmt.Errorf("num: %s is not text or a number", describe(p[0]))
	}, new(func(string) float64)),
	expr.Function("json", func(p ...any) (any, error) {
		b, err := json.Marshal(p[0])
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		return string(b), nil
	}, new(func(any) string)),
	expr.Function("urlquery", func(p ...any) (any, error) {
		s, err := renderValue(p[0]) // a string, or a number from fetch.json
		if err != nil {
			return nil, fmt.Errorf("urlquery: %w", err)
		}
		return url.QueryEscape(s), nil
	}, new(func(string) string)),
}

// formatNumber writes f in its shortest decimal form that reads back as the
// same float64, without an exponent and without a trailing ".0"; with sep, the
// integer part gets thousands separators, as Python's '{:,}'.format does.
func formatNumber(f float64, sep bool) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == 0:
		return "0" // also for -0
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !sep {
		return s
	}
	return groupThousands(s)
}

// groupThousands puts commas into the integer part of a decimal number
// written as [-]digits[.digits].
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	if len(intPart) <= 3 {
		return sign + s
	}
	var b strings.Builder
	b.Grow(len(sign) + len(s) + len(intPart)/3)
	b.WriteString(sign)
	first := len(intPart) % 3
	if first == 0 {
		first = 3
	}
	b.WriteString(intPart[:first])
	for i := first; i < len(intPart); i += 3 {
		b.WriteByte(',')
		b.WriteString(intPart[i : i+3])
	}
	b.WriteString(frac)
	return b.String()
}

var errNotNumber = errors.New("is not a number")

// parseNum reads a number written the way people write amounts: an optional
// sign, an optional $, digits that may be grouped with commas, and an
// optional decimal part: "$1,234.50", "-1000", "+$3,000,000", "$-5", ".5".
func parseNum(s string) (float64, error) {
	t := strings.TrimSpace(s)
	neg := false
	sign := func() bool {
		if t != "" && (t[0] == '-' || t[0] == '+') {
			neg = t[0] == '-'
			t = t[1:]
			return true
		}
		return false
	}
	signed := sign()
	if strings.HasPrefix(t, "$") {
		t = t[1:]
		if !signed {
			sign()
		}
	}
	var b strings.Builder
	digits, dot := 0, false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			b.WriteByte(c)
		case c == ',' && !dot && i > 0 && i+1 < len(t) && isDigit(t[i-1]) && isDigit(t[i+1]):
			// a thousands separator between digits
		case c == '.' && !dot:
			dot = true
			b.WriteByte(c)
		default:
			return 0, fmt.Errorf("num: %q %w", s, errNotNumber)
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("num: %q %w", s, errNotNumber)
	}
	f, err := strconv.ParseFloat(b.String(), 64)
	if err != nil {
		return 0, fmt.Errorf("num: %q %w", s, errNotNumber)
	}
	if neg {
		f = -f
	}
	return f, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// toFloat converts any Go number to float64.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case float32:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// renderValue turns the value of a template expression into text: strings as
// they are, numbers in their shortest form without separators, nil as
// nothing, lists and maps as JSON.
func renderValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case time.Time:
		return x.Format(time.RFC3339), nil
	case time.Duration:
		return x.String(), nil
	}
	if f, ok := toFloat(v); ok {
		return formatNumber(f, false), nil
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String(), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot render %s: %w", describe(v), err)
	}
	return string(b), nil
}

// describe names a value's type the way a rules author thinks of it.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("text %q", v)
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}
