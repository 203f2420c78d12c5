package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Buckets of the memory file.
var (
	memBucket   = []byte("memory")
	claimBucket = []byte("claims")
	leaseBucket = []byte("leases") // key → expiry (8 bytes, Unix ns) and owner
)

// File is memory in one file on disk, for `run` without Redis. It is built
// on go.etcd.io/bbolt: each Write and Claim is one transaction, committed and
// fsynced before it returns, so an acknowledged write survives kill -9 and a
// power cut. Only one process may open the file at a time.
//
// A value is stored with its expiry as an absolute time, so TTLs hold across
// restarts; expired keys are invisible, removed when met and swept every
// sweepEvery writes.
type File struct {
	db  *bolt.DB
	now func() time.Time

	mu      sync.Mutex
	queue   []*pending // writes waiting for the next commit
	leading bool       // a caller is committing groups
	writes  int        // since the last sweep; only the leading caller uses it
}

// OpenFile opens (creating it when absent) the memory file at path, whose
// TTLs follow the clock now (time.Now when nil). It fails after a second
// when another process holds the file.
func OpenFile(path string, now func() time.Time) (*File, error) {
	if now == nil {
		now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("memory file %s is in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("memory file %s: %w", path, err)
	}
	f := &File{db: db, now: now}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{memBucket, claimBucket, leaseBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return sweepTx(tx, now())
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("memory file %s: %w", path, err)
	}
	return f, nil
}

// Get implements Store.
func (f *File) Get(ctx context.Context, key string) (any, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := f.now()
	var e *entry
	err := f.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = decode(tx.Bucket(memBucket).Get([]byte(key)))
		return err
	})
	if err != nil {
		return nil, f.fail(key, err)
	}
	if e == nil {
		return nil, nil
	}
	if e.expired(now) {
		return nil, f.removeExpired([]string{key}, now)
	}
	return e.value(), nil
}

// Scan implements Store.
func (f *File) Scan(ctx context.Context, prefix string) (map[string]any, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := f.now()
	out := make(map[string]any)
	var expired []string
	err := f.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(memBucket).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(out) < MaxScan; k, v = c.Next() {
			e, err := decode(v)
			if err != nil {
				return f.fail(string(k), err)
			}
			if e.expired(now) {
				expired = append(expired, string(k))
				continue
			}
			out[string(k[len(p):])] = e.value()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(expired) > 0 {
		if err := f.removeExpired(expired, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Write implements Store.
func (f *File) Write(ctx context.Context, w Write) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := f.now()
	key := []byte(w.Key)
	return f.update(now, func(tx *bolt.Tx) error {
		b := tx.Bucket(memBucket)
		cur, err := decode(b.Get(key))
		if err != nil {
			return f.fail(w.Key, err)
		}
		if cur != nil && cur.expired(now) {
			cur = nil
		}
		next, err := apply(cur, w, now)
		if err != nil {
			return err
		}
		if next == nil {
			return b.Delete(key)
		}
		return b.Put(key, encode(next))
	})
}

// Claim implements Store.
func (f *File) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkClaim(key, ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := f.now()
	won := false
	err := f.update(now, func(tx *bolt.Tx) error {
		b := tx.Bucket(claimBucket)
		won = false
		if v := b.Get([]byte(key)); len(v) == 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(v)) {
			return nil
		}
		won = true
		return b.Put([]byte(key), binary.BigEndian.AppendUint64(nil, uint64(now.Add(ttl).UnixNano())))
	})
	return won, err
}

// Lease implements Store. Leases are few (one per bot): expired ones are
// overwritten, never swept.
func (f *File) Lease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := checkLease(key, owner, ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := f.now()
	won := false
	err := f.update(now, func(tx *bolt.Tx) error {
		b := tx.Bucket(leaseBucket)
		won = false
		if v := b.Get([]byte(key)); len(v) > 8 && string(v[8:]) != owner && now.UnixNano() < int64(binary.BigEndian.Uint64(v)) {
			return nil
		}
		won = true
		return b.Put([]byte(key), append(binary.BigEndian.AppendUint64(nil, uint64(now.Add(ttl).UnixNano())), owner...))
	})
	return won, err
}

// Close implements Store.
func (f *File) Close() error { return f.db.Close() }

// update runs fn in a write transaction and returns once it is committed
// and fsynced, sweeping expired keys and claims every sweepEvery writes.
//
// Writes that arrive while a transaction commits are grouped into the next
// one (group commit): one fsync then acknowledges them all, so concurrent
// writers do not queue for one fsync each, and a lone write waits for no
// timer. fn runs in a transaction shared with other writes: when it fails
// it must have changed nothing, and only its own caller sees its error.
func (f *File) update(now time.Time, fn func(tx *bolt.Tx) error) error {
	p := &pending{fn: fn, now: now, done: make(chan error, 1)}
	f.mu.Lock()
	f.queue = append(f.queue, p)
	if f.leading {
		f.mu.Unlock()
		return <-p.done
	}
	f.leading = true // this caller commits groups until none is waiting
	for len(f.queue) > 0 {
		group := f.queue
		f.queue = nil
		f.mu.Unlock()
		f.commit(group)
		f.mu.Lock()
	}
	f.leading = false
	f.mu.Unlock()
	return <-p.done
}

// pending is a write waiting for its group's commit.
type pending struct {
	fn   func(tx *bolt.Tx) error
	now  time.Time
	err  error
	done chan error
}

// commit runs a group of writes in one transaction and tells each writer
// its outcome.
func (f *File) commit(group []*pending) {
	f.writes += len(group)
	sweep := f.writes >= sweepEvery
	if sweep {
		f.writes = 0
	}
	err := f.db.Update(func(tx *bolt.Tx) error {
		for _, p := range group {
			p.err = p.fn(tx)
		}
		if sweep {
			return sweepTx(tx, group[len(group)-1].now)
		}
		return nil
	})
	for _, p := range group {
		if err != nil {
			p.done <- err
		} else {
			p.done <- p.err
		}
	}
}

// removeExpired deletes keys that are still expired at now.
func (f *File) removeExpired(keys []string, now time.Time) error {
	return f.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(memBucket)
		for _, k := range keys {
			if e, err := decode(b.Get([]byte(k))); err == nil && e != nil && e.expired(now) {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (f *File) fail(key string, err error) error {
	return fmt.Errorf("memory file %s: key %s: %w", f.db.Path(), quote(key), err)
}

// sweepTx deletes every expired key and claim.
func sweepTx(tx *bolt.Tx, now time.Time) error {
	var dead [][]byte
	c := tx.Bucket(memBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if e, err := decode(v); err == nil && e != nil && e.expired(now) {
			dead = append(dead, bytes.Clone(k))
		}
	}
	for _, k := range dead {
		if err := tx.Bucket(memBucket).Delete(k); err != nil {
			return err
		}
	}
	dead = dead[:0]
	c = tx.Bucket(claimBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) != 8 || now.UnixNano() >= int64(binary.BigEndian.Uint64(v)) {
			dead = append(dead, bytes.Clone(k))
		}
	}
	for _, k := range dead {
		if err := tx.Bucket(claimBucket).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// encode lays out an entry as: kind byte, expiry (Unix nanoseconds, 0 for
// none) as 8 big-endian bytes, then the text, the float64's 8 bits, or a
// uvarint count followed by each item as a uvarint length and its bytes.
func encode(e *entry) []byte {
	var exp int64
	if !e.expires.IsZero() {
		exp = e.expires.UnixNano()
	}
	b := binary.BigEndian.AppendUint64([]byte{byte(e.kind)}, uint64(exp))
	switch e.kind {
	case kindText:
		b = append(b, e.text...)
	case kindNumber:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(e.num))
	case kindList:
		b = binary.AppendUvarint(b, uint64(len(e.list)))
		for _, s := range e.list {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

var errCorrupt = errors.New("unreadable value")

// decode reverses encode; nil decodes to nil. It copies what it keeps.
func decode(b []byte) (*entry, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) < 9 {
		return nil, errCorrupt
	}
	e := &entry{kind: kind(b[0])}
	if exp := int64(binary.BigEndian.Uint64(b[1:9])); exp != 0 {
		e.expires = time.Unix(0, exp)
	}
	b = b[9:]
	switch e.kind {
	case kindText:
		e.text = string(b)
	case kindNumber:
		if len(b) != 8 {
			return nil, errCorrupt
		}
		e.num = math.Float64frombits(binary.BigEndian.Uint64(b))
	case kindList:
		n, w := binary.Uvarint(b)
		if w <= 0 || n > MaxKeep {
			return nil, errCorrupt
		}
		b = b[w:]
		e.list = make([]string, 0, n)
		for range n {
			l, w := binary.Uvarint(b)
			if w <= 0 || l > uint64(len(b)-w) {
				return nil, errCorrupt
			}
			e.list = append(e.list, string(b[w:w+int(l)]))
			b = b[w+int(l):]
		}
		if len(b) != 0 {
			return nil, errCorrupt
		}
	default:
		return nil, errCorrupt
	}
	return e, nil
}
