package slackfake_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// eventWorkspace has two people, an app's bot, a channel both people and
// the app are in, one only alice is in, one the bot is not in, and an
// archived one.
func eventWorkspace(t *testing.T) *slackfake.Server {
	srv := newServer(t)
	srv.AddUsers(slackfake.User{ID: "UALICE", Name: "alice"}, slackfake.User{ID: "UBOB", Name: "bob"},
		slackfake.User{ID: "UGONE", Name: "gone", Deleted: true}, slackfake.User{ID: "UDEPLOY", Name: "deploy", IsBot: true})
	srv.AddBots(slackfake.Bot{ID: "BDEPLOY", UserID: "UDEPLOY"}, slackfake.Bot{ID: "BHOOK"})
	srv.AddConversations(
		slackfake.Conversation{ID: "CGENERAL", Name: "general", Members: []string{"UALICE", "UBOB", "UDEPLOY"}},
		slackfake.Conversation{ID: "CALICE", Name: "alice-only", Members: []string{"UALICE"}},
		slackfake.Conversation{ID: "COUT", Name: "out", BotNotMember: true, Members: []string{"UALICE"}},
		slackfake.Conversation{ID: "COLD", Name: "old", Archived: true, Members: []string{"UALICE"}},
	)
	return srv
}

// TestSayRefusesWhatSlackWouldNotDeliver: Say and SayRTM refuse, sending
// nothing, a message Slack would never deliver to the bot.
func TestSayRefusesWhatSlackWouldNotDeliver(t *testing.T) {
	srv := eventWorkspace(t)
	ctx := testContext(t)
	startRTM(t, srv)
	top, err := srv.SayRTM(ctx, slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "top"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := srv.SayRTM(ctx, slackfake.Message{User: "UBOB", Channel: "CGENERAL", Text: "reply", ThreadTS: top.TS})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    slackfake.Message
	}{
		{"unknown user", slackfake.Message{User: "UNOBODY", Channel: "CGENERAL", Text: "hi"}},
		{"deactivated user", slackfake.Message{User: "UGONE", Channel: "CGENERAL", Text: "hi"}},
		{"unknown channel", slackfake.Message{User: "UALICE", Channel: "CNOPE", Text: "hi"}},
		{"author not a member", slackfake.Message{User: "UBOB", Channel: "CALICE", Text: "hi"}},
		{"bot not a member", slackfake.Message{User: "UALICE", Channel: "COUT", Text: "hi"}},
		{"archived", slackfake.Message{User: "UALICE", Channel: "COLD", Text: "hi"}},
		{"no author", slackfake.Message{Channel: "CGENERAL", Text: "hi"}},
		{"user and bot", slackfake.Message{User: "UALICE", Bot: "BHOOK", Channel: "CGENERAL", Text: "hi"}},
		{"unknown bot", slackfake.Message{Bot: "BNOPE", Channel: "CGENERAL", Text: "hi"}},
		{"bot user not a member", slackfake.Message{Bot: "BDEPLOY", Channel: "CALICE", Text: "hi"}},
		{"empty text", slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: " "}},
		{"unknown thread", slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "hi", ThreadTS: "1.000001"}},
		{"thread of another channel", slackfake.Message{User: "UALICE", Channel: "CALICE", Text: "hi", ThreadTS: top.TS}},
		{"reply to a reply", slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "hi", ThreadTS: reply.TS}},
		{"DM and channel", slackfake.Message{User: "UALICE", DM: true, Channel: "CGENERAL", Text: "hi"}},
		{"DM from a bot", slackfake.Message{Bot: "BHOOK", DM: true, Text: "hi"}},
		{"DM from an unknown user", slackfake.Message{User: "UNOBODY", DM: true, Text: "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := srv.SayRTM(ctx, tt.m); !errors.Is(err, slackfake.ErrUndeliverable) {
				t.Errorf("SayRTM: %v; want ErrUndeliverable", err)
			}
			if _, err := srv.Say(ctx, tt.m); !errors.Is(err, slackfake.ErrUndeliverable) {
				t.Errorf("Say: %v; want ErrUndeliverable", err)
			}
		})
	}
	if n := srv.Connections(slackfake.SocketMode); n != 0 {
		t.Errorf("Say waited for a Socket Mode connection (%d) before refusing", n)
	}
	// Once added, the same messages go.
	srv.Join("CALICE", "UBOB")
	if _, err := srv.SayRTM(ctx, slackfake.Message{User: "UBOB", Channel: "CALICE", Text: "hi"}); err != nil {
		t.Errorf("after Join: %v", err)
	}
}

// TestSayAsSlackGoSeesIt: slack-go's socketmode client reads what Say
// builds as Slack's events: the DM's channel_type, the thread's parent,
// the app_mention twin only outside DMs.
func TestSayAsSlackGoSeesIt(t *testing.T) {
	srv := eventWorkspace(t)
	ctx := testContext(t)
	client, _, _ := startSocketMode(t, srv, slackfake.DefaultAppToken)
	waitSocket(ctx, t, client, socketmode.EventTypeHello)
	next := func() any {
		t.Helper()
		ev := waitSocket(ctx, t, client, socketmode.EventTypeEventsAPI)
		if err := client.Ack(*ev.Request); err != nil {
			t.Fatal(err)
		}
		return ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data
	}
	say := func(m slackfake.Message) slackfake.Sent {
		t.Helper()
		sent, err := srv.Say(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}

	dm := say(slackfake.Message{User: "UBOB", DM: true, Text: "<@UBOT> help"})
	if dm.MentionEnvelopeID != "" {
		t.Errorf("a DM got an app_mention twin")
	}
	if ev := next().(*slackevents.MessageEvent); ev.ChannelType != "im" || ev.Channel != srv.DM("UBOB") || ev.EventTimeStamp != dm.TS {
		t.Errorf("DM event = %+v", ev)
	}
	top := say(slackfake.Message{User: "UALICE", Channel: "CGENERAL", Text: "top"})
	next()
	reply := say(slackfake.Message{User: "UBOB", Channel: "CGENERAL", Text: "<@UBOT> hi", ThreadTS: top.TS})
	if ev := next().(*slackevents.MessageEvent); ev.ChannelType != "channel" || ev.ThreadTimeStamp != top.TS || ev.ClientMsgID == "" {
		t.Errorf("thread reply = %+v", ev)
	}
	if ev := next().(*slackevents.AppMentionEvent); ev.TimeStamp != reply.TS || ev.ThreadTimeStamp != top.TS || ev.User != "UBOB" {
		t.Errorf("app_mention = %+v", ev)
	}
	for _, id := range []string{reply.EnvelopeID, reply.MentionEnvelopeID} {
		if err := srv.WaitAck(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSendEventFillsWhatSlackAlwaysSends: a test's own minimal message
// event reaches the client with the fields Slack always sends, from the
// model, and its app_mention twin without channel_type.
func TestSendEventFillsWhatSlackAlwaysSends(t *testing.T) {
	srv := eventWorkspace(t)
	ctx := testContext(t)
	c, _ := dialSocket(ctx, t, srv)
	if _, err := srv.Say(ctx, slackfake.Message{User: "UBOB", DM: true, Text: "opens the DM"}); err != nil {
		t.Fatal(err)
	}
	c.ack(c.next(ctx).EnvelopeID)
	tests := []struct {
		name    string
		channel string
		want    map[string]any // fields of the message event; "*" is any non-empty value
	}{
		{"channel", "CGENERAL", map[string]any{"channel_type": "channel", "event_ts": "1700000000.000100", "team": "T1", "client_msg_id": "*", "blocks": "*"}},
		{"DM", srv.DM("UBOB"), map[string]any{"channel_type": "im", "event_ts": "1700000000.000100", "team": "T1", "client_msg_id": "*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := srv.SendEvent(ctx, map[string]any{"type": "message", "channel": tt.channel, "user": "UBOB",
				"text": "<@UBOT> hi", "ts": "1700000000.000100"}, slackfake.EventOptions{AppMention: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{"message", "app_mention"} {
				r := c.next(ctx)
				c.ack(r.EnvelopeID)
				var p struct {
					Event map[string]any `json:"event"`
				}
				if err := json.Unmarshal(r.Payload, &p); err != nil {
					t.Fatal(err)
				}
				if p.Event["type"] != typ || !strings.HasPrefix(r.EnvelopeID, id) {
					t.Fatalf("envelope %s: %v; want %s", r.EnvelopeID, p.Event, typ)
				}
				for k, v := range tt.want {
					got, ok := p.Event[k]
					switch {
					case k == "channel_type" && typ == "app_mention":
						if ok {
							t.Errorf("app_mention has channel_type %v; Slack's has none", got)
						}
					case !ok || v != "*" && got != v:
						t.Errorf("%s %s = %v; want %v", typ, k, got, v)
					}
				}
			}
		})
	}
}
