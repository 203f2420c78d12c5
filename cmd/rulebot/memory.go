package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/rulebot/rulebot/internal/memory"
)

// openMemory opens run's memory (SPEC §6): Redis when REDIS_URL is set,
// shared by replicas, else the file c.memory. where says which, for the
// log, without the URL's password. A configuration that cannot work (a
// bad URL, a certificate that does not verify, a bot name that cannot
// prefix keys) is exit 2; a Redis that does not answer is exit 1, so that
// a supervisor starts the bot again.
func openMemory(ctx context.Context, c runConfig, bot string) (mem memory.Store, shared bool, where string, err error) {
	cfg, ok, err := memory.RedisConfigFromEnv(c.getenv, bot)
	if err != nil {
		return nil, false, "", &exitError{code: 2, msg: err.Error()}
	}
	if !ok {
		if c.getenv("DYNO") != "" {
			c.logger.Warn("memory is kept in " + c.memory + " on the dyno's disk, which Heroku erases at every restart " +
				"(at least once a day): to keep it, add a Redis (heroku addons:create heroku-redis), which sets REDIS_URL")
		}
		f, err := memory.OpenFile(c.memory, nil)
		if err != nil {
			return nil, false, "", &exitError{code: 1, msg: err.Error()}
		}
		return f, false, "file " + c.memory, nil
	}
	if c.memorySet {
		c.logger.Warn("REDIS_URL is set, so memory is in Redis and -memory is ignored", "memory_file", c.memory)
	}
	redis.SetLogger(redisLogger{c.logger}) // go-redis' own messages join the bot's log
	r, err := memory.OpenRedis(ctx, cfg)
	if err != nil {
		var ne net.Error
		var cv *tls.CertificateVerificationError
		if errors.As(err, &ne) && !errors.As(err, &cv) {
			return nil, false, "", &exitError{code: 1, msg: "memory: " + err.Error()}
		}
		return nil, false, "", &exitError{code: 2, msg: "memory: " + err.Error()}
	}
	return r, true, "redis", nil
}

// redisLogger passes go-redis' log lines (a lost connection, a failed
// dial) to the bot's log as warnings.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
