package slackbot

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// A job is one message to handle.
type job struct {
	msg      engine.Message
	received time.Time
	claimKey string // its key in Config.Claim; "" for none
	slot     *slot  // set while the job runs
}

// dispatcher runs jobs with one queue per channel, so replies in a channel
// keep the order of the messages that caused them while a slow fetch in one
// channel never delays another; a semaphore bounds the work in flight.
// submit never blocks, so the transport's event loop (and its acks) never
// waits for a reply. At most maxBacklog jobs wait per channel: past that
// the oldest waiting one is dropped.
type dispatcher struct {
	handle     func(job)
	sem        chan struct{}
	maxBacklog int
	log        *slog.Logger
	stats      *Stats
	now        func() time.Time // the clock for the backlog warnings

	mu     sync.Mutex
	queues map[string][]job // a channel is present while its worker runs
	drops  dropLog
	wg     sync.WaitGroup
}

func newDispatcher(maxInFlight, maxBacklog int, log *slog.Logger, stats *Stats, handle func(job)) *dispatcher {
	return &dispatcher{
		handle: handle, sem: make(chan struct{}, maxInFlight), maxBacklog: max(maxBacklog, 1),
		log: log, stats: stats, now: time.Now,
		queues: map[string][]job{},
		drops:  dropLog{last: map[string]dropNote{}, pruneAt: 64},
	}
}

func (d *dispatcher) submit(j job) {
	channel := j.msg.ChannelID
	d.mu.Lock()
	q, running := d.queues[channel]
	warn, dropped := false, 0
	if len(q) >= d.maxBacklog {
		q[0] = job{}
		q = q[1:]
		d.stats.Backlog.Add(1)
		warn, dropped = d.drops.note(channel, d.now())
	}
	d.queues[channel] = append(q, j)
	if !running {
		d.wg.Add(1)
		go d.work(channel)
	}
	d.mu.Unlock()
	if warn {
		d.log.Warn("too many messages waiting: the oldest are dropped unanswered", "channel", channel,
			"dropped", dropped, "max_waiting", d.maxBacklog)
	}
}

// work handles a channel's jobs in order until its queue is empty.
func (d *dispatcher) work(channel string) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		q := d.queues[channel]
		if len(q) == 0 {
			delete(d.queues, channel)
			d.mu.Unlock()
			return
		}
		j := q[0]
		q[0] = job{}
		d.queues[channel] = q[1:]
		d.mu.Unlock()
		d.run(j)
	}
}

// run handles one job in a slot. A panic ends only the job: it is logged,
// and the worker goes on with the next one.
func (d *dispatcher) run(j job) {
	j.slot = &slot{sem: d.sem}
	j.slot.take()
	defer j.slot.free()
	defer func() {
		if p := recover(); p != nil {
			d.stats.Panics.Add(1)
			d.log.Error("panic while handling a message; it goes unanswered", "channel", j.msg.ChannelID, "ts", j.msg.TS,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	d.handle(j)
}

// dropWaiting discards every job still waiting in every channel, counts
// them as stopped and returns how many there were. Jobs in flight go on.
func (d *dispatcher) dropWaiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for c, q := range d.queues {
		n += len(q)
		clear(q)
		d.queues[c] = q[:0] // the channel's worker finds it empty and ends
	}
	d.stats.Stopped.Add(int64(n))
	return n
}

// waiting returns how many jobs wait in channel's queue.
func (d *dispatcher) waiting(channel string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queues[channel])
}

// wait blocks until every submitted job is done.
func (d *dispatcher) wait() { d.wg.Wait() }

// A slot is a job's place among the jobs in flight (Config.MaxInFlight). A
// job gives it up while it only waits, for a pacing turn or after a 429, so
// that waiting never holds back other channels.
type slot struct {
	sem  chan struct{}
	held bool
}

func (s *slot) take() { s.sem <- struct{}{}; s.held = true }

func (s *slot) free() {
	if s.held {
		<-s.sem
		s.held = false
	}
}

// sleep waits for d without holding the slot, and takes it again. It
// returns ctx's error, without the slot, if ctx ends first.
func (s *slot) sleep(ctx context.Context, d time.Duration) error {
	s.free()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.retake(ctx)
}

// retake takes the slot back after a wait, or returns ctx's error.
func (s *slot) retake(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lock takes lock (a channel of capacity 1), waiting for it without
// holding the slot, and takes the slot again. It returns ctx's error,
// without the lock, if ctx ends first. A nil slot just waits.
func (s *slot) lock(ctx context.Context, lock chan struct{}) error {
	select {
	case lock <- struct{}{}:
		return nil
	default:
	}
	if s == nil {
		select {
		case lock <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.free()
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := s.retake(ctx); err != nil {
		<-lock
		return err
	}
	return nil
}

// backlogWarnEvery is how often at most a channel's dropped messages are
// logged.
const backlogWarnEvery = time.Minute

// dropLog decides when dropped messages are logged: at once for a
// channel's first drop, then at most once per backlogWarnEvery with the
// number dropped since. It remembers only channels warned about recently.
type dropLog struct {
	last    map[string]dropNote
	pruneAt int
}

type dropNote struct {
	warned time.Time // when the channel was last warned about
	since  int       // drops since then
}

// note counts a drop in channel and reports whether to warn now, with the
// drops to report.
func (l *dropLog) note(channel string, now time.Time) (warn bool, dropped int) {
	n, ok := l.last[channel]
	n.since++
	if ok && now.Sub(n.warned) < backlogWarnEvery {
		l.last[channel] = n
		return false, 0
	}
	l.last[channel] = dropNote{warned: now}
	if len(l.last) > l.pruneAt {
		for c, n := range l.last {
			if now.Sub(n.warned) >= backlogWarnEvery {
				delete(l.last, c)
			}
		}
		l.pruneAt = max(64, 2*len(l.last))
	}
	return true, n.since
}
