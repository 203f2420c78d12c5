package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rulebot/rulebot/internal/memory"
)

// The karma rule of SPEC §6, as the engine drives a store: one Write per
// `remember:` item, then recall and recall_all.
func Example() {
	ctx := context.Background()
	clock := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	mem, err := memory.NewRAM(map[string]any{"karma/UBOB": 3}, func() time.Time { return clock })
	if err != nil {
		panic(err)
	}
	defer mem.Close()

	mem.Write(ctx, memory.Write{Key: "karma/UBOB", Op: memory.Add, Number: 1})
	mem.Write(ctx, memory.Write{Key: "karma/UCAROL", Op: memory.Add, Number: 1})
	mem.Write(ctx, memory.Write{Key: "seen/UBOB", Op: memory.Set, Text: "2026-11-26", TTL: 720 * time.Hour})
	fmt.Println(mem.Get(ctx, "karma/UBOB"))
	fmt.Println(mem.Scan(ctx, "karma/"))

	err = mem.Write(ctx, memory.Write{Key: "seen/UBOB", Op: memory.Add, Number: 1})
	fmt.Println(err)

	clock = clock.Add(720 * time.Hour)
	fmt.Println(mem.Get(ctx, "seen/UBOB"))
	// Output:
	// 4 <nil>
	// map[UBOB:4 UCAROL:1] <nil>
	// cannot add to memory key "seen/UBOB": it holds text
	// <nil> <nil>
}
