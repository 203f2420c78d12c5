package slackfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// socketClient is a bare Socket Mode connection whose test decides when
// to ack, if ever.
type socketClient struct {
	t    *testing.T
	ws   *websocket.Conn
	msgs chan socketmode.Request // closed when the connection ends
}

// dialSocket opens a Socket Mode connection the way a client does
// (apps.connections.open, then the websocket) and returns it with its
// first message (hello, or Slack's refusal).
func dialSocket(ctx context.Context, t *testing.T, srv *slackfake.Server) (*socketClient, socketmode.Request) {
	t.Helper()
	_, u, err := newAPI(srv, "", slack.OptionAppLevelToken(slackfake.DefaultAppToken)).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &socketClient{t: t, ws: ws, msgs: make(chan socketmode.Request, 100)}
	t.Cleanup(func() { ws.Close() })
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var r socketmode.Request
			if json.Unmarshal(b, &r) == nil {
				c.msgs <- r
			}
		}
	}()
	return c, c.next(ctx)
}

// next returns the next message; its Type is "" if the connection ended.
func (c *socketClient) next(ctx context.Context) socketmode.Request {
	c.t.Helper()
	select {
	case r := <-c.msgs:
		return r
	case <-ctx.Done():
		c.t.Fatalf("waiting for a Socket Mode message: %v", ctx.Err())
		return socketmode.Request{}
	}
}

// quiet reports whether no message arrives within d.
func (c *socketClient) quiet(d time.Duration) bool {
	select {
	case r, ok := <-c.msgs:
		if ok {
			c.t.Logf("unexpected message %+v", r)
		}
		return !ok
	case <-time.After(d):
		return true
	}
}

func (c *socketClient) ack(id string) {
	c.t.Helper()
	if err := c.ws.WriteJSON(map[string]string{"envelope_id": id}); err != nil {
		c.t.Fatal(err)
	}
}

// envelopeServer is a fake Slack where U1 posts in C1.
func envelopeServer(t *testing.T, opts ...slackfake.Option) *slackfake.Server {
	srv := newServer(t, opts...)
	srv.AddUser("U1", "u1")
	srv.AddConversations(slackfake.Conversation{ID: "C1", Name: "c1", Members: []string{"U1"}})
	return srv
}

// sendMessage has U1 say text in C1 over Socket Mode and returns the
// envelope ID.
func sendMessage(ctx context.Context, t *testing.T, srv *slackfake.Server, text string) string {
	t.Helper()
	sent, err := srv.Say(ctx, slackfake.Message{User: "U1", Channel: "C1", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return sent.EnvelopeID
}

func TestSocketModeEachEventToOneConnection(t *testing.T) {
	srv := envelopeServer(t)
	ctx := testContext(t)
	a, hello := dialSocket(ctx, t, srv)
	if hello.Type != "hello" || hello.NumConnections != 1 {
		t.Fatalf("first hello = %+v", hello)
	}
	b, hello := dialSocket(ctx, t, srv)
	if hello.Type != "hello" || hello.NumConnections != 2 {
		t.Fatalf("second hello = %+v", hello)
	}
	const n = 20
	sent := map[string]bool{}
	for i := range n {
		sent[sendMessage(ctx, t, srv, fmt.Sprint(i))] = true
	}
	got := map[string]int{}
	for _, c := range []*socketClient{a, b} {
		for range n / 2 { // round-robin: every other event
			r := c.next(ctx)
			got[r.EnvelopeID]++
			c.ack(r.EnvelopeID)
		}
	}
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("envelope %s received %d times; want once", id, got[id])
		}
		if err := srv.WaitAck(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	perConn := map[int]int{}
	for _, d := range srv.Deliveries() {
		perConn[d.Conn]++
		if !d.Acked || d.RetryAttempt != 0 {
			t.Errorf("delivery %+v; want acked, first attempt", d)
		}
	}
	if perConn[1] != n/2 || perConn[2] != n/2 {
		t.Errorf("deliveries per connection = %v; want %d each", perConn, n/2)
	}
	if !a.quiet(100*time.Millisecond) || !b.quiet(0) {
		t.Error("an acked envelope was delivered again")
	}
}

func TestSocketModeRedeliversUnacked(t *testing.T) {
	// One retry only, so that a slow ack of the retry changes nothing.
	srv := envelopeServer(t, slackfake.WithAckTimeout(100*time.Millisecond), slackfake.WithRetryDelays(0))
	ctx := testContext(t)
	a, _ := dialSocket(ctx, t, srv)
	b, _ := dialSocket(ctx, t, srv)

	id := sendMessage(ctx, t, srv, "hello")
	first := a.next(ctx) // round-robin starts with the oldest connection
	if first.EnvelopeID != id || first.RetryAttempt != 0 || first.RetryReason != "" {
		t.Fatalf("first delivery = %+v", first)
	}
	// a does not ack: after the ack timeout, the envelope goes to b.
	retry := b.next(ctx)
	if retry.EnvelopeID != id || retry.RetryAttempt != 1 || retry.RetryReason != "http_timeout" {
		t.Fatalf("redelivery = %+v; want envelope %s, retry_attempt 1, http_timeout", retry, id)
	}
	b.ack(id)
	if err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	ds := srv.Deliveries()
	if len(ds) != 2 || ds[0].Conn != 1 || ds[0].Acked || ds[1].Conn != 2 || !ds[1].Acked {
		t.Errorf("deliveries = %+v", ds)
	}
	if acks := srv.Acks(); len(acks) != 1 || acks[0].Conn != 2 {
		t.Errorf("acks = %+v", acks)
	}
	if !a.quiet(300*time.Millisecond) || !b.quiet(0) {
		t.Error("an envelope acked on its redelivery was delivered again")
	}
}

func TestSocketModeRetriesThenGivesUp(t *testing.T) {
	srv := envelopeServer(t, slackfake.WithAckTimeout(50*time.Millisecond), slackfake.WithRetryDelays(0, 10*time.Millisecond, 20*time.Millisecond))
	ctx := testContext(t)
	a, _ := dialSocket(ctx, t, srv)
	id := sendMessage(ctx, t, srv, "hello")
	// The only connection gets every retry, and none after the third.
	for attempt := range 4 {
		r := a.next(ctx)
		if r.EnvelopeID != id || r.RetryAttempt != attempt {
			t.Fatalf("delivery %d = %+v", attempt, r)
		}
	}
	if !a.quiet(500 * time.Millisecond) {
		t.Error("redelivered after Slack's three retries")
	}
}

func TestSocketModeRedeliversWhenConnectionDrops(t *testing.T) {
	srv := envelopeServer(t, slackfake.WithAckTimeout(time.Hour)) // only the drop redelivers
	ctx := testContext(t)
	a, _ := dialSocket(ctx, t, srv)
	b, _ := dialSocket(ctx, t, srv)
	ids := []string{sendMessage(ctx, t, srv, "one"), sendMessage(ctx, t, srv, "two"), sendMessage(ctx, t, srv, "three")}
	// a gets one and three, b two; b acks, a dies without acking.
	if r := b.next(ctx); r.EnvelopeID != ids[1] {
		t.Fatalf("b got %+v", r)
	}
	b.ack(ids[1])
	for _, id := range []string{ids[0], ids[2]} {
		if r := a.next(ctx); r.EnvelopeID != id {
			t.Fatalf("a got %+v, want %s", r, id)
		}
	}
	a.ws.Close()
	got := map[string]bool{}
	for range 2 {
		r := b.next(ctx)
		if r.RetryAttempt != 1 || r.RetryReason != "http_timeout" {
			t.Errorf("redelivery = %+v", r)
		}
		got[r.EnvelopeID] = true
		b.ack(r.EnvelopeID)
	}
	if !got[ids[0]] || !got[ids[2]] {
		t.Errorf("redelivered %v; want %s and %s", got, ids[0], ids[2])
	}
	for _, id := range ids {
		if err := srv.WaitAck(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if !b.quiet(100 * time.Millisecond) {
		t.Error("an acked envelope was delivered again")
	}

	// With no connection left, a lost envelope waits for the next one.
	id := sendMessage(ctx, t, srv, "four")
	b.next(ctx)
	b.ws.Close()
	c, _ := dialSocket(ctx, t, srv)
	if r := c.next(ctx); r.EnvelopeID != id || r.RetryAttempt != 1 {
		t.Errorf("after reconnecting: %+v", r)
	}
}

func TestSocketModeLostAck(t *testing.T) {
	srv := envelopeServer(t, slackfake.WithAckTimeout(100*time.Millisecond))
	ctx := testContext(t)
	a, _ := dialSocket(ctx, t, srv)
	srv.LoseAcks(1)
	id := sendMessage(ctx, t, srv, "hello")
	a.ack(a.next(ctx).EnvelopeID) // lost on the way
	if r := a.next(ctx); r.EnvelopeID != id || r.RetryAttempt != 1 {
		t.Fatalf("redelivery = %+v", r)
	}
	a.ack(id)
	if err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if acks := srv.Acks(); len(acks) != 1 {
		t.Errorf("acks = %+v; want only the second", acks)
	}
}

func TestSocketModeTooManyConnections(t *testing.T) {
	srv := envelopeServer(t)
	ctx := testContext(t)
	var conns []*socketClient
	for i := range slackfake.MaxSocketConnections {
		c, hello := dialSocket(ctx, t, srv)
		if hello.Type != "hello" || hello.NumConnections != i+1 {
			t.Fatalf("connection %d: %+v", i+1, hello)
		}
		conns = append(conns, c)
	}
	extra, msg := dialSocket(ctx, t, srv)
	if msg.Type != "disconnect" || msg.Reason != "too_many_websockets" {
		t.Fatalf("11th connection got %+v; want disconnect, too_many_websockets", msg)
	}
	if r := extra.next(ctx); r.Type != "" {
		t.Errorf("11th connection got %+v after the disconnect; want it closed", r)
	}
	if n, m := srv.Connections(slackfake.SocketMode), srv.RefusedConnections(); n != 10 || m != 1 {
		t.Errorf("%d connections, %d refused; want 10 and 1", n, m)
	}
	// Events go only to the open ones; once one closes, another may open.
	id := sendMessage(ctx, t, srv, "hello")
	if r := conns[0].next(ctx); r.EnvelopeID != id {
		t.Errorf("first connection got %+v", r)
	}
	conns[0].ack(id)
	conns[9].ws.Close()
	for {
		c, msg := dialSocket(ctx, t, srv)
		if msg.Type == "hello" {
			break
		}
		// The fake may not have seen the close yet.
		if r := c.next(ctx); r.Type != "" {
			t.Fatalf("refused connection got %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSocketModeSlackGoClientsShare(t *testing.T) {
	// Two slack-go clients, as two replicas: each event reaches one.
	srv := envelopeServer(t)
	ctx := testContext(t)
	clients := make([]*socketmode.Client, 2)
	for i := range clients {
		clients[i], _, _ = startSocketMode(t, srv, slackfake.DefaultAppToken)
		if err := srv.WaitConnections(ctx, slackfake.SocketMode, i+1); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10
	got := make(chan string, 2*n)
	for _, c := range clients {
		go func() {
			for {
				select {
				case ev := <-c.Events:
					if ev.Type == socketmode.EventTypeEventsAPI {
						_ = c.Ack(*ev.Request)
						got <- ev.Request.EnvelopeID
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for i := range n {
		sendMessage(ctx, t, srv, fmt.Sprint(i))
	}
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-got:
			if seen[id] {
				t.Errorf("envelope %s delivered twice", id)
			}
			seen[id] = true
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	conns := map[int]bool{}
	for _, d := range srv.Deliveries() {
		conns[d.Conn] = true
	}
	if len(conns) != 2 {
		t.Errorf("deliveries went to connections %v; want both", conns)
	}
}
