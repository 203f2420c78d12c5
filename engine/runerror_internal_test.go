package engine

import (
	"errors"
	"testing"
)

func TestRunErrorIsShortAndPlain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"interface conversion: interface {} is float64, not string (1:1)\n | upper(x)\n | ^", "expected text, got a number"},
		{"interface conversion: interface {} is <nil>, not string", "expected text, got nothing"},
		{"interface conversion: interface {} is []interface {}, not map[string]interface {}", "expected a map, got a list"},
		{`num: "abc" is not a number (1:14)`, `num: "abc" is not a number`},
		{"division by zero", "division by zero"},
	}
	for _, tt := range tests {
		if got := runError(errors.New(tt.in)).Error(); got != tt.want {
			t.Errorf("runError(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
