package rulesrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/regfile"
)

// DefaultTimeout bounds one fetch of a rules URL, the body included.
const DefaultTimeout = 30 * time.Second

// maxRedirects is how many redirects one fetch follows.
const maxRedirects = 5

// URLOptions configure a URL source. The zero value is the default.
type URLOptions struct {
	// Auth, when not empty, is sent as the Authorization header
	// (RULEBOT_RULES_AUTH, e.g. "token ghp_…" or "Bearer …"). It is never
	// logged, and net/http drops it on a redirect to another host.
	Auth string
	// Client makes the requests; nil is a client with the default
	// transport (which honours HTTPS_PROXY) that follows at most 5
	// redirects, to http and https URLs only.
	Client *http.Client
	// Timeout bounds each fetch, the body included; 0 is DefaultTimeout.
	Timeout time.Duration
	// Limit is the largest body accepted, in bytes; 0 is
	// engine.MaxFileSize (4 MiB). No more than Limit+1 bytes are read.
	Limit int64
}

// URL is a rules file served over HTTP. Each Fetch is a GET; after a
// successful one the next carries If-None-Match and If-Modified-Since with
// that answer's ETag and Last-Modified, so an unchanged file is a 304.
//
// The operator's URL is used as given: unlike a rule's fetch, it may point
// at a private address (SPEC §8).
type URL struct {
	raw  string // as given, credentials included: never logged
	name string // without credentials
	opt  URLOptions

	mu      sync.Mutex // one Fetch at a time, and guards the fields below
	have    bool       // a 200 has been accepted
	last    []byte
	etag    string
	lastMod string
}

// NewURL returns the Source for the http(s) URL raw.
func NewURL(raw string, opt URLOptions) (*URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error repeats the URL, credentials and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("rules URL: %v", err)
	}
	name := Redact(u)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: only http and https URLs are fetched", name)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: no host in the URL", name)
	}
	if opt.Client == nil {
		opt.Client = &http.Client{CheckRedirect: checkRedirect}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Limit <= 0 {
		opt.Limit = engine.MaxFileSize
	}
	return &URL{raw: raw, name: name, opt: opt}, nil
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected to a %s: URL", req.URL.Scheme)
	}
	return nil
}

// Name returns the URL without its user information and with the values of
// token-like query parameters replaced by REDACTED.
func (s *URL) Name() string { return s.name }

// Fetch gets the rules file. A 304 returns the bytes of the previous
// successful Fetch with changed false; a 200 returns its body, changed when
// it differs from the previous one (a server that sends no ETag nor
// Last-Modified still causes no reload for an unchanged file). Any other
// status, a body over the limit, or no complete answer within the timeout
// is an error naming the URL without credentials.
func (s *URL) Fetch(ctx context.Context) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.raw, nil)
	if err != nil {
		return nil, false, s.fail(ctx, err)
	}
	req.Header.Set("User-Agent", "rulebot")
	if s.opt.Auth != "" {
		req.Header.Set("Authorization", s.opt.Auth)
	}
	if s.have {
		if s.etag != "" {
			req.Header.Set("If-None-Match", s.etag)
		}
		if s.lastMod != "" {
			req.Header.Set("If-Modified-Since", s.lastMod)
		}
	}
	resp, err := s.opt.Client.Do(req)
	if err != nil {
		return nil, false, s.fail(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && s.have:
		return s.last, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%s: %s", s.name, s.status(resp.StatusCode))
	}
	if resp.ContentLength > s.opt.Limit {
		return nil, false, fmt.Errorf("%w (Content-Length %d)", regfile.TooLarge(s.name, s.opt.Limit), resp.ContentLength)
	}
	// Read one byte past the limit to notice a longer body, and no more.
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opt.Limit+1))
	if err != nil {
		return nil, false, s.fail(ctx, err)
	}
	if int64(len(body)) > s.opt.Limit {
		return nil, false, regfile.TooLarge(s.name, s.opt.Limit)
	}
	changed := !s.have || !bytes.Equal(body, s.last)
	s.have, s.last = true, body
	s.etag, s.lastMod = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	return body, changed, nil
}

// status writes an HTTP status with the standard text (never the server's,
// which it chooses), and a hint where a token is the likely cause: GitHub
// answers 404 for a private repository's file fetched without one.
func (s *URL) status(code int) string {
	st := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	switch {
	case code == http.StatusNotModified:
		return st + " to a request that was not conditional"
	case (code == 401 || code == 403 || code == 404) && s.opt.Auth == "":
		return st + " (RULEBOT_RULES_AUTH is not set: a private repository needs a token)"
	case code == 401 || code == 403:
		return st + " (the token in RULEBOT_RULES_AUTH was refused)"
	}
	return st
}

// fail describes a failed request without repeating the URL as net/http
// writes it (which keeps the user name) or the local port (which changes
// every time, and would defeat Poll's logging of distinct errors only).
func (s *URL) fail(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no complete answer within %s", s.name, s.opt.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return fmt.Errorf("%s: %s: %v", s.name, oe.Op, oe.Err)
	}
	return fmt.Errorf("%s: %v", s.name, err)
}

// Redact returns u without user information and fragment, with the value of
// every query parameter whose name looks like it holds a secret (token, key,
// secret, sig, auth, pass, cred: e.g. GitHub's raw ?token= or an S3
// X-Amz-Signature) replaced by REDACTED.
func Redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if key, err := url.QueryUnescape(k); err == nil && secretKey(key) {
				parts[i] = k + "=REDACTED"
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return c.String()
}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"token", "key", "secret", "sig", "auth", "pass", "cred"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
