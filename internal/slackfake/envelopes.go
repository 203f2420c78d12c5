package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// MaxSocketConnections is how many Socket Mode connections an app may
// have open at once: Slack refuses one more with a disconnect message
// whose reason is "too_many_websockets".
const MaxSocketConnections = 10

// retryReason is the retry_reason of an envelope redelivered because it was
// not acked in time: Slack's reason for an event not acknowledged within
// 3 seconds.
const retryReason = "http_timeout"

// Delivery is one events_api envelope written to a Socket Mode connection.
type Delivery struct {
	EnvelopeID string
	EventID    string
	// Conn is the connection it was written to, numbered from 1 in the
	// order the Socket Mode connections were established.
	Conn         int
	RetryAttempt int
	RetryReason  string
	Time         time.Time
	// Acked says an ack for the envelope came back on that connection.
	Acked bool
}

// envelope is an envelope the fake may still have to redeliver.
type envelope struct {
	id, eventID string
	event       map[string]any
	attempt     int    // retry_attempt of the latest delivery
	reason      string // retry_reason of the latest delivery
	last        int    // index of the latest delivery in Server.deliveries
	conn        *wsConn
	// retryAt, when set, is when to redeliver: the latest delivery was not
	// acked in time, or its connection dropped first.
	retryAt time.Time
}

// EventOptions tunes the envelopes sent by SendEvent.
type EventOptions struct {
	// EnvelopeID and EventID are used instead of fresh unique IDs when set.
	// Sending again with the IDs of an earlier envelope (with RetryAttempt
	// and RetryReason set, as Slack does) simulates a redelivery by hand.
	EnvelopeID string
	EventID    string
	// RetryAttempt and RetryReason (e.g. 1 and "http_timeout") are the
	// envelope's retry_attempt and retry_reason.
	RetryAttempt int
	RetryReason  string
	// AppMention delivers the event a second time as an "app_mention" event,
	// as Slack does for a message mentioning the bot when the app subscribes
	// to both: right after the first envelope, in its own envelope whose
	// envelope and event IDs are the first one's plus "-mention" (which,
	// with several connections, may go to another connection). The twin has
	// no channel_type, as Slack's app_mention has none.
	AppMention bool
}

// SendEvent delivers event, the inner event such as {"type":"message",...},
// in an events_api envelope to one live Socket Mode connection, taking them
// in turn (round-robin), first waiting for one if there is none. It returns
// the envelope ID, the one to pass to WaitAck. The envelope is redelivered
// if it is not acked in time (see the package documentation).
//
// SendEvent is for events Say cannot build (edits, deletions, joins,
// redeliveries by hand, malformed events): it sends event as given, adding
// only the fields Slack always sends that it lacks (see fillLocked:
// event_ts; team, client_msg_id and channel_type for a person's message).
// A message event in a channel the fake does not know adds the channel (a
// DM when its channel_type is "im"), with the bot and the author as
// members, and the author of a message in a known channel becomes a
// member.
func (s *Server) SendEvent(ctx context.Context, event map[string]any, opts EventOptions) (envelopeID string, err error) {
	s.noteEvent(event)
	event = maps.Clone(event)
	s.mu.Lock()
	s.fillLocked(event, false)
	s.mu.Unlock()
	events := []map[string]any{event}
	if opts.AppMention {
		events = append(events, appMention(event))
	}
	ids, err := s.deliver(ctx, events, opts)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// deliver sends events, each in its own envelope, waiting for a Socket
// Mode connection first; envelopes after the first have the first one's
// envelope and event IDs plus "-mention". It returns the envelope IDs.
func (s *Server) deliver(ctx context.Context, events []map[string]any, opts EventOptions) ([]string, error) {
	if err := s.waitFor(ctx, "a Socket Mode connection", func() bool {
		return len(s.live(SocketMode)) > 0
	}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if opts.EnvelopeID == "" {
		opts.EnvelopeID = s.newIDLocked("env")
	}
	if opts.EventID == "" {
		opts.EventID = s.newIDLocked("Ev")
	}
	s.mu.Unlock()

	var ids []string
	for i, ev := range events {
		e := &envelope{id: opts.EnvelopeID, eventID: opts.EventID, event: ev,
			attempt: opts.RetryAttempt, reason: opts.RetryReason}
		if i > 0 {
			e.id += "-mention"
			e.eventID += "-mention"
		}
		if err := s.send(ctx, e, nil); err != nil {
			return nil, err
		}
		ids = append(ids, e.id)
	}
	return ids, nil
}

// send writes e to the next live Socket Mode connection other than not
// (unless not is the only one), waiting for one if there is none. A failed
// write closes the connection, which then redelivers e as any envelope
// its connection dropped unacked.
func (s *Server) send(ctx context.Context, e *envelope, not *wsConn) error {
	var (
		c               *wsConn
		attempt, reason = 0, ""
	)
	if err := s.waitFor(ctx, "a Socket Mode connection", func() bool {
		live := s.live(SocketMode)
		if len(live) > 1 && not != nil {
			live = slices.DeleteFunc(live, func(x *wsConn) bool { return x == not })
		}
		if len(live) == 0 {
			return false
		}
		c = live[s.turn%len(live)]
		s.turn++
		attempt, reason = e.attempt, e.reason
		e.last, e.conn, e.retryAt = len(s.deliveries), c, time.Time{}
		s.deliveries = append(s.deliveries, Delivery{EnvelopeID: e.id, EventID: e.eventID, Conn: c.n,
			RetryAttempt: attempt, RetryReason: reason, Time: time.Now()})
		s.byEnvelope[e.id] = append(s.byEnvelope[e.id], e.last)
		s.outstanding[e.id] = e
		s.notifyLocked()
		return true
	}); err != nil {
		return err
	}
	cfg := s.cfg
	if err := c.writeJSON(ctx, object{
		"envelope_id":              e.id,
		"type":                     "events_api",
		"accepts_response_payload": false,
		"retry_attempt":            attempt,
		"retry_reason":             reason,
		"payload": object{
			"token":      "slackfake-verification-token",
			"team_id":    cfg.teamID,
			"api_app_id": cfg.appID,
			"event":      e.event,
			"type":       "event_callback",
			"event_id":   e.eventID,
			"event_time": time.Now().Unix(),
			"authorizations": []object{{
				"enterprise_id":         nil,
				"team_id":               cfg.teamID,
				"user_id":               cfg.userID,
				"is_bot":                true,
				"is_enterprise_install": false,
			}},
			"is_ext_shared_channel": false,
			"event_context":         eventContext(e.eventID),
		},
	}); err != nil {
		c.ws.Close() // a websocket is unusable after a failed write
	}
	return nil
}

// receiveSocketMode records the client's acks, {"envelope_id":"...",
// "payload":...}, received on c: an ack acknowledges the latest delivery
// of the envelope on c not yet acknowledged (the one most likely to be
// answered: an earlier one's ack was late or lost). Other messages are
// ignored.
func (s *Server) receiveSocketMode(c *wsConn, msg []byte) {
	var m struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(msg, &m) != nil || m.EnvelopeID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loseAcks > 0 {
		s.loseAcks--
		return
	}
	s.acks = append(s.acks, Ack{EnvelopeID: m.EnvelopeID, Conn: c.n, Payload: m.Payload, Time: time.Now()})
	is := s.byEnvelope[m.EnvelopeID]
	for _, i := range slices.Backward(is) {
		if d := &s.deliveries[i]; d.Conn == c.n && !d.Acked {
			d.Acked = true
			if e := s.outstanding[m.EnvelopeID]; e != nil && e.last == i {
				delete(s.outstanding, m.EnvelopeID)
			}
			break
		}
	}
	s.notifyLocked()
}

// redeliverLost runs until Close, redelivering the envelopes whose latest
// delivery was not acked within the ack timeout or whose connection
// dropped first, as Slack does: to another connection, with retry_attempt
// raised, after the retry's delay, up to the number of retries.
func (s *Server) redeliverLost() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := time.Now()
		var (
			due  []*envelope
			next time.Time
		)
		soonest := func(t time.Time) {
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		live := len(s.live(SocketMode)) > 0
		for id, e := range s.outstanding {
			if e.retryAt.IsZero() {
				lost := s.deliveries[e.last].Time.Add(s.cfg.ackTimeout)
				if !e.conn.gone && now.Before(lost) {
					soonest(lost)
					continue
				}
				if e.attempt >= len(s.cfg.retryDelays) {
					delete(s.outstanding, id) // Slack gives up
					continue
				}
				e.retryAt = minTime(now, lost).Add(s.cfg.retryDelays[max(e.attempt, 0)])
			}
			if now.Before(e.retryAt) {
				soonest(e.retryAt)
			} else if live {
				due = append(due, e)
			}
		}
		changed := s.changed
		s.mu.Unlock()

		for _, e := range due {
			s.redeliver(e)
		}
		if len(due) > 0 {
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-changed:
		case <-s.done:
			return
		}
	}
}

// redeliver sends e again, as retry, unless it was settled meanwhile.
func (s *Server) redeliver(e *envelope) {
	s.mu.Lock()
	if s.outstanding[e.id] != e || e.retryAt.IsZero() {
		s.mu.Unlock()
		return
	}
	e.attempt++
	e.reason = retryReason
	not := e.conn
	s.mu.Unlock()
	_ = s.send(context.Background(), e, not) // fails only once the Server is closed
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// WaitAck waits until the latest delivery of the envelope has been
// acknowledged on its connection: after a redelivery, by SendEvent or by
// the fake, it waits for the ack of the redelivery.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) error {
	return s.waitFor(ctx, "the ack of envelope "+envelopeID, func() bool {
		is := s.byEnvelope[envelopeID]
		return len(is) > 0 && s.deliveries[is[len(is)-1]].Acked
	})
}

// Acks returns every ack received so far, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.acks)
	for i := range out {
		out[i].Payload = slices.Clone(out[i].Payload)
	}
	return out
}

// Deliveries returns every envelope written to a Socket Mode connection so
// far, in order, redeliveries included.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// WaitDelivery waits for the delivery of the envelope whose retry_attempt
// is attempt (0: the first delivery) and returns it.
func (s *Server) WaitDelivery(ctx context.Context, envelopeID string, attempt int) (Delivery, error) {
	var d Delivery
	err := s.waitFor(ctx, fmt.Sprintf("delivery %d of envelope %s", attempt, envelopeID), func() bool {
		for _, i := range s.byEnvelope[envelopeID] {
			if s.deliveries[i].RetryAttempt == attempt {
				d = s.deliveries[i]
				return true
			}
		}
		return false
	})
	return d, err
}

// LoseAcks makes the next n Socket Mode acks the fake receives get lost on
// the way: they are not recorded, so their envelopes are redelivered as
// if the client never acked them.
func (s *Server) LoseAcks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseAcks += n
}

// RefusedConnections returns how many Socket Mode connections were refused
// because MaxSocketConnections were open.
func (s *Server) RefusedConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}
