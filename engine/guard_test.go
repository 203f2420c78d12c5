package engine_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

// fetchRules is a rule that fetches whatever URL the sender names, the SSRF
// of issue 6, after a bot: section.
func fetchRules(bot string) string {
	return bot + `
rules:
  - name: get
    match: {command: get}
    fetch:
      url: "{{ rest }}"
      headers: {X-Api-Key: secret}
    reply: "{{ fetch.body }}"
    on_error: "{{ error }}"
`
}

// port returns the port of the test server.
func port(t *testing.T, s *server) string {
	t.Helper()
	_, p, err := net.SplitHostPort(s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFetchGuard checks that a fetch reaches a loopback server only when
// bot.fetch.allow allows it, whether the url names the address or a host
// name that resolves to it, and that the allow list is read from the rules
// the engine serves now.
func TestFetchGuard(t *testing.T) {
	srv := newServer(t, reply(200, "internal data"))
	p := port(t, srv)
	refused := "get: address 127.0.0.1 is not allowed (bot.fetch.allow)"
	// localhost may resolve to ::1 before 127.0.0.1 elsewhere.
	refusedRE := regexp.MustCompile(`^get: address (127\.0\.0\.1|::1) is not allowed \(bot\.fetch\.allow\)$`)
	tests := []struct {
		name string
		bot  string
		url  string
		want string // the reply, or a regexp when it starts with ^
		hits int
	}{
		{"not allowed", "", "http://127.0.0.1:" + p + "/", refused, 0},
		{"an IPv4-mapped address", "", "http://[::ffff:127.0.0.1]:" + p + "/", refused, 0},
		{"a name that resolves to loopback", "", "http://localhost:" + p + "/", refusedRE.String(), 0},
		{"another address allowed", `bot: {fetch: {allow: ["127.0.0.2", "10.0.0.0/8", "grafana.internal"]}}`, "http://localhost:" + p + "/", refusedRE.String(), 0},
		{"allowed by address", `bot: {fetch: {allow: ["127.0.0.1"]}}`, "http://127.0.0.1:" + p + "/", "get: internal data", 1},
		{"allowed by address, fetched by name", `bot: {fetch: {allow: ["127.0.0.1"]}}`, "http://localhost:" + p + "/", "get: internal data", 1},
		{"allowed by range", `bot: {fetch: {allow: ["127.0.0.0/8"]}}`, "http://127.0.0.1:" + p + "/", "get: internal data", 1},
		{"allowed by name", `bot: {fetch: {allow: [localhost]}}`, "http://localhost:" + p + "/", "get: internal data", 1},
		{"a name allows no address", `bot: {fetch: {allow: [localhost]}}`, "http://127.0.0.1:" + p + "/", refused, 0},
		{"allowed by IPv4-mapped address", `bot: {fetch: {allow: ["::ffff:127.0.0.1"]}}`, "http://127.0.0.1:" + p + "/", "get: internal data", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.requests())
			e := engine.New(compile(t, fetchRules(tt.bot)), options())
			got := show(at("get "+tt.url), e.Handle(context.Background(), at("get "+tt.url)))
			ok := len(got) == 1 && got[0] == tt.want
			if strings.HasPrefix(tt.want, "^") {
				ok = len(got) == 1 && regexp.MustCompile(tt.want).MatchString(got[0])
			}
			if !ok {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if n := len(srv.requests()) - before; n != tt.hits {
				t.Errorf("the server got %d requests, want %d", n, tt.hits)
			}
		})
	}
}

// TestFetchGuardFollowsReload checks that the allow list is the one of the
// rules the engine serves now, not of the rules it started with.
func TestFetchGuardFollowsReload(t *testing.T) {
	srv := newServer(t, reply(200, "internal data"))
	allowed := compile(t, fetchRules(`bot: {fetch: {allow: ["127.0.0.1"]}}`))
	e := engine.New(allowed, options())
	get := at("get " + srv.URL + "/")
	run(t, e, []step{{get, []string{"get: internal data"}}, {get, []string{"get: internal data"}}})
	e.Swap(compile(t, fetchRules("")))
	run(t, e, []step{{get, []string{"get: address 127.0.0.1 is not allowed (bot.fetch.allow)"}}})
	e.Swap(allowed)
	run(t, e, []step{{get, []string{"get: internal data"}}})
	if n := len(srv.requests()); n != 3 {
		t.Errorf("the server got %d requests, want 3", n)
	}
}

// TestFetchRedirects checks the redirect rules: at most 3, http and https
// only, each target checked against bot.fetch.allow, and the rule's headers
// dropped once a redirect goes to another host.
func TestFetchRedirects(t *testing.T) {
	var a, b *server
	redirect := func(w http.ResponseWriter, r *http.Request, code int, to string) {
		w.Header().Set("Location", strings.NewReplacer("%A%", a.URL, "%B%", "http://localhost:"+port(t, b), "%B127%", b.URL).Replace(to))
		w.WriteHeader(code)
	}
	routes := map[string]string{ // path: Location, with %A% and %B% the servers
		"/same":    "/final",
		"/other":   "%B%/final",
		"/bounce":  "%B%/back",
		"/back":    "%A%/final",
		"/chain3":  "/chain2",
		"/chain4":  "/chain3",
		"/chain2":  "/chain1",
		"/chain1":  "/final",
		"/ftp":     "ftp://127.0.0.1/x",
		"/file":    "file:///etc/passwd",
		"/to127":   "%B127%/final",
		"/post307": "%B%/final",
		"/same307": "/final",
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		if to, ok := routes[r.URL.Path]; ok {
			code := http.StatusFound
			if strings.HasSuffix(r.URL.Path, "307") {
				code = http.StatusTemporaryRedirect
			}
			redirect(w, r, code, to)
			return
		}
		io.WriteString(w, "at "+r.URL.Path+" key="+r.Header.Get("X-Api-Key")+" auth="+r.Header.Get("Authorization")+" ref="+r.Header.Get("Referer")+" ua="+r.Header.Get("User-Agent"))
	}
	a, b = newServer(t, handler), newServer(t, handler)
	// rules fetches {{ rest }} from base, sending headers and, with POST, a body.
	rules := func(base, allow, method string) *engine.Rules {
		body := ""
		if method == "POST" {
			body = "\n      body: the body"
		}
		return compile(t, `
bot:
  fetch: {allow: [`+allow+`]}
vars:
  base: "`+base+`"
rules:
  - name: get
    match: {command: get}
    fetch:
      url: "{{ vars.base }}/{{ rest }}?token=t0p"
      method: `+method+`
      headers: {X-Api-Key: secret, Authorization: "Bearer s3cret"}`+body+`
    reply: "{{ fetch.body }}"
    on_error: "{{ error }}"
`)
	}
	tests := []struct {
		name   string
		allow  string
		method string
		path   string
		want   string
		aHits  int // requests a and b must have received
		bHits  int
	}{
		{"same host keeps the headers", `"127.0.0.1"`, "GET", "same", "get: at /final key=secret auth=Bearer s3cret ref=" + a.URL + "/same?token=t0p ua=rulebot", 2, 0},
		{"another host gets none", `"127.0.0.1"`, "GET", "other", "get: at /final key= auth= ref= ua=rulebot", 1, 1},
		{"nor does the first host again", `"127.0.0.1"`, "GET", "bounce", "get: at /final key= auth= ref= ua=rulebot", 2, 1},
		{"3 redirects are followed", `"127.0.0.1"`, "GET", "chain3", "get: at /final key=secret auth=Bearer s3cret ref=" + a.URL + "/chain1 ua=rulebot", 4, 0},
		{"4 are not", `"127.0.0.1"`, "GET", "chain4", "get: fetch failed: stopped after 3 redirects", 4, 0},
		{"only to http or https", `"127.0.0.1"`, "GET", "ftp", "get: fetch failed: a redirect to ftp: was refused: only http and https URLs can be fetched", 1, 0},
		{"not to a file", `"127.0.0.1"`, "GET", "file", "get: fetch failed: a redirect to file: was refused: only http and https URLs can be fetched", 1, 0},
		{"to an address not allowed", "localhost", "GET", "to127", "get: address 127.0.0.1 is not allowed (bot.fetch.allow)", 1, 0},
		{"a body goes to the same host again", `"127.0.0.1"`, "POST", "same307", "get: at /final key=secret auth=Bearer s3cret ref=" + a.URL + "/same307?token=t0p ua=rulebot", 2, 0},
		{"but not to another host", `"127.0.0.1"`, "POST", "post307", "get: fetch failed: a redirect to another host (localhost:" + port(t, b) + ") was refused: it would send the request body there", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a0, b0 := len(a.requests()), len(b.requests())
			base := a.URL
			if tt.allow == "localhost" {
				// a is fetched by its name, allowed; b by its address, not allowed.
				base = "http://localhost:" + port(t, a)
			}
			e := engine.New(rules(base, tt.allow, tt.method), options())
			run(t, e, []step{{at("get " + tt.path), []string{tt.want}}})
			if n := len(a.requests()) - a0; n != tt.aHits {
				t.Errorf("server a got %d requests, want %d", n, tt.aHits)
			}
			if n := len(b.requests()) - b0; n != tt.bHits {
				t.Errorf("server b got %d requests, want %d", n, tt.bHits)
			}
		})
	}
}

// TestFetchDotSegments checks that an interpolation that renders only dots
// cannot make a "." or ".." path segment: the server receives them escaped.
func TestFetchDotSegments(t *testing.T) {
	srv := newServer(t, reply(200, "ok"))
	e := engine.New(compile(t, `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: "`+srv.URL+`"
rules:
  - name: api
    match: {command: api}
    fetch: {url: "{{ vars.api }}/api/{{ rest }}"}
    reply: "{{ fetch.body }}"
  - name: two
    match: {command: two}
    fetch: {url: "{{ vars.api }}/x/{{ args[0] }}{{ args[1] }}/y?q={{ args[0] }}"}
    reply: "{{ fetch.body }}"
`), options())
	tests := []struct{ text, uri string }{
		{"api ..", "/api/%2E%2E"},
		{"api .", "/api/%2E"},
		{"api ...", "/api/%2E%2E%2E"},
		{"api ../..", "/api/..%2F.."},
		{"api a..b", "/api/a..b"},
		{"api .x", "/api/.x"},
		{"two . .", "/x/%2E%2E/y?q=."},
		{"two .. x", "/x/%2E%2Ex/y?q=.."},
	}
	for _, tt := range tests {
		before := len(srv.requests())
		name := strings.Fields(tt.text)[0]
		run(t, e, []step{{at(tt.text), []string{name + ": ok"}}})
		reqs := srv.requests()[before:]
		if len(reqs) != 1 || reqs[0].URI != tt.uri {
			t.Errorf("%q: the server got %+v, want one request for %s", tt.text, reqs, tt.uri)
		}
	}
}
