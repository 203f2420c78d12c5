package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/memory/memtest"
	"github.com/rulebot/rulebot/internal/slackfake"
)

// BenchmarkReplicas measures built binaries on the fake Slack (Socket
// Mode): b.N "m N" messages, each in a channel of its own so that Slack's
// per-channel pacing stays out of the figures, sent as fast as the fake
// takes them (burst: the latency is mostly queueing) or each after the
// previous reply (one-by-one: the latency of one message); it reports messages answered per second (first send to last
// reply) and the reply latency's p50 and p99 (event sent to reply
// received by the fake), for 1 replica without Redis (the file store), 1
// with Redis and 3 sharing Redis. Run it with a fixed count:
//
//	go test ./cmd/rulebot -run '^$' -bench Replicas -benchtime 2000x
func BenchmarkReplicas(b *testing.B) {
	for _, c := range []struct {
		name     string
		replicas int
		redis    bool
	}{{"1-no-redis", 1, false}, {"1-redis", 1, true}, {"3-redis", 3, true}} {
		for _, mode := range []string{"burst", "one-by-one"} {
			b.Run(c.name+"/"+mode, func(b *testing.B) { benchReplicas(b, c.replicas, c.redis, mode == "one-by-one") })
		}
	}
}

// benchReplicas sends b.N messages to replicas, all at once or (serial)
// each after the previous one's reply.
func benchReplicas(b *testing.B, replicas int, redis, serial bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fake := workspace(b.N)
	b.Cleanup(fake.Close) // after the replicas stop (cleanups run last first)
	dir := b.TempDir()
	rules := dir + "/rules.yaml"
	if err := os.WriteFile(rules, []byte(replicaRules), 0o644); err != nil {
		b.Fatal(err)
	}
	env := slackEnv(fake, rules)
	if redis {
		env = append(env, "REDIS_URL=redis://"+memtest.StartRedis(b, nil)+"/0")
	}
	for i := range replicas {
		cmd := exec.Command(binary, "run")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LOG_LEVEL=warn"}, env...)
		cmd.Dir = b.TempDir()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
		if err := fake.WaitConnections(ctx, slackfake.SocketMode, i+1); err != nil {
			b.Fatal(err)
		}
	}
	n := b.N
	sent := make([]time.Time, n)
	lat := make([]time.Duration, 0, n)
	var last time.Time
	wait := func() {
		p, err := fake.WaitPost(ctx)
		if err != nil {
			b.Fatalf("%d of %d replies: %v", len(lat), n, err)
		}
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(p.Text, "r m "), "%d", &i); err != nil || i < 0 || i >= n {
			b.Fatalf("reply %q", p.Text)
		}
		lat = append(lat, p.Time.Sub(sent[i]))
		last = p.Time
	}
	b.ResetTimer()
	for i := range n {
		sent[i] = time.Now()
		if _, err := fake.Say(ctx, slackfake.Message{User: "UALICE", Channel: fmt.Sprint("C", i), Text: fmt.Sprint("m ", i)}); err != nil {
			b.Fatal(err)
		}
		if serial {
			wait()
		}
	}
	for len(lat) < n {
		wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(n)/last.Sub(sent[0]).Seconds(), "msg/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
