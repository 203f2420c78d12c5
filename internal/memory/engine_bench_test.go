package memory_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/memory/memtest"
)

// The karma rule of SPEC §6, end to end through the engine: one message is
// an add and a recall.
const karmaRules = `rules:
  - name: karma-up
    match: {regex: '<@(?P<id>[UW][A-Z0-9]+)>\s?\+\+'}
    remember:
      - {key: "karma/{{ match.id }}", add: 1}
    reply: "<@{{ match.id }}> has {{ recall('karma/' + match.id) }} points."
`

// engineStores opens each store afresh for a benchmark.
func engineStores(b *testing.B) []struct {
	name string
	open func(b *testing.B) memory.Store
} {
	addr, problem := memtest.LaunchRedis(b, nil)
	return []struct {
		name string
		open func(b *testing.B) memory.Store
	}{
		{"ram", func(b *testing.B) memory.Store {
			s, err := memory.NewRAM(nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"file", func(b *testing.B) memory.Store {
			s, err := memory.OpenFile(filepath.Join(b.TempDir(), memory.DefaultFile), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(b *testing.B) memory.Store {
			if problem != "" {
				memtest.Unavailable(b, problem)
			}
			bot := strings.NewReplacer("/", "-", ":", "-").Replace(b.Name()) + fmt.Sprint(time.Now().UnixNano())
			s, err := memory.OpenRedis(context.Background(), memory.RedisConfig{URL: "redis://" + addr, Bot: bot})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
}

func karmaEngine(b *testing.B, store memory.Store) *engine.Engine {
	rs, err := engine.Compile("karma.yaml", []byte(karmaRules))
	if err != nil {
		b.Fatal(err)
	}
	return engine.New(rs, engine.Options{BotUserID: "UBOT", Memory: store})
}

func karmaMessage(i int) engine.Message {
	return engine.Message{Text: "<@UBOB> ++", UserID: "UALICE", ChannelID: "CGENERAL", TS: fmt.Sprintf("1700000000.%06d", i)}
}

// BenchmarkEngineKarma: `@bob++` handled by the engine, its add and its
// recall on each store, with the latency's p50 and p99.
func BenchmarkEngineKarma(b *testing.B) {
	ctx := context.Background()
	for _, st := range engineStores(b) {
		b.Run(st.name, func(b *testing.B) {
			eng := karmaEngine(b, st.open(b))
			lat := make([]time.Duration, 0, b.N)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				acts := eng.Handle(ctx, karmaMessage(i))
				lat = append(lat, time.Since(t0))
				i++
				if want := fmt.Sprintf("<@UBOB> has %d points.", i); len(acts) != 1 || acts[0].Text != want {
					b.Fatalf("actions %+v; want the reply %q", acts, want)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkEngineConcurrentKarma1000: one op is 1,000 `@bob++` messages
// handled at once by the engine on one store; none may be lost.
func BenchmarkEngineConcurrentKarma1000(b *testing.B) {
	ctx := context.Background()
	for _, st := range engineStores(b) {
		b.Run(st.name, func(b *testing.B) {
			store := st.open(b)
			eng := karmaEngine(b, store)
			n := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range 1000 {
					wg.Go(func() {
						if acts := eng.Handle(ctx, karmaMessage(i)); len(acts) != 1 || !strings.HasSuffix(acts[0].Text, "points.") {
							b.Errorf("actions %+v", acts)
						}
					})
				}
				wg.Wait()
				n++
			}
			b.ReportMetric(float64(1000*n)/b.Elapsed().Seconds(), "msgs/s")
			if v, err := store.Get(ctx, "karma/UBOB"); err != nil || v != float64(1000*n) {
				b.Fatalf("karma = %v, %v; want %d", v, err, 1000*n)
			}
		})
	}
}
