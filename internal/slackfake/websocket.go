package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds every websocket write.
const writeTimeout = 10 * time.Second

// wsConn is a live websocket.
type wsConn struct {
	kind ConnKind
	ws   *websocket.Conn
	wmu  sync.Mutex    // serializes data writes; Close and WriteControl need no lock
	done chan struct{} // closed when the connection's handler ends
}

// write sends one text message, within writeTimeout and ctx's deadline.
func (c *wsConn) write(ctx context.Context, msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

func (c *wsConn) writeJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(ctx, b)
}

// newWebsocketURL hands out the URL of a new websocket of the kind.
func (s *Server) newWebsocketURL(kind ConnKind) string {
	s.mu.Lock()
	id := s.newIDLocked("conn")
	s.pending[id] = kind
	s.mu.Unlock()
	path := "/rtm/"
	if kind == SocketMode {
		path = "/socket/"
	}
	return "ws" + strings.TrimPrefix(s.ts.URL, "http") + path + id
}

// serveWebsocket serves the websockets of the kind, each URL once.
func (s *Server) serveWebsocket(kind ConnKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			http.Error(w, "slackfake: closed", http.StatusServiceUnavailable)
			return
		case s.pending[id] != kind:
			s.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		delete(s.pending, id)
		// Add while holding s.mu and before closed is set: Close's Wait
		// cannot have started.
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()

		ws, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered the request.
		}
		c := &wsConn{kind: kind, ws: ws, done: make(chan struct{})}
		defer close(c.done)
		defer ws.Close()

		if err := c.writeJSON(context.Background(), s.hello(kind)); err != nil {
			return
		}
		if !s.register(c) {
			return
		}
		defer s.unregister(c)
		if kind == SocketMode && s.cfg.pingInterval > 0 {
			s.wg.Go(func() { c.ping(s.cfg.pingInterval) })
		}
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			switch kind {
			case RTM:
				s.receiveRTM(c, msg)
			case SocketMode:
				s.receiveSocketMode(msg)
			}
		}
	}
}

// hello is the first message of a connection of the kind.
func (s *Server) hello(kind ConnKind) any {
	if kind == RTM {
		return object{"type": "hello"}
	}
	s.mu.Lock()
	n := len(s.live(SocketMode)) + 1
	s.mu.Unlock()
	return object{
		"type":            "hello",
		"num_connections": n,
		"debug_info": object{
			"host":                        "slackfake",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
		"connection_info": object{"app_id": s.cfg.appID},
	}
}

// register makes c live, or reports false if the server is closed.
func (s *Server) register(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns = append(s.conns, c)
	s.connCount[c.kind]++
	s.notifyLocked()
	return true
}

func (s *Server) unregister(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = slices.DeleteFunc(s.conns, func(x *wsConn) bool { return x == c })
	s.notifyLocked()
}

// live returns the live connections of the kind, oldest first. s.mu must be held.
func (s *Server) live(kind ConnKind) []*wsConn {
	var out []*wsConn
	for _, c := range s.conns {
		if c.kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// ping sends websocket ping frames every d, as Slack does on Socket Mode
// connections, until the connection ends.
func (c *wsConn) ping(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("slackfake"), time.Now().Add(writeTimeout)); err != nil {
				return
			}
		}
	}
}

// receiveRTM answers the client's {"id":N,"type":"ping",...} with
// {"type":"pong","reply_to":N,...}, echoing the ping's other fields as Slack
// does (slack-go measures latency with the echoed "timestamp"). Other
// messages are ignored.
func (s *Server) receiveRTM(c *wsConn, msg []byte) {
	var m map[string]json.RawMessage
	if json.Unmarshal(msg, &m) != nil || string(m["type"]) != `"ping"` {
		return
	}
	pong := maps.Clone(m)
	delete(pong, "id")
	pong["type"] = json.RawMessage(`"pong"`)
	pong["reply_to"] = m["id"]
	_ = c.writeJSON(context.Background(), pong) // a failed write ends the connection's reads too
}

// receiveSocketMode records the client's acks, {"envelope_id":"...",
// "payload":...}. Other messages are ignored.
func (s *Server) receiveSocketMode(msg []byte) {
	var m struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(msg, &m) != nil || m.EnvelopeID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks = append(s.acks, Ack{EnvelopeID: m.EnvelopeID, Payload: m.Payload, Time: time.Now()})
	s.acked[m.EnvelopeID]++
	s.notifyLocked()
}

// SendRTM writes event, encoded with encoding/json (pass a json.RawMessage to
// send bytes as they are), to every live RTM connection, first waiting for
// one if there is none. A message event (a map[string]any) in a channel the
// fake does not know adds the channel, with the bot and the author as
// members, as SendEvent does.
func (s *Server) SendRTM(ctx context.Context, event any) error {
	if m, ok := event.(map[string]any); ok {
		s.noteEvent(m)
	}
	msg, err := json.Marshal(event)
	if err != nil {
		return err
	}
	var conns []*wsConn
	if err := s.waitFor(ctx, "an RTM connection", func() bool {
		conns = s.live(RTM)
		return len(conns) > 0
	}); err != nil {
		return err
	}
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.write(ctx, msg))
	}
	return errors.Join(errs...)
}

// EventOptions tunes the envelopes sent by SendEvent.
type EventOptions struct {
	// EnvelopeID and EventID are used instead of fresh unique IDs when set.
	// Sending again with the IDs of an earlier envelope (with RetryAttempt
	// and RetryReason set, as Slack does) simulates a redelivery.
	EnvelopeID string
	EventID    string
	// RetryAttempt and RetryReason (e.g. 1 and "timeout") are the envelope's
	// retry_attempt and retry_reason.
	RetryAttempt int
	RetryReason  string
	// AppMention delivers the event a second time as an "app_mention" event,
	// as Slack does for a message mentioning the bot when the app subscribes
	// to both: right after the first envelope, in its own envelope whose
	// envelope and event IDs are the first one's plus "-mention".
	AppMention bool
}

// SendEvent delivers event, the inner event such as {"type":"message",...},
// in an events_api envelope to the newest live Socket Mode connection, first
// waiting for one if there is none. It returns the envelope ID, the one to
// pass to WaitAck. Slack delivers messages only from conversations that
// exist and that the bot is in, posted by their members: a message event in
// a channel the fake does not know adds the channel (a DM when its
// channel_type is "im"), with the bot and the author as members, and the
// author of a message in a known channel becomes a member.
func (s *Server) SendEvent(ctx context.Context, event map[string]any, opts EventOptions) (envelopeID string, err error) {
	s.noteEvent(event)
	var c *wsConn
	if err := s.waitFor(ctx, "a Socket Mode connection", func() bool {
		live := s.live(SocketMode)
		if len(live) == 0 {
			return false
		}
		c = live[len(live)-1]
		return true
	}); err != nil {
		return "", err
	}
	s.mu.Lock()
	if opts.EnvelopeID == "" {
		opts.EnvelopeID = s.newIDLocked("env")
	}
	if opts.EventID == "" {
		opts.EventID = s.newIDLocked("Ev")
	}
	s.mu.Unlock()

	if err := s.deliver(ctx, c, opts.EnvelopeID, opts.EventID, event, opts); err != nil {
		return "", err
	}
	if opts.AppMention {
		mention := map[string]any{}
		maps.Copy(mention, event)
		mention["type"] = "app_mention"
		if err := s.deliver(ctx, c, opts.EnvelopeID+"-mention", opts.EventID+"-mention", mention, opts); err != nil {
			return "", err
		}
	}
	return opts.EnvelopeID, nil
}

// deliver writes one events_api envelope to c.
func (s *Server) deliver(ctx context.Context, c *wsConn, envelopeID, eventID string, event map[string]any, opts EventOptions) error {
	cfg := s.cfg
	err := c.writeJSON(ctx, object{
		"envelope_id":              envelopeID,
		"type":                     "events_api",
		"accepts_response_payload": false,
		"retry_attempt":            opts.RetryAttempt,
		"retry_reason":             opts.RetryReason,
		"payload": object{
			"token":      "slackfake-verification-token",
			"team_id":    cfg.teamID,
			"api_app_id": cfg.appID,
			"event":      event,
			"type":       "event_callback",
			"event_id":   eventID,
			"event_time": time.Now().Unix(),
			"authorizations": []object{{
				"enterprise_id":         nil,
				"team_id":               cfg.teamID,
				"user_id":               cfg.userID,
				"is_bot":                true,
				"is_enterprise_install": false,
			}},
			"is_ext_shared_channel": false,
		},
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries[envelopeID]++
	s.notifyLocked()
	return nil
}

// WaitAck waits until the envelope has been acknowledged as many times as
// SendEvent delivered it (at least once), so it also waits for the ack of a
// redelivery.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) error {
	return s.waitFor(ctx, "the ack of envelope "+envelopeID, func() bool {
		return s.acked[envelopeID] >= max(1, s.deliveries[envelopeID])
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
