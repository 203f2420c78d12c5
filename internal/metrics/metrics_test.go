package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rulebot/rulebot/internal/logbuf"
	"github.com/rulebot/rulebot/internal/metrics"
)

// serve starts m's server on a loopback port for the length of the test and
// returns its base URL.
func serve(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}

// get returns the status and body of method on url.
func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches base/metrics and parses it as Prometheus' text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// labels writes a sample's labels as `k=v,k=v` ("" for none).
func labels(m *dto.Metric) string {
	var s []string
	for _, l := range m.GetLabel() {
		s = append(s, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(s, ",")
}

// values returns the value of each sample of a counter or gauge family, by
// labels.
func values(t *testing.T, f *dto.MetricFamily) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			got[labels(m)] = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			got[labels(m)] = m.GetGauge().GetValue()
		default:
			t.Fatalf("%s: type %s", f.GetName(), f.GetType())
		}
	}
	return got
}

var epoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestSeries(t *testing.T) {
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	tests := []struct {
		name   string
		calls  func(m *metrics.Metrics)
		family string
		typ    dto.MetricType
		want   map[string]float64 // by labels
	}{
		{"messages start at 0", func(m *metrics.Metrics) {},
			"rulebot_messages_total", counter, map[string]float64{"": 0}},
		{"messages", func(m *metrics.Metrics) { m.Message(); m.Message(); m.Message() },
			"rulebot_messages_total", counter, map[string]float64{"": 3}},
		{"replies", func(m *metrics.Metrics) { m.Replied(time.Millisecond); m.Replied(time.Second) },
			"rulebot_replies_total", counter, map[string]float64{"": 2}},
		{"no rule label before rules are loaded", func(m *metrics.Metrics) { m.RuleFired("hello") },
			"rulebot_rule_fires_total", counter, nil},
		{"every loaded rule starts at 0", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"hello", "karma", "standup"}, epoch)
			m.RuleFired("hello")
			m.RuleFired("hello")
			m.RuleFired("standup")
		}, "rulebot_rule_fires_total", counter,
			map[string]float64{"rule=hello": 2, "rule=karma": 0, "rule=standup": 1}},
		{"a rule not loaded is not counted", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"hello"}, epoch)
			m.RuleFired("gone")
			m.FetchFailed("gone")
			m.ScheduleFired("gone")
		}, "rulebot_rule_fires_total", counter, map[string]float64{"rule=hello": 0}},
		{"fetch errors", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"hello", "weather", "stock"}, epoch)
			m.FetchFailed("weather")
			m.FetchFailed("weather")
			m.FetchFailed("stock")
		}, "rulebot_fetch_errors_total", counter, map[string]float64{"rule=weather": 2, "rule=stock": 1}},
		{"schedule fires", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"hello", "standup"}, epoch)
			m.ScheduleFired("standup")
		}, "rulebot_schedule_fires_total", counter, map[string]float64{"rule=standup": 1}},
		{"dropped, counted here and read from elsewhere", func(m *metrics.Metrics) {
			m.Dropped("bot_flood")
			m.Dropped("bot_flood")
			m.Dropped("reply_truncated")
			m.DroppedFrom("backlog", func() int64 { return 7 })
			m.DroppedFrom("reply_truncated", func() int64 { return 10 })
		}, "rulebot_dropped_total", counter,
			map[string]float64{"reason=bot_flood": 2, "reason=reply_truncated": 11, "reason=backlog": 7}},
		{"rules loaded", func(m *metrics.Metrics) { m.RulesLoaded([]string{"a", "b", "c"}, epoch) },
			"rulebot_rules_loaded", gauge, map[string]float64{"": 3}},
		{"a failed reload keeps the rules loaded", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"a", "b", "c"}, epoch)
			m.ReloadFailed()
		}, "rulebot_rules_loaded", gauge, map[string]float64{"": 3}},
		{"no reload yet", func(m *metrics.Metrics) {},
			"rulebot_config_last_reload_successful", gauge, map[string]float64{"": 0}},
		{"reload successful", func(m *metrics.Metrics) { m.RulesLoaded([]string{"a"}, epoch) },
			"rulebot_config_last_reload_successful", gauge, map[string]float64{"": 1}},
		{"reload failed", func(m *metrics.Metrics) { m.RulesLoaded([]string{"a"}, epoch); m.ReloadFailed() },
			"rulebot_config_last_reload_successful", gauge, map[string]float64{"": 0}},
		{"reload successful again", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"a"}, epoch)
			m.ReloadFailed()
			m.RulesLoaded([]string{"a", "b"}, epoch.Add(time.Minute))
		}, "rulebot_config_last_reload_successful", gauge, map[string]float64{"": 1}},
		{"reload timestamp", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"a"}, epoch.Add(1500*time.Millisecond))
		}, "rulebot_config_last_reload_success_timestamp_seconds", gauge,
			map[string]float64{"": float64(epoch.Unix()) + 1.5}},
		{"a failed reload keeps the timestamp of the last success", func(m *metrics.Metrics) {
			m.RulesLoaded([]string{"a"}, epoch)
			m.ReloadFailed()
		}, "rulebot_config_last_reload_success_timestamp_seconds", gauge,
			map[string]float64{"": float64(epoch.Unix())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New(nil)
			tt.calls(m)
			fams := scrape(t, serve(t, m))
			f := fams[tt.family]
			if f == nil {
				if len(tt.want) == 0 {
					return // a vector with no series yet is not written
				}
				t.Fatalf("%s missing from /metrics; got %v", tt.family, slices.Sorted(maps.Keys(fams)))
			}
			if f.GetType() != tt.typ {
				t.Errorf("%s is a %s, want %s", tt.family, f.GetType(), tt.typ)
			}
			if f.GetHelp() == "" {
				t.Errorf("%s has no HELP", tt.family)
			}
			if got := values(t, f); !maps.Equal(got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.family, got, tt.want)
			}
		})
	}
}

func TestReplySeconds(t *testing.T) {
	m := metrics.New(nil)
	took := []time.Duration{
		500 * time.Microsecond, // le 0.001
		time.Millisecond,       // le 0.001: bounds are inclusive
		3 * time.Millisecond,   // le 0.005
		200 * time.Millisecond, // le 0.25
		1200 * time.Millisecond,
		29 * time.Second,
		45 * time.Second, // +Inf only
	}
	var sum float64
	for _, d := range took {
		m.Replied(d)
		sum += d.Seconds()
	}
	fams := scrape(t, serve(t, m))
	f := fams["rulebot_reply_seconds"]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) != 1 {
		t.Fatalf("rulebot_reply_seconds = %v, want one histogram", f)
	}
	h := f.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != uint64(len(took)) {
		t.Errorf("count = %d, want %d", h.GetSampleCount(), len(took))
	}
	if d := h.GetSampleSum() - sum; d > 1e-9 || d < -1e-9 {
		t.Errorf("sum = %g, want %g", h.GetSampleSum(), sum)
	}
	if got := values(t, fams["rulebot_replies_total"])[""]; got != float64(len(took)) {
		t.Errorf("rulebot_replies_total = %g, want %d", got, len(took))
	}
	var bounds []float64
	got := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		got[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	inf := math.Inf(1)
	if want := append(slices.Clone(metrics.ReplyBuckets), inf); !slices.Equal(bounds, want) {
		t.Errorf("bucket bounds %v, want %v", bounds, want)
	}
	want := map[float64]uint64{.001: 2, .0025: 2, .005: 3, .01: 3, .025: 3, .05: 3, .1: 3, .25: 4,
		.5: 4, 1: 4, 2.5: 5, 5: 5, 10: 5, 30: 6, inf: 7}
	if !maps.Equal(got, want) {
		t.Errorf("cumulative buckets %v, want %v", got, want)
	}
	if b := metrics.ReplyBuckets; b[0] > .001 || b[len(b)-1] < 30 {
		t.Errorf("buckets %v do not span 1 ms to 30 s", b)
	}
}

func TestRuntimeCollectors(t *testing.T) {
	fams := scrape(t, serve(t, metrics.New(nil)))
	for name, typ := range map[string]dto.MetricType{
		"go_goroutines":                 dto.MetricType_GAUGE,
		"go_gc_duration_seconds":        dto.MetricType_SUMMARY,
		"go_memstats_heap_alloc_bytes":  dto.MetricType_GAUGE,
		"process_cpu_seconds_total":     dto.MetricType_COUNTER,
		"process_resident_memory_bytes": dto.MetricType_GAUGE,
	} {
		f := fams[name]
		if f == nil {
			t.Errorf("%s missing from /metrics", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
	}
	if g := fams["go_goroutines"]; g != nil && g.GetMetric()[0].GetGauge().GetValue() < 1 {
		t.Errorf("go_goroutines = %v", g.GetMetric()[0].GetGauge().GetValue())
	}
}

// TestRegistriesApart: each Metrics has its own registry, so two can live
// in one process (the default registry would panic on the second) and do
// not count each other's events.
func TestRegistriesApart(t *testing.T) {
	a, b := metrics.New(nil), metrics.New(nil)
	a.Message()
	a.Message()
	b.Message()
	for m, want := range map[*metrics.Metrics]float64{a: 2, b: 1} {
		if got := values(t, scrape(t, serve(t, m))["rulebot_messages_total"])[""]; got != want {
			t.Errorf("rulebot_messages_total = %g, want %g", got, want)
		}
	}
}

func TestHealthz(t *testing.T) {
	m := metrics.New(nil)
	base := serve(t, m)
	steps := []struct {
		do       func()
		status   int
		body     string
		scenario string
	}{
		{func() {}, 503, "no rules loaded\n", "at start"},
		{func() { m.Connected() }, 503, "no rules loaded\n", "connected, no rules yet"},
		{func() { m.Disconnected("not connected to Slack yet"); m.RulesLoaded([]string{"a"}, epoch) },
			503, "not connected to Slack yet\n", "rules, not connected"},
		{func() { m.Connected() }, 200, "ok\n", "connected with rules"},
		{func() { m.ReloadFailed() }, 200, "ok\n", "a failed reload keeps the old rules"},
		{func() { m.Disconnected("reconnecting to Slack") }, 503, "reconnecting to Slack\n", "connection lost"},
		{func() { m.Connected() }, 200, "ok\n", "reconnected"},
		{func() { m.Disconnected("stopping") }, 503, "stopping\n", "stopping"},
	}
	for _, s := range steps {
		s.do()
		status, body := get(t, "GET", base+"/healthz")
		if status != s.status || body != s.body {
			t.Errorf("%s: /healthz = %d %q, want %d %q", s.scenario, status, body, s.status, s.body)
		}
		if ready, reason := m.Health(); ready != (s.status == 200) || (!ready && reason+"\n" != s.body) {
			t.Errorf("%s: Health() = %v, %q", s.scenario, ready, reason)
		}
	}
}

func TestRoutes(t *testing.T) {
	m := metrics.New(nil)
	m.RulesLoaded([]string{"a"}, epoch)
	m.Connected()
	base := serve(t, m)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"HEAD", "/healthz", 200},
		{"GET", "/metrics", 200},
		{"HEAD", "/metrics", 200},
		{"GET", "/", 404},
		{"GET", "/health", 404},
		{"GET", "/metrics/x", 404},
		{"GET", "/healthz/", 404},
		{"POST", "/nothing", 404},
		{"POST", "/metrics", 405},
		{"PUT", "/healthz", 405},
		{"DELETE", "/healthz", 405},
		{"OPTIONS", "/metrics", 405},
	}
	for _, tt := range tests {
		status, _ := get(t, tt.method, base+tt.path)
		if status != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, status, tt.status)
		}
	}
}

// syncBuffer is a log safe for concurrent writes.
type syncBuffer = logbuf.Buffer

// waitFor fails the test when s has not stopped within a generous bound.
func waitFor(t *testing.T, s *metrics.Server, bound time.Duration) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(bound):
		t.Fatalf("server still running %s after its context ended", bound)
		return nil
	}
}

func TestServe(t *testing.T) {
	var logged syncBuffer
	m := metrics.New(slog.New(slog.NewTextHandler(&logged, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().(*net.TCPAddr)
	if addr.Port == 0 || !addr.IP.IsLoopback() {
		t.Fatalf("Addr() = %v, want a loopback address with the port chosen", addr)
	}
	if want := "addr=" + addr.String(); !strings.Contains(logged.String(), want) {
		t.Errorf("log %q does not say %s", logged.String(), want)
	}
	if status, _ := get(t, "GET", "http://"+addr.String()+"/healthz"); status != 503 {
		t.Errorf("/healthz = %d, want 503", status)
	}

	// The port is taken: a second server fails at once, naming -http.
	if _, err := m.Serve(ctx, addr.String()); err == nil || !strings.Contains(err.Error(), "-http") {
		t.Errorf("Serve on a port in use: %v, want an error naming -http", err)
	}
	if _, err := m.Serve(ctx, "127.0.0.1:notaport"); err == nil {
		t.Error("Serve on a bad address: no error")
	}

	cancel()
	if err := waitFor(t, s, 30*time.Second); err != nil {
		t.Errorf("Wait after cancel: %v", err)
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Errorf("%s still accepts connections after shutdown", addr)
	}
}

// TestServeShutdownBounded: a request still in flight does not hold the
// shutdown past ShutdownTimeout; it is cut off then.
func TestServeShutdownBounded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := metrics.New(nil).Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A request whose announced body never comes: the server waits for it
	// (to keep the connection) until its ReadTimeout, 30 s.
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// A full request on a second connection, so the first one has most
	// likely been read before the shutdown starts.
	if status, _ := get(t, "GET", "http://"+s.Addr().String()+"/healthz"); status != 503 {
		t.Fatalf("/healthz = %d", status)
	}
	cancel()
	if err := waitFor(t, s, metrics.ShutdownTimeout+10*time.Second); err != nil {
		t.Errorf("Wait after cancel: %v", err)
	}
	// The stuck connection was closed at the end of the shutdown.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("stuck connection still open after shutdown")
	}
}

func TestDefaultAddr(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"PORT": ""}, ""},
		{map[string]string{"PORT": "5000"}, ":5000"},
		{map[string]string{"PORT": " 8080\n"}, ":8080"},
		{map[string]string{"HTTP_PORT": "9000"}, ""},
	}
	for _, tt := range tests {
		if got := metrics.DefaultAddr(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("DefaultAddr(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestLabelsBounded: the rule label holds only the rules loaded now, and
// the reason label at most 32 reasons and "other", whatever the callers
// pass.
func TestLabelsBounded(t *testing.T) {
	m := metrics.New(nil)
	base := serve(t, m)
	m.RulesLoaded([]string{"a", "b", "c"}, epoch)
	for _, r := range []string{"a", "b", "b", "c"} {
		m.RuleFired(r)
		m.FetchFailed(r)
		m.ScheduleFired(r)
	}
	m.RulesLoaded([]string{"b", "d"}, epoch.Add(time.Minute)) // a and c are gone
	for i := range 1000 {
		m.RuleFired(fmt.Sprint("unknown", i))
		m.FetchFailed(fmt.Sprint("unknown", i))
	}
	m.RuleFired("a") // a straggler from the old rules
	m.RuleFired("d")

	fams := scrape(t, base)
	want := map[string]map[string]float64{
		"rulebot_rule_fires_total":     {"rule=b": 2, "rule=d": 1},
		"rulebot_fetch_errors_total":   {"rule=b": 2},
		"rulebot_schedule_fires_total": {"rule=b": 2},
	}
	for name, w := range want {
		if got := values(t, fams[name]); !maps.Equal(got, w) {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}

	// A failed reload changes nothing; a reload of the same rules keeps
	// the counts.
	m.ReloadFailed()
	m.RulesLoaded([]string{"d", "b"}, epoch.Add(2*time.Minute))
	if got := values(t, scrape(t, base)["rulebot_rule_fires_total"]); !maps.Equal(got, want["rulebot_rule_fires_total"]) {
		t.Errorf("after reloading the same rules: %v, want %v", got, want["rulebot_rule_fires_total"])
	}

	const reasons = 100
	for i := range reasons {
		m.Dropped(fmt.Sprint("reason", i))
	}
	m.Dropped("reason0") // a reason seen before keeps its series
	m.DroppedFrom("late", func() int64 { return 5 })
	got := values(t, scrape(t, base)["rulebot_dropped_total"])
	if len(got) != 33 {
		t.Errorf("rulebot_dropped_total has %d series, want 32 and other: %v", len(got), got)
	}
	if got["reason=reason0"] != 2 || got["reason=other"] != reasons-32+5 {
		t.Errorf("rulebot_dropped_total = %v, want reason0 2 and other %d", got, reasons-32+5)
	}
	var total float64
	for _, n := range got {
		total += n
	}
	if total != reasons+1+5 {
		t.Errorf("rulebot_dropped_total adds up to %g, want %d: nothing is lost", total, reasons+1+5)
	}
}

// TestConcurrent calls the whole API from many goroutines while reloading
// and scraping (run with -race), then checks that no count was lost.
func TestConcurrent(t *testing.T) {
	m := metrics.New(nil)
	base := serve(t, m)
	rules := []string{"a", "b", "c"}
	m.RulesLoaded(rules, epoch)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := rules[(w+i)%len(rules)]
				m.Message()
				m.RuleFired(r)
				m.FetchFailed(r)
				m.ScheduleFired(r)
				m.Replied(time.Duration(i) * time.Millisecond)
				m.Dropped(fmt.Sprint("reason", (w*each+i)%40))
				if i%50 == 0 {
					m.Disconnected("reconnecting")
					m.Connected()
				}
			}
		})
	}
	wg.Go(func() { // reload the same rules and scrape meanwhile
		for range 10 {
			m.RulesLoaded(rules, epoch)
			m.ReloadFailed()
			m.DroppedFrom("backlog", func() int64 { return 1 })
			scrape(t, base)
			get(t, "GET", base+"/healthz")
		}
	})
	wg.Wait()

	fams := scrape(t, base)
	const n = workers * each
	sum := func(name string) float64 {
		var s float64
		for _, v := range values(t, fams[name]) {
			s += v
		}
		return s
	}
	for name, want := range map[string]float64{
		"rulebot_messages_total":       n,
		"rulebot_replies_total":        n,
		"rulebot_rule_fires_total":     n,
		"rulebot_fetch_errors_total":   n,
		"rulebot_schedule_fires_total": n,
		"rulebot_dropped_total":        n + 1,
	} {
		if got := sum(name); got != want {
			t.Errorf("%s adds up to %g, want %g", name, got, want)
		}
	}
	if c := fams["rulebot_reply_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); c != n {
		t.Errorf("rulebot_reply_seconds count = %d, want %d", c, n)
	}
}

// BenchmarkAPI is the cost the bot pays per event, from parallel callers.
func BenchmarkAPI(b *testing.B) {
	m := metrics.New(nil)
	m.RulesLoaded([]string{"hello", "karma", "weather"}, epoch)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Message()
			m.RuleFired("karma")
			m.Replied(120 * time.Millisecond)
			m.Dropped("bot_flood")
		}
	})
}
