package memory

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// selfSigned writes a self-signed certificate for 127.0.0.1, as Heroku's
// Key-Value Store serves one, and its key.
func selfSigned(t *testing.T) *tlsFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tf := &tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for path, block := range map[string]*pem.Block{
		tf.cert: {Type: "CERTIFICATE", Bytes: der},
		tf.key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tf
}

// TestRedisTLS: rediss:// to a server with a self-signed certificate
// connects when verification is skipped (by REDIS_TLS_SKIP_VERIFY or the
// URL's skip_verify=true), and fails, saying how to skip it, otherwise.
func TestRedisTLS(t *testing.T) {
	addr := startRedis(t, selfSigned(t))
	ctx := context.Background()
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" for success
	}{
		{"verified", map[string]string{"REDIS_URL": "rediss://" + addr},
			"tls: failed to verify certificate"},
		{"verified, and the error says how to skip it", map[string]string{"REDIS_URL": "rediss://" + addr},
			"needs REDIS_TLS_SKIP_VERIFY=true"},
		{"REDIS_TLS_SKIP_VERIFY=true", map[string]string{"REDIS_URL": "rediss://" + addr, "REDIS_TLS_SKIP_VERIFY": "true"}, ""},
		{"skip_verify=true in the URL", map[string]string{"REDIS_URL": "rediss://" + addr + "?skip_verify=true"}, ""},
		{"REDIS_TLS_SKIP_VERIFY=false", map[string]string{"REDIS_URL": "rediss://" + addr, "REDIS_TLS_SKIP_VERIFY": "false"},
			"tls: failed to verify certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, ok, err := RedisConfigFromEnv(func(k string) string { return c.env[k] }, "tlsbot")
			if !ok || err != nil {
				t.Fatalf("RedisConfigFromEnv: %v, %v", ok, err)
			}
			s, err := OpenRedis(ctx, cfg)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("OpenRedis: %v, want an error with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Write(ctx, add("karma/UBOB", 1)); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Get(ctx, "karma/UBOB"); err != nil || v == nil {
				t.Fatalf("Get over TLS: %v, %v", v, err)
			}
		})
	}
}

// TestRedisLayout pins how memory looks in Redis, as README tells
// operators who inspect it with redis-cli.
func TestRedisLayout(t *testing.T) {
	addr := startRedis(t, nil)
	ctx := context.Background()
	s, err := OpenRedis(ctx, RedisConfig{URL: "redis://" + addr, Bot: "karmabot"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	for _, w := range []Write{
		set("n", "12"),
		add("karma/UBOB", 3),
		push("quotes", "first", 0),
		withTTL(set("seen/UBOB", "2026-11-26"), time.Hour),
	} {
		if err := s.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, "dedupe/C1/1.000", time.Minute); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"rulebot:karmabot:mem:n":                 "t:12",
		"rulebot:karmabot:mem:karma/UBOB":        "n:3",
		"rulebot:karmabot:mem:seen/UBOB":         "t:2026-11-26",
		"rulebot:karmabot:claim:dedupe/C1/1.000": "1",
	} {
		if got, err := raw.Get(ctx, key).Result(); err != nil || got != want {
			t.Errorf("GET %s = %q, %v; want %q", key, got, err, want)
		}
	}
	if got, err := raw.LRange(ctx, "rulebot:karmabot:mem:quotes", 0, -1).Result(); err != nil || len(got) != 1 || got[0] != "first" {
		t.Errorf("LRANGE quotes = %q, %v", got, err)
	}
	if d, err := raw.PTTL(ctx, "rulebot:karmabot:mem:seen/UBOB").Result(); err != nil || d <= 0 || d > time.Hour {
		t.Errorf("PTTL seen/UBOB = %v, %v; want at most 1h", d, err)
	}
	if d, err := raw.PTTL(ctx, "rulebot:karmabot:claim:dedupe/C1/1.000").Result(); err != nil || d <= 0 || d > time.Minute {
		t.Errorf("PTTL of the claim = %v, %v; want at most 1m", d, err)
	}
	if d, err := raw.PTTL(ctx, "rulebot:karmabot:mem:karma/UBOB").Result(); err != nil || d != -1 {
		t.Errorf("PTTL karma/UBOB = %v, %v; want none (-1)", d, err)
	}

	other, err := OpenRedis(ctx, RedisConfig{URL: "redis://" + addr, Bot: "otherbot"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if v, err := other.Get(ctx, "karma/UBOB"); err != nil || v != nil {
		t.Errorf("another bot sees karmabot's memory: %v, %v", v, err)
	}
	if won, err := other.Claim(ctx, "dedupe/C1/1.000", time.Minute); err != nil || !won {
		t.Errorf("another bot's claim: %v, %v; want its own", won, err)
	}
}

// TestOpenRedisErrors: mistakes in the configuration are clear and never
// print the password.
func TestOpenRedisErrors(t *testing.T) {
	closed := "127.0.0.1:" + freePort(t) // nothing listens there now
	cases := []struct {
		cfg  RedisConfig
		want string
	}{
		{RedisConfig{URL: "redis://user:s3cret@127.0.0.1:notaport", Bot: "b"}, "redis URL: "},
		{RedisConfig{URL: "http://127.0.0.1:6379", Bot: "b"}, "redis URL: redis: invalid URL scheme: http"},
		{RedisConfig{URL: "unix:///tmp/redis.sock", Bot: "b"}, "redis URL: the scheme must be redis:// or rediss://, not unix://"},
		{RedisConfig{URL: "redis://127.0.0.1:6379?nosuch=1", Bot: "b"}, "redis URL: redis: unexpected option: nosuch"},
		{RedisConfig{URL: "redis://127.0.0.1:6379", Bot: "a:b"}, `bot name "a:b" cannot prefix Redis keys`},
		{RedisConfig{URL: "redis://127.0.0.1:6379", Bot: ""}, `bot name "" cannot prefix Redis keys`},
		{RedisConfig{URL: "redis://:s3cret@" + closed, Bot: "b"}, "redis at " + closed + ": "},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		s, err := OpenRedis(ctx, c.cfg)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("OpenRedis(%q, %q) succeeded", c.cfg.URL, c.cfg.Bot)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenRedis(%q, %q) = %v, want %q… without the password", c.cfg.URL, c.cfg.Bot, err, c.want)
		}
	}
}

func TestRedisConfigFromEnv(t *testing.T) {
	cases := []struct {
		env     map[string]string
		want    RedisConfig
		ok      bool
		wantErr string
	}{
		{env: nil, want: RedisConfig{Bot: "b"}},
		{env: map[string]string{"REDIS_URL": "redis://h:1"}, want: RedisConfig{URL: "redis://h:1", Bot: "b"}, ok: true},
		{env: map[string]string{"REDIS_URL": "rediss://h:1", "REDIS_TLS_SKIP_VERIFY": "true"},
			want: RedisConfig{URL: "rediss://h:1", Bot: "b", SkipVerify: true}, ok: true},
		{env: map[string]string{"REDIS_URL": "rediss://h:1", "REDIS_TLS_SKIP_VERIFY": "1"},
			want: RedisConfig{URL: "rediss://h:1", Bot: "b", SkipVerify: true}, ok: true},
		{env: map[string]string{"REDIS_URL": "rediss://h:1", "REDIS_TLS_SKIP_VERIFY": "yes please"},
			wantErr: `REDIS_TLS_SKIP_VERIFY="yes please": want true or false`},
	}
	for _, c := range cases {
		got, ok, err := RedisConfigFromEnv(func(k string) string { return c.env[k] }, "b")
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("%v: err = %v, want %q", c.env, err, c.wantErr)
			}
			continue
		}
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("%v: %+v, %v, %v; want %+v, %v", c.env, got, ok, err, c.want, c.ok)
		}
	}
}
