package slackbot

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/rulebot/rulebot/internal/warnrate"
)

// lru is a small bounded map with least-recently-used eviction and an
// optional time to live.
type lru[V any] struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order *list.List // front: most recent; values are *entry[V]
	items map[string]*list.Element
}

type entry[V any] struct {
	key   string
	val   V
	added time.Time
}

func newLRU[V any](max int, ttl time.Duration) *lru[V] {
	return &lru[V]{max: max, ttl: ttl, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*entry[V])
	if c.ttl > 0 && now.Sub(e.added) > c.ttl {
		c.order.Remove(el)
		delete(c.items, key)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// remove forgets key.
func (c *lru[V]) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

// add stores key and reports whether it was new.
func (c *lru[V]) add(key string, val V, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value = &entry[V]{key, val, now}
		c.order.MoveToFront(el)
		return false
	}
	c.items[key] = c.order.PushFront(&entry[V]{key, val, now})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*entry[V]).key)
	}
	return true
}

// dedupe remembers recently seen deliveries: Slack redelivers an event it
// thinks was not acked, and a mention can arrive both as message and as
// app_mention.
// It also paces the warnings about failed shared claims (see claim.go).
type dedupe struct {
	seen      *lru[struct{}]
	claimWarn warnrate.Limiter
}

func newDedupe(max int) *dedupe {
	return &dedupe{seen: newLRU[struct{}](max, 0), claimWarn: warnrate.Limiter{Every: claimWarnEvery}}
}

// first reports whether none of keys was seen before, and remembers them all.
func (d *dedupe) first(keys ...string) bool {
	now := time.Now()
	fresh := true
	for _, k := range keys {
		if k != "" && !d.seen.add(k, struct{}{}, now) {
			fresh = false
		}
	}
	return fresh
}

// names looks up user and channel names through a bounded cache.
type names struct {
	api   *slack.Client
	users *lru[string]
	chans *lru[chanInfo]
}

type chanInfo struct {
	name string
	dm   bool
}

func newNames(api *slack.Client, max int, ttl time.Duration) *names {
	return &names{api: api, users: newLRU[string](max, ttl), chans: newLRU[chanInfo](max, ttl)}
}

// user returns the name of user id, or "" when Slack will not say.
func (n *names) user(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if v, ok := n.users.get(id, time.Now()); ok {
		return v, nil
	}
	u, err := n.api.GetUserInfoContext(ctx, id)
	if err != nil {
		return "", err
	}
	n.users.add(id, u.Name, time.Now())
	return u.Name, nil
}

// channel returns the name of channel id; for a DM, the other person's name.
func (n *names) channel(ctx context.Context, id string) (name string, dm bool, err error) {
	if v, ok := n.chans.get(id, time.Now()); ok {
		return v.name, v.dm, nil
	}
	c, err := n.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
	if err != nil {
		return "", strings.HasPrefix(id, "D"), err
	}
	name = c.Name
	if c.IsIM {
		name, err = n.user(ctx, c.User)
		if err != nil {
			return "", true, err
		}
	}
	n.chans.add(id, chanInfo{name, c.IsIM}, time.Now())
	return name, c.IsIM, nil
}
