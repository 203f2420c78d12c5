package slackbot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"

	"github.com/rulebot/rulebot/engine"
)

const (
	// claimTTL is how long a message stays claimed in Config.Claim: longer
	// than Slack goes on redelivering an event (three retries, the last
	// about six minutes after the first delivery).
	claimTTL = 10 * time.Minute
	// claimTimeout bounds one Config.Claim call, so that a store that hangs
	// holds a channel's messages back for at most that long.
	claimTimeout = 2 * time.Second
	// claimWarnEvery is how often at most a failing Config.Claim is logged.
	claimWarnEvery = time.Minute
	// maxClaimKey bounds a claim key; longer ones are hashed.
	maxClaimKey = 100
)

// claimKey is the key under which replicas claim message m, delivered as
// the event eventKey: its channel and timestamp, which Slack's
// redeliveries and the message/app_mention twins share (so that one claim
// covers them all), or the event when the message has no timestamp. Keys
// are short and printable: a long or odd one is hashed.
func claimKey(m engine.Message, eventKey string) string {
	key := "dedupe/" + m.ChannelID + "/" + m.TS + "/" + m.Subtype
	switch {
	case m.TS != "":
	case eventKey != "":
		key = "dedupe/" + eventKey
	default:
		return ""
	}
	if len(key) > maxClaimKey || strings.IndexFunc(key, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0 {
		sum := sha256.Sum256([]byte(key))
		key = "dedupe/#" + hex.EncodeToString(sum[:16])
	}
	return key
}

// claim reports whether this replica handles j: always without
// Config.Claim; with it, when the shared store says j's message was not
// claimed before. A failed claim (the store is down or too slow) handles
// the message here, and is logged and counted: answering a message twice,
// when a redelivery reaches another replica during the outage, is better
// than never answering it.
func (b *Bot) claim(ctx context.Context, j job) bool {
	if b.cfg.Claim == nil || j.claimKey == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	won, err := b.cfg.Claim(ctx, j.claimKey, claimTTL)
	switch {
	case err != nil:
		b.stats.ClaimErrors.Add(1)
		if warn, unlogged := b.seen.claimWarn.Allow(time.Now()); warn {
			b.log.Warn("shared duplicate detection failed: answering here, so another replica may answer too",
				"channel", j.msg.ChannelID, "ts", j.msg.TS, "error", err.Error(), "failed_since_last_warning", unlogged)
		}
		return true
	case !won:
		b.stats.Duplicates.Add(1)
		b.log.Debug("message claimed by another replica", "channel", j.msg.ChannelID, "ts", j.msg.TS)
	}
	return won
}
