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
	n    int  // its number among the connections of its kind, from 1; set by register
	gone bool // dropped or ended; guarded by Server.mu
	ws   *websocket.Conn
	wmu  sync.Mutex    // serializes data writes; Close and WriteControl need no lock
	done chan struct{} // closed when the connection's handler ends
}

// write sends one text message, within writeTimeout and ctx's deadline.
func (c *wsConn) write(ctx context.Context, msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(ctx, msg)
}

// writeLocked is write with c.wmu held.
func (c *wsConn) writeLocked(ctx context.Context, msg []byte) error {
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
		// Slack lets an app keep MaxSocketConnections open; it greets one
		// more with a disconnect message instead of hello.
		tooMany := kind == SocketMode && len(s.live(SocketMode))+s.opening >= MaxSocketConnections
		if kind == SocketMode && !tooMany {
			s.opening++
		}
		// Add while holding s.mu and before closed is set: Close's Wait
		// cannot have started.
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()

		admitted := kind == SocketMode && !tooMany
		ws, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			if admitted {
				s.release()
			}
			return // Upgrade has answered the request.
		}
		c := &wsConn{kind: kind, ws: ws, done: make(chan struct{})}
		defer close(c.done)
		defer ws.Close()

		if tooMany {
			s.refuse(c)
			return
		}
		// The connection is live before its hello is written, so that a
		// client that has read hello gets the next events; they wait for
		// the hello behind c.wmu.
		c.wmu.Lock()
		if !s.register(c, admitted) {
			c.wmu.Unlock()
			return
		}
		defer s.unregister(c)
		hello, err := json.Marshal(s.hello(kind))
		if err == nil {
			err = c.writeLocked(context.Background(), hello)
		}
		c.wmu.Unlock()
		if err != nil {
			return
		}
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
				s.receiveSocketMode(c, msg)
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
	n := len(s.live(SocketMode)) + s.opening // c itself is live
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
// admitted says c holds a place among the Socket Mode connections being
// opened, which it gives up.
func (s *Server) register(c *wsConn, admitted bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if admitted {
		s.opening--
	}
	if s.closed {
		return false
	}
	s.conns = append(s.conns, c)
	s.connCount[c.kind]++
	c.n = s.connCount[c.kind]
	s.notifyLocked()
	return true
}

// unregister ends c; the envelopes it had not acked are then redelivered.
func (s *Server) unregister(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.gone = true
	s.conns = slices.DeleteFunc(s.conns, func(x *wsConn) bool { return x == c })
	s.notifyLocked()
}

// release gives up the place a Socket Mode connection held while it was
// being opened, when it failed before it was live.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opening--
	s.notifyLocked()
}

// refuse tells c, a Socket Mode connection past MaxSocketConnections, what
// Slack says then, and lets the handler close it.
func (s *Server) refuse(c *wsConn) {
	s.mu.Lock()
	s.refused++
	s.notifyLocked()
	s.mu.Unlock()
	_ = c.writeJSON(context.Background(), disconnect("too_many_websockets"))
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too_many_websockets"), time.Now().Add(writeTimeout))
}

// Refresh tells every live Socket Mode connection that Slack is about to
// refresh it, as Slack does every few hours:
// {"type":"disconnect","reason":"refresh_requested"}. A client is expected
// to open a new connection and close the old one; until it does, the old
// one stays live and may still get envelopes, as with Slack.
func (s *Server) Refresh(ctx context.Context) error {
	s.mu.Lock()
	conns := s.live(SocketMode)
	s.mu.Unlock()
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.writeJSON(ctx, disconnect("refresh_requested")))
	}
	return errors.Join(errs...)
}

// disconnect is Slack's Socket Mode message asking the client to go away
// for reason.
func disconnect(reason string) object {
	return object{"type": "disconnect", "reason": reason, "debug_info": object{"host": "slackfake"}}
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

// SendRTM writes event, encoded with encoding/json (pass a json.RawMessage to
// send bytes as they are), to every live RTM connection, first waiting for
// one if there is none. It is for events SayRTM cannot build: a message
// event (a map[string]any) gets the fields Slack always sends that it
// lacks (event_ts; team and client_msg_id for a person's message), and in a
// channel the fake does not know adds the channel, with the bot and the
// author as members, as SendEvent does.
func (s *Server) SendRTM(ctx context.Context, event any) error {
	if m, ok := event.(map[string]any); ok {
		s.noteEvent(m)
		m = maps.Clone(m)
		s.mu.Lock()
		s.fillLocked(m, true)
		s.mu.Unlock()
		event = m
	}
	return s.writeRTM(ctx, event)
}

// writeRTM writes event to every live RTM connection, first waiting for
// one if there is none.
func (s *Server) writeRTM(ctx context.Context, event any) error {
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
