package memory

import (
	"testing"

	"github.com/rulebot/rulebot/internal/memory/memtest"
)

// The Redis tests start a real redis-server (package memtest).

func redisUnavailable(tb testing.TB, why string) { tb.Helper(); memtest.Unavailable(tb, why) }

// tlsFiles are a server certificate and key for redis-server's TLS port.
type tlsFiles struct{ cert, key string }

func (tf *tlsFiles) files() *memtest.TLSFiles {
	if tf == nil {
		return nil
	}
	return &memtest.TLSFiles{Cert: tf.cert, Key: tf.key}
}

func startRedis(tb testing.TB, tf *tlsFiles) string {
	tb.Helper()
	return memtest.StartRedis(tb, tf.files())
}

func launchRedis(tb testing.TB, tf *tlsFiles) (addr, problem string) {
	tb.Helper()
	return memtest.LaunchRedis(tb, tf.files())
}

func freePort(tb testing.TB) string { return memtest.FreePort(tb) }
