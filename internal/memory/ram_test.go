package memory

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestNewRAMSeed: a test file's `memory:`, as YAML decodes it.
func TestNewRAMSeed(t *testing.T) {
	cases := []struct {
		name    string
		seed    map[string]any
		want    map[string]any // Scan("")
		wantErr string
	}{
		{name: "empty", seed: nil, want: map[string]any{}},
		{name: "values", seed: map[string]any{
			"karma/UBOB": 3, "pi": 3.5, "big": int64(1) << 40, "motd": "hello",
			"quotes": []any{"first", "second"}, "tags": []string{"a"},
		}, want: map[string]any{
			"karma/UBOB": 3.0, "pi": 3.5, "big": float64(1 << 40), "motd": "hello",
			"quotes": []string{"first", "second"}, "tags": []string{"a"},
		}},
		{name: "a map", seed: map[string]any{"m": map[string]any{"a": 1}},
			wantErr: `memory key "m": a value must be text, a number or a list of texts, not map[string]interface {}`},
		{name: "a list of numbers", seed: map[string]any{"l": []any{"a", 1}},
			wantErr: `memory key "l": a value must be text, a number or a list of texts, not []interface {}`},
		{name: "null", seed: map[string]any{"n": nil},
			wantErr: `memory key "n": a value must be text, a number or a list of texts, not <nil>`},
		{name: "a bad key", seed: map[string]any{"a\tb": 1}, wantErr: `memory key "a\tb" has a control character`},
		{name: "a long text", seed: map[string]any{"t": strings.Repeat("x", MaxText+1)},
			wantErr: `text for memory key "t" is 4,001 bytes, longer than 4,000`},
		{name: "a long list", seed: map[string]any{"l": make([]string, MaxKeep+1)},
			wantErr: `memory key "l": a list holds at most 1,000 items, not 1,001`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewRAM(c.seed, nil)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("NewRAM: %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Scan(context.Background(), "")
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Scan = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestRAMSweepsExpired: in a long chat, expired keys and claims that
// nobody reads again do not pile up.
func TestRAMSweepsExpired(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	r, err := NewRAM(nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sweepEvery/2 - 1 {
		if err := r.Write(ctx, withTTL(set(fmt.Sprint("seen/", i), "x"), time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Claim(ctx, fmt.Sprint("dedupe/", i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	for _, k := range []string{"a", "b"} { // b is the sweepEvery-th write
		if err := r.Write(ctx, set(k, "x")); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.m) != 2 || len(r.claims) != 0 {
		t.Fatalf("after the sweep: %d keys and %d claims, want 2 and 0", len(r.m), len(r.claims))
	}
}
