// Package metrics is what rulebot tells its operators: the Prometheus
// series of SPEC §9 (messages, rule fires, replies and their latency, fetch
// errors, drops, schedule fires, reloads), the Go runtime and process
// collectors, and a health check, served over HTTP at /metrics and /healthz.
//
// A Metrics keeps everything in its own prometheus.Registry, never the
// default one, so two of them (two bots in one test) do not mix. Its methods
// are safe for concurrent use and cheap (an atomic add, a map look-up under
// a read lock), and never wait on the network: a slow scraper or a dead
// HTTP server cannot hold up the bot.
//
// Label values stay bounded. A rule label (rulebot_rule_fires_total,
// rulebot_fetch_errors_total, rulebot_schedule_fires_total) is only ever the
// name of a rule loaded now: RulesLoaded says which, the series of rules
// that are gone are deleted, and a call naming any other rule (one still
// running from the rules before a reload) is not counted. A reason label
// (rulebot_dropped_total) takes at most 32 values and "other", which
// counts the drops of any further reason.
package metrics

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// ReplyBuckets are the upper bounds, in seconds, of rulebot_reply_seconds.
//
// A reply's latency, from the event in to the reply posted, spans four
// decades: about a millisecond when nothing but the rules runs (the fake
// Slack of the tests), tens to hundreds of milliseconds for one Slack API
// call, a second or more when posts to a channel are paced to one a second,
// and up to tens of seconds for a slow fetch (5 s by default) or a 429
// retried after its Retry-After. Three bounds per decade (1, 2.5, 5) keep
// every quantile that histogram_quantile estimates within a factor of 2.5
// of the truth, with 14 buckets. A reply slower than 30 s (a retry gives up
// after two minutes) lands in +Inf only; the _sum still counts it.
var ReplyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// maxReasons bounds the values of rulebot_dropped_total's reason label.
// Reasons are constants in the code (a handful); a bug passing, say, an
// error text cannot grow the series without end.
const maxReasons = 32

// otherReason counts the drops whose reason came past maxReasons.
const otherReason = "other"

// Metrics holds rulebot's series and its health. Make one with New.
type Metrics struct {
	log *slog.Logger
	reg *prometheus.Registry

	messages      prometheus.Counter
	ruleFires     *prometheus.CounterVec
	replies       prometheus.Counter
	replySeconds  prometheus.Histogram
	fetchErrors   *prometheus.CounterVec
	dropped       *dropCollector
	scheduleFires *prometheus.CounterVec
	rulesLoaded   prometheus.Gauge
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge

	mu    sync.RWMutex
	rules map[string]bool // the rules loaded now; nil before the first load

	notReady atomic.Pointer[string] // why the bot is not connected to Slack; nil when it is
}

// New returns Metrics with every series at zero, not ready ("not connected
// to Slack yet", and no rules loaded). log gets what Serve has to say; nil
// discards it.
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		log: log,
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rulebot_messages_total",
			Help: "Messages received from Slack and handed to the rules.",
		}),
		ruleFires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulebot_rule_fires_total",
			Help: "Times each rule fired (its match, when and cooldown passed), schedule occurrences included.",
		}, []string{"rule"}),
		replies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rulebot_replies_total",
			Help: "Replies posted to Slack.",
		}),
		replySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rulebot_reply_seconds",
			Help:    "Time from a Slack event in to the reply to it posted.",
			Buckets: ReplyBuckets,
		}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulebot_fetch_errors_total",
			Help: "Fetches of each rule that failed (network error, timeout, non-2xx, body too large).",
		}, []string{"rule"}),
		dropped: &dropCollector{
			desc: prometheus.NewDesc("rulebot_dropped_total",
				"Messages, replies or parts of them dropped, by reason.", []string{"reason"}, nil),
			counts: map[string]*atomic.Int64{},
		},
		scheduleFires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rulebot_schedule_fires_total",
			Help: "Occurrences of each schedule rule that fired.",
		}, []string{"rule"}),
		rulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rulebot_rules_loaded",
			Help: "Rules in the rules file in use.",
		}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rulebot_config_last_reload_successful",
			Help: "Whether the last load of the rules file succeeded (1) or failed and the old rules were kept (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rulebot_config_last_reload_success_timestamp_seconds",
			Help: "When the rules file was last loaded successfully, in seconds since the Unix epoch.",
		}),
	}
	m.reg.MustRegister(
		m.messages, m.ruleFires, m.replies, m.replySeconds, m.fetchErrors, m.dropped,
		m.scheduleFires, m.rulesLoaded, m.reloadOK, m.reloadTime,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.Disconnected("not connected to Slack yet")
	return m
}

// Message counts a message received from Slack (rulebot_messages_total).
func (m *Metrics) Message() { m.messages.Inc() }

// RuleFired counts a fire of the named rule (rulebot_rule_fires_total), as
// engine.Options.Fired reports it.
func (m *Metrics) RuleFired(rule string) { m.countRule(m.ruleFires, rule) }

// Replied counts a reply posted to Slack (rulebot_replies_total) and
// records d, the time from the event in to the reply posted
// (rulebot_reply_seconds).
func (m *Metrics) Replied(d time.Duration) {
	m.replies.Inc()
	m.replySeconds.Observe(d.Seconds())
}

// FetchFailed counts a failed fetch of the named rule
// (rulebot_fetch_errors_total).
func (m *Metrics) FetchFailed(rule string) { m.countRule(m.fetchErrors, rule) }

// ScheduleFired counts an occurrence of the named schedule rule that fired
// (rulebot_schedule_fires_total).
func (m *Metrics) ScheduleFired(rule string) { m.countRule(m.scheduleFires, rule) }

// Dropped counts one thing dropped for reason (rulebot_dropped_total), as
// engine.Options.Dropped reports it.
func (m *Metrics) Dropped(reason string) { m.dropped.add(reason) }

// DroppedFrom adds count, a counter kept elsewhere (slackbot.Stats), to
// rulebot_dropped_total{reason}; it is read at each scrape, so it must be
// cheap and safe for concurrent use, like an atomic's Load. A second
// DroppedFrom for the same reason replaces the first.
func (m *Metrics) DroppedFrom(reason string, count func() int64) { m.dropped.from(reason, count) }

// RulesLoaded records a successful load (or reload) of the rules file at
// time at, with the names of its rules, schedule rules included:
// rulebot_rules_loaded becomes their number,
// rulebot_config_last_reload_successful 1 and its timestamp at. From now on
// the rule label takes only these names: the series of rules no longer
// loaded are deleted, and rulebot_rule_fires_total starts at 0 for every
// rule, so a rule that never fires shows as one.
func (m *Metrics) RulesLoaded(rules []string, at time.Time) {
	names := make(map[string]bool, len(rules))
	for _, r := range rules {
		names[r] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for old := range m.rules {
		if !names[old] {
			for _, v := range []*prometheus.CounterVec{m.ruleFires, m.fetchErrors, m.scheduleFires} {
				v.DeleteLabelValues(old)
			}
		}
	}
	m.rules = names
	for r := range names {
		m.ruleFires.WithLabelValues(r)
	}
	m.rulesLoaded.Set(float64(len(names)))
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(at.UnixMilli()) / 1e3)
}

// ReloadFailed records a reload of the rules file that failed: the old
// rules stay, so only rulebot_config_last_reload_successful changes, to 0.
func (m *Metrics) ReloadFailed() { m.reloadOK.Set(0) }

// countRule adds one to v's series for rule, when rule is loaded now.
func (m *Metrics) countRule(v *prometheus.CounterVec, rule string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.rules[rule] {
		v.WithLabelValues(rule).Inc()
	}
}

// Connected records that the bot is connected to Slack: /healthz answers
// 200 once rules are loaded too.
func (m *Metrics) Connected() { m.notReady.Store(nil) }

// Disconnected records that the bot is not connected to Slack, and why
// (reconnecting, stopping): /healthz answers 503 with the reason.
func (m *Metrics) Disconnected(reason string) { m.notReady.Store(&reason) }

// Health reports whether the bot is ready (connected to Slack, with rules
// loaded), and if not, why.
func (m *Metrics) Health() (ready bool, reason string) {
	m.mu.RLock()
	loaded := m.rules != nil
	m.mu.RUnlock()
	if !loaded {
		return false, "no rules loaded"
	}
	if r := m.notReady.Load(); r != nil {
		return false, *r
	}
	return true, ""
}

// dropCollector is rulebot_dropped_total: counts kept here, per reason, plus
// counts read from elsewhere at each scrape.
type dropCollector struct {
	desc *prometheus.Desc

	mu     sync.RWMutex
	counts map[string]*atomic.Int64
	reads  map[string]func() int64
}

// add counts one drop for reason.
func (d *dropCollector) add(reason string) {
	d.mu.RLock()
	n := d.counts[reason]
	d.mu.RUnlock()
	if n == nil {
		d.mu.Lock()
		reason = d.bounded(reason)
		if n = d.counts[reason]; n == nil {
			n = new(atomic.Int64)
			d.counts[reason] = n
		}
		d.mu.Unlock()
	}
	n.Add(1)
}

// from adds count to reason's drops.
func (d *dropCollector) from(reason string, count func() int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reads == nil {
		d.reads = map[string]func() int64{}
	}
	d.reads[d.bounded(reason)] = count
}

// bounded returns reason, or otherReason when there are already maxReasons
// others. d.mu is held.
func (d *dropCollector) bounded(reason string) string {
	if d.counts[reason] != nil || d.reads[reason] != nil {
		return reason
	}
	seen := len(d.counts) + len(d.reads)
	for r := range d.reads {
		if d.counts[r] != nil {
			seen--
		}
	}
	if seen >= maxReasons {
		return otherReason
	}
	return reason
}

func (d *dropCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *dropCollector) Collect(ch chan<- prometheus.Metric) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	total := make(map[string]int64, len(d.counts)+len(d.reads))
	for r, n := range d.counts {
		total[r] += n.Load()
	}
	for r, f := range d.reads {
		total[r] += f()
	}
	for r, n := range total {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(n), r)
	}
}
