package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
)

const (
	// claimTimeout bounds one Options.Claim call, so that a store that
	// hangs holds a message back for at most that long.
	claimTimeout = 2 * time.Second
	// claimWarnEvery is how often at most a failing Options.Claim is logged.
	claimWarnEvery = time.Minute
	// maxClaimKey bounds a cooldown's claim key (memory.MaxKey is 200
	// bytes); longer ones are hashed.
	maxClaimKey = 200
)

// cooldownClaimKey is the key under which replicas claim rule's cooldown
// in channel. Keys are short and printable: a long or odd one is hashed.
func cooldownClaimKey(rule, channel string) string {
	key := "cooldown/" + rule + "/" + channel
	if len(key) > maxClaimKey || strings.IndexFunc(key, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		sum := sha256.Sum256([]byte(rule + "\x00" + channel))
		key = "cooldown/#" + hex.EncodeToString(sum[:16])
	}
	return key
}
