package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rulebot/rulebot/internal/netguard"
)

// FetchError is the error a failed fetch reports; on_error sees its text.
type FetchError struct {
	URL    string
	Reason string // short: "timed out after 5s", "HTTP 503", ...
	Err    error  // the underlying error, if any
}

// Error is what on_error sees as error. A refused address reads exactly as
// SPEC §8 words it ("address 10.1.2.3 is not allowed (bot.fetch.allow)"),
// so a rule can tell it apart; every other failure starts "fetch failed: ".
func (e *FetchError) Error() string {
	var refused *netguard.RefusedError
	if errors.As(e.Err, &refused) {
		return e.Reason
	}
	return "fetch failed: " + e.Reason
}
func (e *FetchError) Unwrap() error { return e.Err }

type ruleKey struct{}

// RuleFromContext returns the name of the rule whose fetch made a request,
// given the request's context; an http.RoundTripper can use it to say which
// rule asked for a URL.
func RuleFromContext(ctx context.Context) string {
	s, _ := ctx.Value(ruleKey{}).(string)
	return s
}

// fetch performs a rule's fetch. It returns what the rule sees as fetch,
// and an error for anything but a 2xx answer of at most max_bytes.
func (e *Engine) fetch(ctx context.Context, rs *Rules, r *rule, in *input, env map[string]any) (_ exprFetch, err error) {
	defer func() {
		if err != nil && e.opts.FetchFailed != nil {
			e.opts.FetchFailed(r.name)
		}
	}()
	f := r.fetch
	rawURL, err := f.url.render(in, env, escapeURL)
	if err != nil {
		return exprFetch{}, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return exprFetch{}, &FetchError{URL: rawURL, Reason: fmt.Sprintf("%q is not an http or https URL", rawURL)}
	}
	allow := rs.Bot.FetchAllow
	if err := allow.CheckHost(u.Hostname()); err != nil {
		return exprFetch{}, &FetchError{URL: rawURL, Reason: err.Error(), Err: err}
	}
	var body io.Reader
	if f.body != nil {
		s, err := f.body.render(in, env, escapeNone)
		if err != nil {
			return exprFetch{}, err
		}
		body = strings.NewReader(s)
	}
	ctx = netguard.WithPolicy(context.WithValue(ctx, ruleKey{}, r.name), allow)
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, f.method, u.String(), body)
	if err != nil {
		return exprFetch{}, &FetchError{URL: rawURL, Reason: err.Error(), Err: err}
	}
	req.Header.Set("User-Agent", "rulebot")
	for _, h := range f.headers {
		v, err := h.value.render(in, env, escapeNone)
		if err != nil {
			return exprFetch{}, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return exprFetch{}, &FetchError{URL: rawURL, Reason: fmt.Sprintf("header %s holds a line break", h.name)}
		}
		req.Header.Set(h.name, v)
	}
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return exprFetch{}, &FetchError{URL: rawURL, Reason: shortReason(ctx, err, u.Host, f.timeout), Err: err}
	}
	defer resp.Body.Close()
	max := rs.Bot.FetchMaxBytes
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		reason := "reading the answer: " + err.Error()
		if ctx.Err() != nil {
			reason = fmt.Sprintf("timed out after %s", f.timeout)
		}
		return exprFetch{}, &FetchError{URL: rawURL, Reason: reason, Err: err}
	}
	if int64(len(data)) > max {
		return exprFetch{}, &FetchError{URL: rawURL, Reason: fmt.Sprintf("the answer is larger than %d bytes", max)}
	}
	res := exprFetch{Status: resp.StatusCode, OK: resp.StatusCode/100 == 2, Body: string(data)}
	var j any
	if json.Unmarshal(data, &j) == nil {
		res.JSON = j
	}
	if !res.OK {
		return res, &FetchError{URL: rawURL, Reason: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	}
	return res, nil
}

// shortReason says in a few words why a request failed.
func shortReason(ctx context.Context, err error, host string, timeout time.Duration) string {
	var dns *net.DNSError
	var op *net.OpError
	var ue *url.Error
	var refused *netguard.RefusedError
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %s", timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot find host %s", dns.Name)
	case errors.As(err, &op):
		return fmt.Sprintf("cannot reach %s: %v", host, op.Err)
	case errors.As(err, &ue):
		return ue.Err.Error()
	}
	return err.Error()
}
