package slackbot

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkReplyLatency measures, on the fake Slack over loopback, the time
// from an event being written to the Socket Mode websocket to the
// chat.postMessage call arriving at the Web API, one message at a time,
// without pacing.
//
//	go test -run '^$' -bench ReplyLatency -benchtime 1000x ./slackbot/
func BenchmarkReplyLatency(b *testing.B) {
	for _, kind := range []string{Socket, RTM} {
		b.Run(kind, func(b *testing.B) {
			// Posts are not paced here: the latency of each is measured.
			h := startWith(b, newFake(b), kind, testRules, func(c *Config) { c.PostInterval = time.Nanosecond })
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				sent := time.Now()
				h.send(fmt.Sprintf("<@UBOT> echo %d", i))
				p, err := h.fake.WaitPost(h.ctx)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, p.Time.Sub(sent))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
