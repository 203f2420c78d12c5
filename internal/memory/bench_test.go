package memory

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchStores are the three stores, each opened afresh for a benchmark.
func benchStores(b *testing.B) []struct {
	name string
	open func(b *testing.B) Store
} {
	addr, problem := launchRedis(b, nil)
	return []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"ram", func(b *testing.B) Store {
			s, err := NewRAM(nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"file", func(b *testing.B) Store {
			s, err := OpenFile(filepath.Join(b.TempDir(), DefaultFile), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(b *testing.B) Store {
			if problem != "" {
				redisUnavailable(b, problem)
			}
			s, err := OpenRedis(context.Background(), RedisConfig{URL: "redis://" + addr, Bot: b.Name()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			// -count runs a sub-benchmark again on the same server: start afresh.
			if err := s.Write(context.Background(), del("karma/UBOB")); err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
}

// BenchmarkKarma is what `@bob++` asks of memory: add 1, then recall.
func BenchmarkKarma(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if err := s.Write(ctx, add("karma/UBOB", 1)); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Get(ctx, "karma/UBOB"); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkConcurrentAdd1000: one op is 1,000 goroutines adding 1 to one
// key at once; no update may be lost.
func BenchmarkConcurrentAdd1000(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			n := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for range 1000 {
					wg.Go(func() {
						if err := s.Write(ctx, add("karma/UBOB", 1)); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				n++
			}
			b.ReportMetric(float64(1000*n)/b.Elapsed().Seconds(), "adds/s")
			if v, err := s.Get(ctx, "karma/UBOB"); err != nil || v != float64(1000*n) {
				b.Fatalf("karma = %v, %v; want %d", v, err, 1000*n)
			}
		})
	}
}
