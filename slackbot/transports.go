package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/rulebot/rulebot/engine"
)

// fatalConnectError reports whether a connection error will never go away
// on retry; slack-go retries some of these forever.
func fatalConnectError(err error) bool {
	if err == nil {
		return false
	}
	switch err.Error() {
	case "not_allowed_token_type", "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired", "missing_scope":
		return true
	}
	return false
}

// connectError explains a fatal connection error.
func connectError(transport string, err error) error {
	switch err.Error() {
	case "not_allowed_token_type":
		if transport == RTM {
			return &FatalError{"Slack refused RTM for SLACK_BOT_TOKEN (not_allowed_token_type): apps created today cannot use RTM. Use Socket Mode: set SLACK_APP_TOKEN to an app-level token (xapp-…) with connections:write (see README)"}
		}
		return &FatalError{"Slack refused SLACK_APP_TOKEN (not_allowed_token_type): it must be an app-level token (xapp-…) with the connections:write scope"}
	case "missing_scope":
		return &FatalError{"SLACK_APP_TOKEN lacks the connections:write scope: add it on your Slack app's Basic Information page"}
	}
	if transport == Socket {
		return authError("SLACK_APP_TOKEN", err)
	}
	return authError("SLACK_BOT_TOKEN", err)
}

// connectionFailed logs a connection error that slack-go retries: a
// warning, unless the bot is stopping, when the error is the stop itself
// (context canceled, a closed connection) and not worth one.
func (b *Bot) connectionFailed(stopping bool, transport string, ce *slack.ConnectionErrorEvent) {
	level := slog.LevelWarn
	if stopping {
		level = slog.LevelDebug
	}
	b.log.Log(context.Background(), level, "Slack connection failed; retrying", "transport", transport, "error", ce.Error(), "backoff", ce.Backoff.String())
}

// runSocket receives events over Socket Mode until ctx ends.
func (b *Bot) runSocket(ctx context.Context, d *dispatcher) error {
	var opts []socketmode.Option
	if b.cfg.PingInterval > 0 {
		opts = append(opts, socketmode.OptionPingInterval(b.cfg.PingInterval))
	}
	client := socketmode.New(b.api, opts...)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(runCtx) }()
	var fatal error
	for {
		select {
		case err := <-runErr:
			switch {
			case fatal != nil:
				return fatal
			case ctx.Err() != nil:
				return nil
			case err != nil:
				return connectError(Socket, err)
			}
			return errors.New("socket mode stopped")
		case evt := <-client.Events:
			// Ack first, always, before any work: Slack redelivers what is
			// not acked within 3 seconds.
			if evt.Request != nil && evt.Request.EnvelopeID != "" {
				if err := client.Ack(*evt.Request); err != nil {
					b.log.Warn("ack failed", "envelope", evt.Request.EnvelopeID, "error", err.Error())
				}
			}
			switch evt.Type {
			case socketmode.EventTypeConnecting:
				if ctx.Err() == nil { // once stopping, /healthz says so
					b.cfg.Observer.disconnected("connecting to Slack")
				}
			case socketmode.EventTypeConnected:
				b.cfg.Observer.connected()
				b.log.Info("connected to Slack", "transport", Socket, "bot", b.Name, "user_id", b.UserID)
			case socketmode.EventTypeConnectionError:
				ce, _ := evt.Data.(*slack.ConnectionErrorEvent)
				if ce != nil && fatalConnectError(ce.ErrorObj) {
					fatal = connectError(Socket, ce.ErrorObj)
					cancel()
				} else if ce != nil {
					if ctx.Err() == nil { // once stopping, /healthz says so
						b.cfg.Observer.disconnected("reconnecting to Slack")
					}
					b.connectionFailed(ctx.Err() != nil, Socket, ce)
				}
			case socketmode.EventTypeInvalidAuth:
				fatal = &FatalError{"Slack rejected SLACK_APP_TOKEN: check the app-level token (xapp-…)"}
				cancel()
			case socketmode.EventTypeDisconnect:
				if ctx.Err() == nil { // once stopping, /healthz says so
					b.cfg.Observer.disconnected("reconnecting: Slack asked to")
				}
				b.log.Info("Slack asked to reconnect", "transport", Socket)
			case socketmode.EventTypeEventsAPI:
				if ctx.Err() == nil {
					b.socketEvent(evt, d)
				}
			}
		}
	}
}

func (b *Bot) socketEvent(evt socketmode.Event, d *dispatcher) {
	received := time.Now()
	ea, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		return
	}
	var eventID string
	if cb, ok := ea.Data.(*slackevents.EventsAPICallbackEvent); ok {
		eventID = cb.EventID
	}
	var m engine.Message
	switch ev := ea.InnerEvent.Data.(type) {
	case *slackevents.MessageEvent:
		m = engine.Message{Text: ev.Text, UserID: ev.User, ChannelID: ev.Channel, DM: ev.ChannelType == "im",
			TS: ev.TimeStamp, ThreadTS: ev.ThreadTimeStamp, BotID: ev.BotID, Subtype: ev.SubType}
	case *slackevents.AppMentionEvent:
		// slack-go's AppMentionEvent has no subtype, which Slack sends
		// (bot_message, document_mention): read it from the payload, so that
		// the twin is ignored, deduplicated and claimed as its message.
		m = engine.Message{Text: ev.Text, UserID: ev.User, ChannelID: ev.Channel,
			TS: ev.TimeStamp, ThreadTS: ev.ThreadTimeStamp, BotID: ev.BotID, Subtype: payloadSubtype(evt.Request)}
		if ev.Edited != nil && m.Subtype == "" {
			// Slack sends app_mention for an edit that adds the mention,
			// with "edited" and the original ts: an edit, which the bot ignores.
			m.Subtype = "message_changed"
		}
	default:
		return
	}
	b.accept(m, received, "event:"+eventID, d)
}

// payloadSubtype is the subtype of the event in a Socket Mode request's
// payload, or "".
func payloadSubtype(r *socketmode.Request) string {
	if r == nil {
		return ""
	}
	var p struct {
		Event struct {
			Subtype string `json:"subtype"`
		} `json:"event"`
	}
	if json.Unmarshal(r.Payload, &p) != nil {
		return ""
	}
	return p.Event.Subtype
}

// accept submits a message unless it is a redelivery.
func (b *Bot) accept(m engine.Message, received time.Time, eventKey string, d *dispatcher) {
	if m.ChannelID == "" {
		return
	}
	if m.ThreadTS == m.TS {
		m.ThreadTS = "" // the parent of a thread is a top-level message
	}
	if eventKey == "event:" {
		eventKey = ""
	}
	if !b.seen.first(eventKey, "msg:"+m.ChannelID+"/"+m.TS+"/"+m.Subtype) {
		b.stats.Duplicates.Add(1)
		b.log.Debug("duplicate delivery ignored", "channel", m.ChannelID, "ts", m.TS)
		return
	}
	b.cfg.Observer.message()
	d.submit(job{msg: m, received: received, claimKey: claimKey(m, eventKey)})
}

// runRTM receives events over RTM until ctx ends.
func (b *Bot) runRTM(ctx context.Context, d *dispatcher) error {
	rtm := b.api.NewRTM()
	managed := make(chan struct{})
	go func() { rtm.ManageConnection(); close(managed) }()
	var fatal error
	done := ctx.Done()
	stopping := false
	stop := func() {
		if !stopping {
			stopping = true
			go rtm.Disconnect() // blocks until the manager takes it; we keep reading meanwhile
		}
	}
	for {
		select {
		case <-done:
			done = nil
			stop()
		case <-managed:
			return fatal
		case ev := <-rtm.IncomingEvents:
			switch data := ev.Data.(type) {
			case *slack.ConnectingEvent:
				if !stopping { // once stopping, /healthz says so
					b.cfg.Observer.disconnected("connecting to Slack")
				}
			case *slack.ConnectedEvent:
				b.cfg.Observer.connected()
				b.log.Info("connected to Slack", "transport", RTM, "bot", b.Name, "user_id", b.UserID)
			case *slack.ConnectionErrorEvent:
				if fatalConnectError(data.ErrorObj) {
					if fatal == nil {
						fatal = connectError(RTM, data.ErrorObj)
					}
					stop()
				} else {
					if !stopping { // once stopping, /healthz says so
						b.cfg.Observer.disconnected("reconnecting to Slack")
					}
					b.connectionFailed(stopping, RTM, data)
				}
			case *slack.InvalidAuthEvent:
				if fatal == nil {
					fatal = &FatalError{"Slack rejected SLACK_BOT_TOKEN when connecting over RTM (invalid_auth)"}
				}
			case *slack.MessageEvent:
				if stopping {
					continue
				}
				m := engine.Message{Text: data.Text, UserID: data.User, ChannelID: data.Channel,
					DM: len(data.Channel) > 0 && data.Channel[0] == 'D', TS: data.Timestamp,
					ThreadTS: data.ThreadTimestamp, BotID: data.BotID, Subtype: data.SubType}
				b.accept(m, time.Now(), "", d)
			case *slack.RTMError:
				b.log.Warn("RTM error", "error", fmt.Sprint(data.Error()))
			}
		}
	}
}
