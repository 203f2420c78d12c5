package netguard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// MaxRedirects is how many redirects a fetch follows.
const MaxRedirects = 3

// CheckRedirect is the http.Client CheckRedirect of rule fetches. It
// follows at most MaxRedirects redirects, to http and https URLs only,
// checks each target's host as CheckHost does (its addresses are checked
// again when dialled) under the policy of the request's context, and once
// a redirect has gone to another host (another host name or port), the
// requests that follow carry no header but User-Agent: no header the rule
// set and no Referer. A redirect to another host that would send the
// request body again (307, 308) is refused.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("a redirect to %s: was refused: only http and https URLs can be fetched", s)
	}
	if err := policyFrom(req.Context()).CheckHost(req.URL.Hostname()); err != nil {
		return err
	}
	moved := !sameHost(req.URL, via[0].URL)
	for _, r := range via[1:] {
		moved = moved || !sameHost(r.URL, via[0].URL)
	}
	if !moved {
		return nil
	}
	if req.Body != nil && req.Body != http.NoBody {
		return fmt.Errorf("a redirect to another host (%s) was refused: it would send the request body there", req.URL.Host)
	}
	for name := range req.Header {
		if name != "User-Agent" {
			delete(req.Header, name)
		}
	}
	return nil
}

// sameHost reports whether a and b name the same host and port.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
