package slackbot

import "time"

// An Observer is told what the bot does, for metrics and health checks.
// Every field is optional. Each is called on the bot's own goroutines, so
// it must be quick and safe for concurrent use.
type Observer struct {
	// OnMessage is called once per message received from Slack; a
	// redelivery this process has already seen is not counted again.
	OnMessage func()
	// OnReply is called for each reply posted (chat.postMessage or
	// chat.postEphemeral succeeded), with its rule and the time from the
	// event in (for a schedule rule, from its firing) to the reply posted.
	OnReply func(rule string, d time.Duration)
	// OnConnected is called each time a connection to Slack is open.
	OnConnected func()
	// OnDisconnected is called when the connection is lost or Slack asks
	// for a new one, with the reason.
	OnDisconnected func(reason string)
}

func (o *Observer) message() {
	if o != nil && o.OnMessage != nil {
		o.OnMessage()
	}
}

func (o *Observer) reply(rule string, d time.Duration) {
	if o != nil && o.OnReply != nil {
		o.OnReply(rule, d)
	}
}

func (o *Observer) connected() {
	if o != nil && o.OnConnected != nil {
		o.OnConnected()
	}
}

func (o *Observer) disconnected(reason string) {
	if o != nil && o.OnDisconnected != nil {
		o.OnDisconnected(reason)
	}
}
