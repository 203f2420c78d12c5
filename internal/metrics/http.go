package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ShutdownTimeout bounds how long Serve waits, once its context ends, for
// the requests in flight (a scrape) to finish before closing them.
const ShutdownTimeout = 5 * time.Second

// DefaultAddr is the default of -http: ":$PORT" when PORT is set (a Heroku
// web dyno, most container platforms), else "" (no HTTP server; a Heroku
// worker dyno has no PORT). getenv is os.Getenv, or a stand-in in tests.
func DefaultAddr(getenv func(string) string) string {
	if port := strings.TrimSpace(getenv("PORT")); port != "" {
		return ":" + port
	}
	return ""
}

// Handler serves GET (and HEAD) /healthz and /metrics; any other path is
// 404, any other method 405.
//
// /healthz answers 200 "ok" when the bot is connected to Slack with rules
// loaded, else 503 and the reason, as text. /metrics is the registry in
// Prometheus' text format (or what the scraper's Accept header asks for).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", m.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

func (m *Metrics) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ready, reason := m.Health()
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, reason)
		return
	}
	fmt.Fprintln(w, "ok")
}

// A Server is the HTTP server Serve started.
type Server struct {
	addr net.Addr
	done chan struct{}
	err  error // set before done is closed
}

// Addr is the address the server listens on: the port chosen, for ":0".
func (s *Server) Addr() net.Addr { return s.addr }

// Wait waits until the server has stopped: after its context ended and it
// shut down (nil), or when it failed on its own (the error).
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Serve listens on addr and serves Handler in the background until ctx
// ends, then shuts down, waiting at most ShutdownTimeout for requests in
// flight. It returns as soon as it listens, so it never holds up the bot:
// with the bound address (logged too, so ":0" can be used) or with the
// error of listening (a bad address, a port in use), so that a bad -http
// fails at start-up. A server that fails later is logged; the bot goes on.
func (m *Metrics) Serve(ctx context.Context, addr string) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-http: %w", err)
	}
	hs := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	s := &Server{addr: ln.Addr(), done: make(chan struct{})}
	m.log.Info("serving health and metrics", "addr", s.addr.String())

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	go func() {
		defer close(s.done)
		select {
		case err := <-served:
			s.err = err
			m.log.Error("health and metrics server stopped", "err", err)
			return
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			m.log.Warn("health and metrics server: closing requests still in flight", "err", err)
			hs.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}
