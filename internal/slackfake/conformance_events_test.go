package slackfake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The events conformance test: every message the fake writes on a
// websocket, read raw off the wire, is checked against a schema of Slack's
// in testdata/spec/events (written from slackapi/slack-api-specs'
// events-api/slack_events_api_asyncapi_v2.json at commit
// fe03fc1d4899883ef5c0b4a30fe65b18bb2c16f1 and, where it is older or
// silent, Slack's current docs: see each schema's $comment).

// eventSchema compiles the schema testdata/spec/events/NAME.json (names
// such as socket_hello, event_message, rtm_pong), which may refer to the
// others by file name, failing the test when there is none.
func eventSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	const base = "https://rulebot.test/spec/events/"
	c := SpecCompiler(t, "events", base)
	_, err := os.Stat(filepath.Join("testdata", "spec", "events", name+".json"))
	found := err == nil
	if !found {
		t.Fatalf("no schema testdata/spec/events/%s.json for what the fake sends", name)
	}
	sch, err := c.Compile(base + name + ".json")
	if err != nil {
		t.Fatalf("compiling testdata/spec/events/%s.json: %v", name, err)
	}
	return sch
}

// wire checks the messages read off the fake's websockets and notes which
// kinds it saw.
type wire struct {
	t    *testing.T
	seen map[string]int
}

// check validates one raw websocket message: a Socket Mode message (and
// the event in an events_api envelope) or an RTM one. It returns the
// message decoded.
func (w *wire) check(transport string, raw []byte) map[string]any {
	w.t.Helper()
	var msg map[string]any
	if err := json.Unmarshal(raw, &msg); err != nil {
		w.t.Fatalf("%s message is not a JSON object: %v: %s", transport, err, raw)
	}
	typ, _ := msg["type"].(string)
	w.validate(transport+"_"+typ, raw)
	if transport == "socket" && typ == "events_api" {
		payload, _ := msg["payload"].(map[string]any)
		ev, _ := payload["event"].(map[string]any)
		evType, _ := ev["type"].(string)
		b, _ := json.Marshal(ev)
		w.validate("event_"+evType, b)
	}
	if transport == "rtm" && typ == "message" || transport == "socket" && typ == "events_api" {
		ev := msg
		if typ == "events_api" {
			ev = msg["payload"].(map[string]any)["event"].(map[string]any)
		}
		if ev["event_ts"] != ev["ts"] {
			w.t.Errorf("event_ts %v of a new message is not its ts %v", ev["event_ts"], ev["ts"])
		}
	}
	return msg
}

func (w *wire) validate(kind string, raw []byte) {
	w.t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := eventSchema(w.t, kind).Validate(inst); err != nil {
		w.t.Errorf("%s does not conform to Slack's schema: %v\n%s", kind, err, raw)
	}
	w.seen[kind]++
}

// rawConn is a websocket read and written by the test itself.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

// dial opens the websocket that method (apps.connections.open or
// rtm.connect) hands out to token.
func dial(ctx context.Context, t *testing.T, s *Server, method, token string) *rawConn {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL()+method,
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		URL   string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || !answer.OK {
		t.Fatalf("%s: %+v, %v", method, answer, err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, answer.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &rawConn{t: t, ws: ws}
}

// read returns the next message, failing the test after a generous wait.
func (c *rawConn) read() []byte {
	c.t.Helper()
	if err := c.ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading the websocket: %v", err)
	}
	return b
}

func (c *rawConn) write(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// conformanceWorkspace is a workspace with people, apps and every kind of
// conversation the fake models.
func conformanceWorkspace(t *testing.T, opts ...Option) *Server {
	s := New(opts...)
	t.Cleanup(s.Close)
	s.AddUsers(User{ID: "UALICE", Name: "alice"}, User{ID: "UBOB", Name: "bob"},
		User{ID: "UDEPLOY", Name: "deploybot", IsBot: true})
	s.AddBots(Bot{ID: "BDEPLOY", Name: "deploybot", UserID: "UDEPLOY"}, Bot{ID: "BHOOK", Name: "webhook"})
	s.AddConversations(
		Conversation{ID: "CGENERAL", Name: "general", Members: []string{"UALICE", "UBOB", "UDEPLOY"}},
		Conversation{ID: "GSECRET", Name: "secret", Private: true, Members: []string{"UALICE"}},
	)
	return s
}

// TestConformanceEvents drives the fake through everything it sends and
// checks each message on the wire against Slack's schemas.
func TestConformanceEvents(t *testing.T) {
	w := &wire{t: t, seen: map[string]int{}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	t.Run("socket mode", func(t *testing.T) {
		w.t = t
		s := conformanceWorkspace(t, WithAckTimeout(200*time.Millisecond), WithRetryDelays(0))
		c := dial(ctx, t, s, "apps.connections.open", DefaultAppToken)
		w.check("socket", c.read()) // hello

		// next reads the next envelope, checks it, acks it and returns its event.
		next := func() map[string]any {
			t.Helper()
			env := w.check("socket", c.read())
			c.write(map[string]any{"envelope_id": env["envelope_id"]})
			return env["payload"].(map[string]any)["event"].(map[string]any)
		}
		say := func(m Message) Sent {
			t.Helper()
			sent, err := s.Say(ctx, m)
			if err != nil {
				t.Fatalf("Say(%+v): %v", m, err)
			}
			return sent
		}
		top := say(Message{User: "UALICE", Channel: "CGENERAL", Text: "hello <#CGENERAL|general> &amp; <https://example.com|x>"})
		if ev := next(); ev["channel_type"] != "channel" || ev["user"] != "UALICE" || ev["ts"] != top.TS {
			t.Errorf("message in a channel = %v", ev)
		}
		say(Message{User: "UBOB", Channel: "CGENERAL", Text: "a reply", ThreadTS: top.TS})
		if ev := next(); ev["thread_ts"] != top.TS || ev["parent_user_id"] != "UALICE" {
			t.Errorf("reply in a thread = %v", ev)
		}
		mention := say(Message{User: "UBOB", Channel: "CGENERAL", Text: "<@UBOT> hi <!here>", ThreadTS: top.TS})
		if mention.MentionEnvelopeID == "" {
			t.Errorf("a mention of the bot in a channel has no app_mention twin")
		}
		next()
		if ev := next(); ev["type"] != "app_mention" || ev["ts"] != mention.TS {
			t.Errorf("app_mention twin = %v", ev)
		}
		say(Message{User: "UALICE", DM: true, Text: "<@UBOT> help"}) // no twin in a DM
		if ev := next(); ev["channel_type"] != "im" || ev["type"] != "message" {
			t.Errorf("message in a DM = %v", ev)
		}
		say(Message{User: "UALICE", Channel: "GSECRET", Text: "psst"})
		if ev := next(); ev["channel_type"] != "group" {
			t.Errorf("message in a private channel = %v", ev)
		}
		say(Message{Bot: "BDEPLOY", Channel: "CGENERAL", Text: "deployed"})
		if ev := next(); ev["bot_id"] != "BDEPLOY" || ev["user"] != "UDEPLOY" || ev["app_id"] != "ADEPLOY" {
			t.Errorf("an app's post = %v", ev)
		}
		say(Message{Bot: "BHOOK", Channel: "CGENERAL", Text: "hooked <@UBOT>"})
		if ev := next(); ev["subtype"] != "bot_message" || ev["bot_id"] != "BHOOK" {
			t.Errorf("a webhook's post = %v", ev)
		}
		if ev := next(); ev["type"] != "app_mention" || ev["subtype"] != "bot_message" {
			t.Errorf("a webhook's post's app_mention = %v", ev)
		}
		say(Message{User: "UBOT", Channel: "CGENERAL", Text: "the bot's own post"})
		if ev := next(); ev["bot_id"] != "BBOT" || ev["user"] != "UBOT" {
			t.Errorf("the bot's own post = %v", ev)
		}

		// A test's own minimal message gets what Slack always sends,
		// and its app_mention twin loses channel_type.
		if _, err := s.SendEvent(ctx, map[string]any{"type": "message", "channel": "CGENERAL", "user": "UALICE",
			"text": "<@UBOT> raw", "ts": "1700000000.000100"}, EventOptions{AppMention: true}); err != nil {
			t.Fatal(err)
		}
		next()
		next()

		// An envelope left unacked is redelivered with Slack's retry fields.
		say(Message{User: "UALICE", Channel: "CGENERAL", Text: "unacked"})
		first := w.check("socket", c.read())
		retry := w.check("socket", c.read())
		if retry["envelope_id"] != first["envelope_id"] || retry["retry_attempt"] != 1.0 || retry["retry_reason"] != "http_timeout" {
			t.Errorf("redelivery = %v", retry)
		}
		c.write(map[string]any{"envelope_id": retry["envelope_id"]})

		// Slack's periodic refresh asks the client to reconnect.
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if ev := w.check("socket", c.read()); ev["type"] != "disconnect" || ev["reason"] != "refresh_requested" {
			t.Errorf("refresh = %v", ev)
		}

		// One connection more than Slack allows is told why and closed.
		for range MaxSocketConnections - 1 {
			w.check("socket", dial(ctx, t, s, "apps.connections.open", DefaultAppToken).read())
		}
		refused := w.check("socket", dial(ctx, t, s, "apps.connections.open", DefaultAppToken).read())
		if refused["type"] != "disconnect" || refused["reason"] != "too_many_websockets" {
			t.Errorf("11th connection got %v", refused)
		}
	})

	t.Run("rtm", func(t *testing.T) {
		w.t = t
		s := conformanceWorkspace(t)
		c := dial(ctx, t, s, "rtm.connect", DefaultClassicBotToken)
		w.check("rtm", c.read()) // hello
		c.write(map[string]any{"id": 7, "type": "ping", "timestamp": 1234})
		if pong := w.check("rtm", c.read()); pong["reply_to"] != 7.0 || pong["timestamp"] != 1234.0 {
			t.Errorf("pong = %v", pong)
		}
		top, err := s.SayRTM(ctx, Message{User: "UALICE", Channel: "CGENERAL", Text: "<@UBOT> hi"})
		if err != nil {
			t.Fatal(err)
		}
		if ev := w.check("rtm", c.read()); ev["channel"] != "CGENERAL" || ev["type"] != "message" {
			t.Errorf("RTM message = %v", ev)
		}
		for _, m := range []Message{
			{User: "UBOB", Channel: "CGENERAL", Text: "reply", ThreadTS: top.TS},
			{User: "UALICE", DM: true, Text: "help"},
			{Bot: "BDEPLOY", Channel: "CGENERAL", Text: "deployed"},
			{Bot: "BHOOK", Channel: "CGENERAL", Text: "hooked"},
		} {
			if _, err := s.SayRTM(ctx, m); err != nil {
				t.Fatalf("SayRTM(%+v): %v", m, err)
			}
			w.check("rtm", c.read())
		}
		if err := s.SendRTM(ctx, map[string]any{"type": "message", "channel": "CGENERAL", "user": "UBOB",
			"text": "raw", "ts": "1700000000.000200"}); err != nil {
			t.Fatal(err)
		}
		w.check("rtm", c.read())
	})

	// Every kind the fake sends has a schema and was seen; nothing else was.
	var seen []string
	for kind := range w.seen {
		seen = append(seen, kind)
	}
	slices.Sort(seen)
	want := slices.Sorted(slices.Values(wireTypes()))
	for _, kind := range want {
		eventSchema(t, kind)
	}
	if !slices.Equal(seen, want) {
		t.Errorf("kinds seen on the wire %v; the fake sends %v: each must be driven and checked", seen, want)
	}
	t.Logf("checked on the wire: %v", w.seen)
}

// TestEventSchemasReject: the schemas catch the deviations the fake had:
// an events_api payload without event_context, a message without
// event_ts or channel_type, an app_mention carrying channel_type.
func TestEventSchemasReject(t *testing.T) {
	person := `"user":"UALICE","team":"T1","client_msg_id":"0b6a4c1e-7a8b-4c2d-9e0f-1a2b3c4d5e6f","blocks":[]`
	tests := []struct {
		kind, doc string
	}{
		{"event_message", `{"type":"message","channel":"C1","channel_type":"channel","text":"hi","ts":"1.000001",` + person + `}`},
		{"event_message", `{"type":"message","channel":"C1","text":"hi","ts":"1.000001","event_ts":"1.000001",` + person + `}`},
		{"event_message", `{"type":"message","channel":"C1","channel_type":"channel","text":"hi","ts":"1.000001","event_ts":"1.000001","user":"UALICE"}`},
		{"event_app_mention", `{"type":"app_mention","channel":"C1","channel_type":"channel","text":"<@UBOT> hi","ts":"1.000001","event_ts":"1.000001",` + person + `}`},
		{"event_app_mention", `{"type":"app_mention","channel":"D1","text":"<@UBOT> hi","ts":"1.000001","event_ts":"1.000001",` + person + `}`},
		{"socket_events_api", `{"envelope_id":"e","type":"events_api","accepts_response_payload":false,"retry_attempt":0,"retry_reason":"",
			"payload":{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1","event_time":1,
			"event":{"type":"message","event_ts":"1.000001"},"is_ext_shared_channel":false,
			"authorizations":[{"enterprise_id":null,"team_id":"T1","user_id":"UBOT","is_bot":true,"is_enterprise_install":false}]}}`},
		{"socket_events_api", `{"envelope_id":"e","type":"events_api","accepts_response_payload":false,"retry_attempt":1,"retry_reason":"timeout",
			"payload":{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1","event_time":1,"event_context":"4-x",
			"event":{"type":"message","event_ts":"1.000001"},"is_ext_shared_channel":false,
			"authorizations":[{"enterprise_id":null,"team_id":"T1","user_id":"UBOT","is_bot":true,"is_enterprise_install":false}]}}`},
		{"rtm_message", `{"type":"message","channel":"C1","channel_type":"channel","text":"hi","ts":"1.000001","event_ts":"1.000001","source_team":"T1","suppress_notification":false,"user_team":"T1",` + person + `}`},
	}
	for _, tt := range tests {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if eventSchema(t, tt.kind).Validate(inst) == nil {
			t.Errorf("%s accepts %s", tt.kind, tt.doc)
		}
	}
}
