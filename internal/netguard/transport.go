package netguard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// DialContext connects to addr (host:port) if p allows it. An allowed host
// name is dialled as it is; any other host is resolved and each of its
// addresses is checked as the connection is made to it, so that the address
// checked is the address connected to.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if host, _, err := net.SplitHostPort(addr); err != nil || !p.AllowsName(host) {
		d.Control = p.control
	}
	return d.DialContext(ctx, network, addr)
}

// control is a net.Dialer Control function: it runs for every address the
// dialer tries, after DNS and before the connection is made.
func (p *Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("cannot check the address %q: %w", address, err)
	}
	return p.Check(ap.Addr())
}

// Transport is the http.RoundTripper for the fetches of rules. It sends
// each request over connections dialled under the policy of the request's
// context (WithPolicy), and never reuses a connection under another
// policy, so that a reload that takes an entry off bot.fetch.allow takes
// effect at once. It uses no proxy: HTTP_PROXY and HTTPS_PROXY are ignored,
// since through a proxy the connection to the target would be made where
// the check cannot see it. The zero Transport is ready to use.
type Transport struct {
	mu     sync.Mutex
	policy *Policy
	rt     *http.Transport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.transport(policyFrom(req.Context())).RoundTrip(req)
}

// transport returns the http.Transport for p, replacing the one for
// another policy.
func (t *Transport) transport(p *Policy) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rt != nil && t.policy.Equal(p) {
		return t.rt
	}
	if t.rt != nil {
		t.rt.CloseIdleConnections()
	}
	t.policy = p
	t.rt = &http.Transport{
		Proxy:                 nil,
		DialContext:           p.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	return t.rt
}

// CloseIdleConnections closes the connections that are not in use.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rt != nil {
		t.rt.CloseIdleConnections()
	}
}
