package slackbot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A directory finds the id of a channel or user by name, listing the
// workspace (conversations.list, users.list) page by page only as far as
// needed and remembering what it saw, so that a workspace of 50,000 users
// is never listed per message:
//
//   - A cache miss lists from the first page and stops at the page that
//     holds the name. The unique names on the pages listed (channel names,
//     usernames) are remembered for ttl, up to max of them.
//   - A listing that goes through every page leaves an index of the whole
//     workspace, kept for ttl (about 100 bytes per name). For missTTL after
//     it, a name the index does not have is unknown without listing again,
//     so a typo (or a name from user input) costs at most one full listing
//     per missTTL, however many messages ask for it; after that, a miss
//     lists again, which finds channels and users created since.
//   - A secondary name (a user's display name) is not unique: it is
//     answered only from an index, where it is known that no primary name
//     (username) is the same and how many users share it; one shared by
//     several is ambiguous.
//
// Names are matched case-insensitively. One listing runs at a time;
// lookups that the cache answers do not wait for it, and those that wait
// give up their slot meanwhile.
type directory struct {
	what         string // "channel" or "user", for errors
	list         lister
	ttl, missTTL time.Duration
	seen         *lru[string] // name → id, from the pages listed
	lock         chan struct{}
	now          func() time.Time

	mu       sync.Mutex
	index    map[string]string // "n:"+name or "d:"+display name → id (or ambiguous), from the last full listing
	complete time.Time         // when the index was made
}

// A lister returns one page of the directory, starting at cursor ("" for
// the first page), and the cursor of the next page ("" after the last).
type lister func(ctx context.Context, cursor string) (page []dirEntry, next string, err error)

// A dirEntry is one channel or user of a page.
type dirEntry struct {
	id        string
	primary   string // unique: a channel's name, a user's username
	secondary string // maybe shared: a user's display name; "" when none
}

// ambiguous marks, in the index, a secondary name that several ids share;
// their number follows it.
const ambiguous = "\x00ambiguous:"

// maxPages bounds a listing, should Slack's cursors never end.
const maxPages = 10000

// errUnknownName is wrapped by the errors for names nobody has.
var errUnknownName = errors.New("no such name")

func newDirectory(what string, list lister, max int, ttl, missTTL time.Duration) *directory {
	return &directory{
		what: what, list: list, ttl: ttl, missTTL: missTTL,
		seen: newLRU[string](max, ttl), lock: make(chan struct{}, 1), now: time.Now,
	}
}

// lookup returns the id named name (without its # or @). retry makes each
// page's call, retrying it after rate limits; while another listing runs,
// lookup waits for it without holding s, the job's slot (nil for none), so
// that a long listing never holds back other channels' replies.
func (d *directory) lookup(ctx context.Context, name string, s *slot, retry func(func() error) error) (string, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if key == "" {
		return "", fmt.Errorf("an empty %s name: %w", d.what, errUnknownName)
	}
	if id, ok, err := d.cached(name, key); ok { // no waiting for a listing
		return id, err
	}
	if err := s.lock(ctx, d.lock); err != nil {
		return "", err
	}
	defer func() { <-d.lock }()
	if id, ok, err := d.cached(name, key); ok { // found by the listing waited for
		return id, err
	}

	index := map[string]string{}
	seconds := map[string][]string{} // secondary name → ids
	cursor := ""
	for pages := 1; ; pages++ {
		if pages > maxPages {
			return "", fmt.Errorf("listing the %ss: more than %d pages", d.what, maxPages)
		}
		var (
			page []dirEntry
			next string
		)
		err := retry(func() error {
			var err error
			page, next, err = d.list(ctx, cursor)
			return err
		})
		if err != nil {
			return "", err
		}
		now := d.now()
		var hit string
		for _, e := range page {
			if p := strings.ToLower(e.primary); p != "" {
				d.seen.add(p, e.id, now)
				index["n:"+p] = e.id
				if p == key {
					hit = e.id
				}
			}
			if s := strings.ToLower(e.secondary); s != "" && !slices.Contains(seconds[s], e.id) {
				seconds[s] = append(seconds[s], e.id)
			}
		}
		if hit != "" {
			return hit, nil
		}
		if next == "" || next == cursor {
			break
		}
		cursor = next
	}
	// Every page was listed: the index is complete.
	for s, ids := range seconds {
		index["d:"+s] = secondaryID(ids)
	}
	d.mu.Lock()
	d.index, d.complete = index, d.now()
	d.mu.Unlock()
	if id, ok := index["d:"+key]; ok {
		return d.answer(name, id)
	}
	return "", d.unknown(name, time.Time{})
}

// cached answers from what the directory remembers, when it can: a
// primary name first. ok is false when only a listing can tell.
func (d *directory) cached(name, key string) (id string, ok bool, err error) {
	now := d.now()
	if id, ok := d.seen.get(key, now); ok {
		return id, true, nil
	}
	d.mu.Lock()
	index, age := d.index, now.Sub(d.complete)
	d.mu.Unlock()
	if index == nil || age >= d.ttl {
		return "", false, nil
	}
	if id, ok := index["n:"+key]; ok {
		return id, true, nil
	}
	if id, ok := index["d:"+key]; ok {
		id, err := d.answer(name, id)
		return id, true, err
	}
	if age < d.missTTL {
		return "", true, d.unknown(name, now.Add(-age))
	}
	return "", false, nil
}

// forget drops name, when Slack says its id no longer works.
func (d *directory) forget(name string) {
	key := strings.ToLower(strings.TrimSpace(name))
	d.seen.remove(key)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.index != nil {
		delete(d.index, "n:"+key)
		delete(d.index, "d:"+key)
	}
}

func (d *directory) answer(name, id string) (string, error) {
	if n, ok := strings.CutPrefix(id, ambiguous); ok {
		return "", fmt.Errorf("%s %ss have the display name %q: use a username: %w", n, d.what, name, errUnknownName)
	}
	return id, nil
}

func (d *directory) unknown(name string, listed time.Time) error {
	what := "username or display name"
	if d.what == "channel" {
		what = "name"
	}
	if !listed.IsZero() {
		return fmt.Errorf("no %s has the %s %q (the %ss were listed %s ago, and are listed again for an unknown name %s after that): %w",
			d.what, what, name, d.what, d.now().Sub(listed).Round(time.Second), d.missTTL, errUnknownName)
	}
	return fmt.Errorf("no %s has the %s %q: %w", d.what, what, name, errUnknownName)
}

// secondaryID is the index's value for a secondary name with ids: the id,
// or the ambiguous mark followed by their number.
func secondaryID(ids []string) string {
	if len(ids) == 1 {
		return ids[0]
	}
	return ambiguous + strconv.Itoa(len(ids))
}
