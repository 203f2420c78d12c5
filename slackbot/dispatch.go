package slackbot

import (
	"sync"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// A job is one message to handle.
type job struct {
	msg      engine.Message
	received time.Time
}

// dispatcher runs jobs with one queue per channel, so replies in a channel
// keep the order of the messages that caused them while a slow fetch in one
// channel never delays another; a semaphore bounds the work in flight.
// submit never blocks, so the transport's event loop (and its acks) never
// waits for a reply.
type dispatcher struct {
	handle func(job)
	sem    chan struct{}

	mu     sync.Mutex
	queues map[string][]job // a channel is present while its worker runs
	wg     sync.WaitGroup
}

func newDispatcher(maxInFlight int, handle func(job)) *dispatcher {
	return &dispatcher{handle: handle, sem: make(chan struct{}, maxInFlight), queues: map[string][]job{}}
}

func (d *dispatcher) submit(j job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q, running := d.queues[j.msg.ChannelID]
	d.queues[j.msg.ChannelID] = append(q, j)
	if !running {
		d.wg.Add(1)
		go d.work(j.msg.ChannelID)
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

		d.sem <- struct{}{}
		d.handle(j)
		<-d.sem
	}
}

// wait blocks until every submitted job is done.
func (d *dispatcher) wait() { d.wg.Wait() }
