package memory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment variables that RedisConfigFromEnv reads.
const (
	EnvRedisURL        = "REDIS_URL"
	EnvRedisSkipVerify = "REDIS_TLS_SKIP_VERIFY"
)

// RedisConfig says which Redis holds the memory and under which keys.
type RedisConfig struct {
	// URL is redis://[USER:PASSWORD@]HOST:PORT[/DB] or rediss://… for TLS.
	// go-redis' query options are accepted, skip_verify=true among them.
	URL string
	// Bot is bot.name. Memory keys are rulebot:BOT:mem:KEY, claims
	// rulebot:BOT:claim:KEY, so several bots can share one Redis.
	Bot string
	// SkipVerify, for rediss://, accepts any certificate from the server.
	// Heroku's Key-Value Store serves TLS with a self-signed certificate,
	// which no client can verify: it needs this.
	SkipVerify bool
}

// RedisConfigFromEnv returns the configuration that the environment gives
// (getenv is os.Getenv): REDIS_URL, and REDIS_TLS_SKIP_VERIFY=true to skip
// the verification of a rediss:// server's certificate, as Heroku's
// Key-Value Store needs (its add-on sets REDIS_URL, and rewrites it when
// it rotates credentials, so the switch cannot live in the URL). ok is
// false when REDIS_URL is unset.
func RedisConfigFromEnv(getenv func(string) string, bot string) (cfg RedisConfig, ok bool, err error) {
	cfg = RedisConfig{URL: getenv(EnvRedisURL), Bot: bot}
	if cfg.URL == "" {
		return cfg, false, nil
	}
	if s := getenv(EnvRedisSkipVerify); s != "" {
		if cfg.SkipVerify, err = strconv.ParseBool(s); err != nil {
			return cfg, false, fmt.Errorf("%s=%q: want true or false", EnvRedisSkipVerify, s)
		}
	}
	return cfg, true, nil
}

// Redis is memory in Redis, shared by every replica of the bot. Text is
// stored as a Redis string "t:TEXT", a number as "n:NUMBER" (so the text
// "12" is never taken for a number), a list as a Redis list. Each write is
// one command or one Lua script, atomic on the server; TTLs are Redis'
// own expiries.
type Redis struct {
	c     *redis.Client
	addr  string
	mem   string // prefix of memory keys
	claim string // prefix of claim keys
	lease string // prefix of lease keys
}

// OpenRedis connects to the Redis of cfg and checks that it answers.
func OpenRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	if cfg.Bot == "" || strings.ContainsFunc(cfg.Bot, func(r rune) bool { return r == ':' || r < ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("bot name %q cannot prefix Redis keys: it must be non-empty, without ':' or control characters", cfg.Bot)
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) { // its text holds the URL, password and all
			err = uerr.Err
		}
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	if u, _ := url.Parse(cfg.URL); u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis URL: the scheme must be redis:// or rediss://, not %s://", u.Scheme)
	}
	if opt.TLSConfig != nil && cfg.SkipVerify {
		opt.TLSConfig.InsecureSkipVerify = true
	}
	opt.DisableIdentity = true
	r := &Redis{
		c:     redis.NewClient(opt),
		addr:  opt.Addr,
		mem:   "rulebot:" + cfg.Bot + ":mem:",
		claim: "rulebot:" + cfg.Bot + ":claim:",
		lease: "rulebot:" + cfg.Bot + ":lease:",
	}
	if err := r.c.Ping(ctx).Err(); err != nil {
		r.c.Close()
		var cerr *tls.CertificateVerificationError
		if errors.As(err, &cerr) {
			return nil, fmt.Errorf("redis at %s: %w (a server with a self-signed certificate, such as Heroku's Key-Value Store, needs %s=true)", r.addr, err, EnvRedisSkipVerify)
		}
		return nil, fmt.Errorf("redis at %s: %w", r.addr, err)
	}
	return r, nil
}

// getScript returns, for each key, its string, its list, or nil.
var getScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k).ok
  if t == 'string' then out[i] = redis.call('GET', k)
  elseif t == 'list' then out[i] = redis.call('LRANGE', k, 0, -1)
  else out[i] = false end
end
return out`)

// addScript adds ARGV[1] to the number at KEYS[1] (absent: 0) and sets its
// expiry to ARGV[2] ms (0: none). %.17g reads back as the same float64.
var addScript = redis.NewScript(`
local cur = 0
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then
  local v = redis.call('GET', KEYS[1])
  if string.sub(v, 1, 2) ~= 'n:' then return redis.error_reply('RULEBOT text') end
  cur = tonumber(string.sub(v, 3))
  if cur == nil then return redis.error_reply('RULEBOT other') end
elseif t == 'list' then return redis.error_reply('RULEBOT list')
elseif t ~= 'none' then return redis.error_reply('RULEBOT other') end
local n = cur + tonumber(ARGV[1])
if n ~= n or n == math.huge or n == -math.huge then return redis.error_reply('RULEBOT overflow') end
local ttl = tonumber(ARGV[2])
local s = 'n:' .. string.format('%.17g', n)
if ttl > 0 then redis.call('SET', KEYS[1], s, 'PX', ttl) else redis.call('SET', KEYS[1], s) end
return s`)

// pushScript appends ARGV[1] to the list at KEYS[1], keeps its last
// ARGV[2] items and sets its expiry to ARGV[3] ms (0: none).
var pushScript = redis.NewScript(`
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then
  if string.sub(redis.call('GET', KEYS[1]), 1, 2) == 'n:' then return redis.error_reply('RULEBOT number') end
  return redis.error_reply('RULEBOT text')
elseif t ~= 'list' and t ~= 'none' then return redis.error_reply('RULEBOT other') end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
return 1`)

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) (any, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	vals, err := getScript.Run(ctx, r.c, []string{r.mem + key}).Slice()
	if err != nil {
		return nil, r.fail(err)
	}
	return redisValue(vals[0]), nil
}

// Scan implements Store. It walks the keys of the Redis database that
// match (Redis' SCAN), sorts them and reads the first MaxScan live ones.
func (r *Redis) Scan(ctx context.Context, prefix string) (map[string]any, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	full := r.mem + prefix
	var keys []string
	it := r.c.Scan(ctx, 0, escapeGlob(full)+"*", 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return nil, r.fail(err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys) // SCAN may return a key twice
	out := make(map[string]any)
	for len(keys) > 0 && len(out) < MaxScan {
		batch := keys[:min(len(keys), MaxScan-len(out))]
		keys = keys[len(batch):]
		vals, err := getScript.Run(ctx, r.c, batch).Slice()
		if err != nil {
			return nil, r.fail(err)
		}
		for i, v := range vals {
			if v := redisValue(v); v != nil {
				out[batch[i][len(full):]] = v
			}
		}
	}
	return out, nil
}

// Write implements Store.
func (r *Redis) Write(ctx context.Context, w Write) error {
	if err := w.Validate(); err != nil {
		return err
	}
	key := r.mem + w.Key
	var err error
	switch w.Op {
	case Set:
		err = r.c.Set(ctx, key, "t:"+w.Text, time.Duration(millis(w.TTL))*time.Millisecond).Err()
	case Add:
		err = addScript.Run(ctx, r.c, []string{key}, strconv.FormatFloat(w.Number, 'g', -1, 64), millis(w.TTL)).Err()
	case Push:
		err = pushScript.Run(ctx, r.c, []string{key}, w.Text, w.keep(), millis(w.TTL)).Err()
	case Delete:
		err = r.c.Del(ctx, key).Err()
	}
	if err == nil {
		return nil
	}
	if rest, ok := strings.CutPrefix(err.Error(), "RULEBOT "); ok {
		switch rest {
		case "text":
			return wrongType(w.Op, w.Key, holdsText)
		case "number":
			return wrongType(w.Op, w.Key, holdsNumber)
		case "list":
			return wrongType(w.Op, w.Key, holdsList)
		case "other":
			return wrongType(w.Op, w.Key, holdsOther)
		case "overflow":
			return overflow(w.Key, w.Number)
		}
	}
	return r.fail(err)
}

// Claim implements Store with SET NX PX.
func (r *Redis) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkClaim(key, ttl); err != nil {
		return false, err
	}
	won, err := r.c.SetNX(ctx, r.claim+key, 1, ttl).Result()
	if err != nil {
		return false, r.fail(err)
	}
	return won, nil
}

// leaseScript gives the lease KEYS[1] to ARGV[1] for ARGV[2] ms when it is
// free or already ARGV[1]'s: 1 when it did, 0 when another owner holds it.
var leaseScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// Lease implements Store: SET NX PX, or a renewal when the owner matches,
// in one script.
func (r *Redis) Lease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := checkLease(key, owner, ttl); err != nil {
		return false, err
	}
	won, err := leaseScript.Run(ctx, r.c, []string{r.lease + key}, owner, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, r.fail(err)
	}
	return won == 1, nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }

func (r *Redis) fail(err error) error {
	return fmt.Errorf("redis at %s: %w", r.addr, err)
}

// redisValue decodes what getScript returns for one key.
func redisValue(v any) any {
	switch v := v.(type) {
	case string:
		if s, ok := strings.CutPrefix(v, "n:"); ok {
			if n, err := strconv.ParseFloat(s, 64); err == nil {
				return n
			}
		}
		s, _ := strings.CutPrefix(v, "t:")
		return s
	case []any:
		list := make([]string, 0, len(v))
		for _, item := range v {
			s, _ := item.(string)
			list = append(list, s)
		}
		return list
	}
	return nil
}

// millis is ttl in whole milliseconds, rounded up; 0 for none.
func millis(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// escapeGlob escapes the characters that Redis' MATCH patterns interpret.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if strings.IndexByte(`*?[]\^`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
