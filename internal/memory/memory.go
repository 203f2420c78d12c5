// Package memory is the bot's memory (SPEC §6): a key-value store that rules
// read with recall and recall_all and write with remember.
//
// A value is text (string), a number (float64) or a list of texts ([]string).
// The engine is given one Store; three implement it and behave alike, down to
// their error messages, because every write is checked here (Write.Validate)
// and RAM and File share one apply function:
//
//   - RAM: for chat and for each test file, seeded from a map, with an
//     injected clock so that a test's `after:` expires TTLs deterministically.
//   - File: an embedded, crash-safe file (go.etcd.io/bbolt: every write is
//     one transaction, fsynced before Write returns), default rulebot.db.
//   - Redis: shared by replicas (go-redis), every write one atomic Lua script
//     or command on the server.
//
// Expiry: each write decides the key's expiry. With a TTL the key is gone
// once the clock reaches the time of the write plus the TTL; a write without
// a TTL makes the key live until deleted, clearing an earlier TTL (as Redis'
// SET does). All three stores behave this way for set, add and push alike.
//
// Claim is for replicas (SPEC §9): "first caller wins" for a key during a
// TTL, for shared duplicate detection, cooldowns and schedule occurrences.
// Claims live apart from memory keys: recall_all never sees them.
package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Limits of SPEC §6.
const (
	MaxKey      = 200  // bytes in a key
	MaxText     = 4000 // bytes in a text or a list item
	DefaultKeep = 100  // items a push keeps when Keep is 0
	MaxKeep     = 1000 // items a push may keep
	MaxScan     = 1000 // entries Scan returns
	DefaultFile = "rulebot.db"
)

// Store is the bot's memory. Every method is safe for concurrent use, and
// every write is atomic: concurrent adds and pushes never lose an update.
type Store interface {
	// Get returns the value of key (a string, a float64 or a []string that
	// the caller may keep), or nil when the key is absent or expired.
	Get(ctx context.Context, key string) (any, error)
	// Scan returns the live keys that start with prefix, with prefix
	// removed, mapped to their values: the first MaxScan keys in byte order.
	Scan(ctx context.Context, prefix string) (map[string]any, error)
	// Write applies one write. A write that breaks a limit or meets a value
	// of the wrong type fails with an error (errors.Is ErrLimit or
	// ErrWrongType) whose message is meant for the rule's author, and
	// changes nothing.
	Write(ctx context.Context, w Write) error
	// Claim reports whether this caller is the first to claim key within
	// ttl: it returns true and holds the claim for ttl when the key is
	// unclaimed (or its claim has expired), false otherwise.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Lease acquires or renews the lease key for owner, atomically: it
	// returns true and holds the lease for ttl from now when the lease is
	// free (or expired) or already owner's, false when another owner holds
	// it. Leases live apart from claims and memory keys.
	Lease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Close releases the store.
	Close() error
}

// Op is what a write does.
type Op int

// The operations of a `remember:` write.
const (
	Set    Op = iota + 1 // store Text
	Add                  // add Number to the stored number (absent counts as 0)
	Push                 // append Text to the stored list, keeping the last Keep items
	Delete               // remove the key
)

func (o Op) String() string {
	switch o {
	case Set:
		return "set"
	case Add:
		return "add"
	case Push:
		return "push"
	case Delete:
		return "delete"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Write is one write to memory.
type Write struct {
	Key    string
	Op     Op
	Text   string        // Set, Push
	Number float64       // Add
	Keep   int           // Push: items kept, 0 meaning DefaultKeep
	TTL    time.Duration // 0: the key lives until deleted; else it expires TTL after this write
}

// Errors that Write returns for the rule's author; test with errors.Is.
var (
	ErrLimit     = errors.New("memory limit")
	ErrWrongType = errors.New("memory value of the wrong type")
)

// ruleError is an error for the rule's author: its message is all it says.
type ruleError struct {
	kind error
	msg  string
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.kind }

func limitf(format string, args ...any) error {
	return &ruleError{ErrLimit, fmt.Sprintf(format, args...)}
}

// Validate checks w against the limits of SPEC §6. Every store calls it
// first, so all of them accept and refuse the same writes.
func (w Write) Validate() error {
	if err := CheckKey(w.Key); err != nil {
		return err
	}
	if w.TTL < 0 {
		return limitf("ttl of memory key %s is %v; it must be positive", quote(w.Key), w.TTL)
	}
	switch w.Op {
	case Set:
		return checkText(w.Key, w.Text)
	case Add:
		if math.IsNaN(w.Number) || math.IsInf(w.Number, 0) {
			return limitf("cannot add %v to memory key %s", w.Number, quote(w.Key))
		}
	case Push:
		if w.Keep < 0 || w.Keep > MaxKeep {
			return limitf("keep is %s; it must be 1 to %s", thousands(w.Keep), thousands(MaxKeep))
		}
		return checkText(w.Key, w.Text)
	case Delete:
	default:
		return limitf("unknown memory operation %v", w.Op)
	}
	return nil
}

// keep is the number of items a push keeps.
func (w Write) keep() int {
	if w.Keep == 0 {
		return DefaultKeep
	}
	return w.Keep
}

// CheckKey reports whether key is a valid memory key: 1 to MaxKey bytes
// without control characters.
func CheckKey(key string) error {
	return checkName("memory key", key, false)
}

// checkPrefix checks a Scan prefix: like a key, but it may be empty.
func checkPrefix(prefix string) error {
	return checkName("memory prefix", prefix, true)
}

func checkName(what, s string, emptyOK bool) error {
	if s == "" && !emptyOK {
		return limitf("%s is empty", what)
	}
	if len(s) > MaxKey {
		return limitf("%s %s is %s bytes, longer than %s", what, quote(s), thousands(len(s)), thousands(MaxKey))
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return limitf("%s %s has a control character", what, quote(s))
	}
	return nil
}

func checkText(key, text string) error {
	if len(text) > MaxText {
		return limitf("text for memory key %s is %s bytes, longer than %s", quote(key), thousands(len(text)), thousands(MaxText))
	}
	return nil
}

func checkLease(key, owner string, ttl time.Duration) error {
	if owner == "" {
		return limitf("lease %s needs an owner", quote(key))
	}
	if err := checkName("lease key", key, false); err != nil {
		return err
	}
	if ttl <= 0 {
		return limitf("lease %s needs a positive ttl, not %v", quote(key), ttl)
	}
	return nil
}

func checkClaim(key string, ttl time.Duration) error {
	if err := checkName("claim key", key, false); err != nil {
		return err
	}
	if ttl <= 0 {
		return limitf("claim %s needs a positive ttl, not %v", quote(key), ttl)
	}
	return nil
}

// quote quotes s for an error message, cut to its first 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}

// thousands formats n with comma separators, as SPEC's messages do.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// What a key holds, as error messages name it.
const (
	holdsText   = "text"
	holdsNumber = "a number"
	holdsList   = "a list"
	holdsOther  = "a value rulebot did not write"
)

func wrongType(op Op, key, holds string) error {
	return &ruleError{ErrWrongType, fmt.Sprintf("cannot %v to memory key %s: it holds %s", op, quote(key), holds)}
}

func overflow(key string, n float64) error {
	return limitf("adding %v to memory key %s gives a number too large", n, quote(key))
}

// kind is the type of a stored value.
type kind byte

const (
	kindText   kind = 't'
	kindNumber kind = 'n'
	kindList   kind = 'l'
)

func (k kind) holds() string {
	switch k {
	case kindText:
		return holdsText
	case kindNumber:
		return holdsNumber
	case kindList:
		return holdsList
	}
	return holdsOther
}

// entry is a stored value with its expiry, as RAM and File keep it.
type entry struct {
	kind    kind
	text    string
	num     float64
	list    []string
	expires time.Time // zero: never
}

func (e *entry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// value returns e as a Store returns it; the list is a copy.
func (e *entry) value() any {
	switch e.kind {
	case kindText:
		return e.text
	case kindNumber:
		return e.num
	case kindList:
		return append([]string(nil), e.list...)
	}
	return nil
}

// apply computes the entry that w leaves at its key, given the live entry
// cur there (nil when absent or expired) and the time now. It returns nil
// when the key is to be removed. cur is not modified. w must be valid.
func apply(cur *entry, w Write, now time.Time) (*entry, error) {
	var expires time.Time
	if w.TTL > 0 {
		expires = now.Add(w.TTL)
	}
	switch w.Op {
	case Set:
		return &entry{kind: kindText, text: w.Text, expires: expires}, nil
	case Add:
		n := w.Number
		if cur != nil {
			if cur.kind != kindNumber {
				return nil, wrongType(Add, w.Key, cur.kind.holds())
			}
			n += cur.num
		}
		if math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, overflow(w.Key, w.Number)
		}
		return &entry{kind: kindNumber, num: n, expires: expires}, nil
	case Push:
		var list []string
		if cur != nil {
			if cur.kind != kindList {
				return nil, wrongType(Push, w.Key, cur.kind.holds())
			}
			list = cur.list
		}
		keep := w.keep()
		if len(list) >= keep {
			list = list[len(list)-keep+1:]
		}
		next := make([]string, 0, len(list)+1)
		next = append(append(next, list...), w.Text)
		return &entry{kind: kindList, list: next, expires: expires}, nil
	case Delete:
		return nil, nil
	}
	return nil, limitf("unknown memory operation %v", w.Op)
}

// seedEntry turns a value of a test file's `memory:` (as YAML decodes it)
// into an entry.
func seedEntry(key string, v any) (*entry, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	bad := limitf("memory key %s: a value must be text, a number or a list of texts, not %T", quote(key), v)
	switch v := v.(type) {
	case string:
		if err := checkText(key, v); err != nil {
			return nil, err
		}
		return &entry{kind: kindText, text: v}, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, bad
		}
		return &entry{kind: kindNumber, num: v}, nil
	case int:
		return &entry{kind: kindNumber, num: float64(v)}, nil
	case int64:
		return &entry{kind: kindNumber, num: float64(v)}, nil
	case []string:
		return seedList(key, v)
	case []any:
		list := make([]string, len(v))
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, bad
			}
			list[i] = s
		}
		return seedList(key, list)
	}
	return nil, bad
}

func seedList(key string, list []string) (*entry, error) {
	if len(list) > MaxKeep {
		return nil, limitf("memory key %s: a list holds at most %s items, not %s", quote(key), thousands(MaxKeep), thousands(len(list)))
	}
	for _, s := range list {
		if err := checkText(key, s); err != nil {
			return nil, err
		}
	}
	return &entry{kind: kindList, list: append([]string(nil), list...)}, nil
}
