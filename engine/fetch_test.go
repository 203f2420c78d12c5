package engine_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

// TestFetch runs rules that fetch from a local httptest server.
func TestFetch(t *testing.T) {
	blockUntilCanceled := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	tests := []struct {
		name    string
		handler http.HandlerFunc
		rules   string // %API% is replaced by the server's URL
		steps   []step
		reqs    []request // what the server must have received; Header: only the listed ones are checked
	}{
		{
			name:    "status, ok, body and json",
			handler: reply(200, `{"quote": "Winter is coming.", "character": "Ned Stark"}`),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: "%API%"
rules:
  - name: gotme
    match: {command: [gotme, got me]}
    fetch:
      url: "{{ vars.api }}/quotes"
    reply: "{{ fetch.json.quote }} -{{ fetch.json.character }} ({{ fetch.status }} {{ fetch.ok }} {{ len(fetch.body) }})"
    react: scroll
`,
			steps: []step{{at("got me"), []string{
				"gotme: Winter is coming. -Ned Stark (200 true 56)",
				"gotme: :scroll: on 1700000000.000100",
			}}},
			reqs: []request{{Method: "GET", URI: "/quotes"}},
		},
		{
			name:    "a body that is not JSON",
			handler: reply(201, "plain <b>text</b>"),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: plain
    fetch: {url: "%API%/plain"}
    reply: "{{ fetch.json == nil }} {{ fetch.body }} {{ fetch.status }}"
`,
			steps: []step{{msg("x"), []string{"plain: true plain &lt;b&gt;text&lt;/b&gt; 201"}}},
			reqs:  []request{{Method: "GET", URI: "/plain"}},
		},
		{
			name:    "method, headers and body",
			handler: reply(200, `{"ok": true}`),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: "%API%"
rules:
  - name: post
    match: {command: post}
    fetch:
      url: "{{ vars.api }}/messages"
      method: post
      headers:
        Content-Type: application/json
        Authorization: "Bearer {{ env('API_TOKEN') }}"
        X-User: "{{ user.name }} <{{ user.id }}>"
      body: '{"text": {{ json(rest) }}, "args": {{ json(args) }}, "n": {{ json(len(args)) }}}'
    reply: "posted: {{ fetch.json.ok }}"
`,
			steps: []step{{at(`post say "hi" &amp; &lt;bye&gt;`), []string{"post: posted: true"}}},
			reqs: []request{{
				Method: "POST", URI: "/messages",
				Header: http.Header{
					"Content-Type":  {"application/json"},
					"Authorization": {"Bearer s3cret"},
					"X-User":        {"alice <UALICE>"},
				},
				Body: `{"text": "say \"hi\" \u0026 \u003cbye\u003e", "args": ["say","\"hi\"","\u0026","\u003cbye\u003e"], "n": 4}`,
			}},
		},
		{
			name:    "timeout",
			handler: blockUntilCanceled,
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: slow
    fetch: {url: "%API%/slow", timeout: 50ms}
    reply: "never"
    react: turtle
    on_error: "too slow: {{ error }}"
`,
			steps: []step{{msg("x"), []string{"slow: too slow: fetch failed: timed out after 50ms"}}},
			reqs:  []request{{Method: "GET", URI: "/slow"}},
		},
		{
			name:    "timeout from the bot section",
			handler: blockUntilCanceled,
			rules: `
bot:
  fetch: {timeout: 20ms, allow: ["127.0.0.1"]}
rules:
  - name: slow
    fetch: {url: "%API%/slow"}
    reply: "never"
    on_error: "{{ error }}"
`,
			steps: []step{{msg("x"), []string{"slow: fetch failed: timed out after 20ms"}}},
			reqs:  []request{{Method: "GET", URI: "/slow"}},
		},
		{
			name:    "max_bytes exceeded",
			handler: reply(200, "12345678901"),
			rules: `
bot:
  fetch: {max_bytes: 10, allow: ["127.0.0.1"]}
rules:
  - name: big
    fetch: {url: "%API%/big"}
    reply: "{{ fetch.body }}"
    on_error: "{{ error }}"
`,
			steps: []step{{msg("x"), []string{"big: fetch failed: the answer is larger than 10 bytes"}}},
			reqs:  []request{{Method: "GET", URI: "/big"}},
		},
		{
			name:    "max_bytes reached exactly",
			handler: reply(200, "1234567890"),
			rules: `
bot:
  fetch: {max_bytes: 10B, allow: ["127.0.0.1"]}
rules:
  - name: big
    fetch: {url: "%API%/big"}
    reply: "{{ fetch.body }}"
    on_error: "{{ error }}"
`,
			steps: []step{{msg("x"), []string{"big: 1234567890"}}},
			reqs:  []request{{Method: "GET", URI: "/big"}},
		},
		{
			name:    "non-2xx",
			handler: reply(503, `{"message": "maintenance"}`),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: down
    fetch: {url: "%API%/down"}
    reply: "never"
    react: thumbsup
    on_error: "{{ error }} ({{ fetch.status }}, ok={{ fetch.ok }}, {{ fetch.json.message }})"
`,
			steps: []step{{msg("x"), []string{"down: fetch failed: HTTP 503 (503, ok=false, maintenance)"}}},
			reqs:  []request{{Method: "GET", URI: "/down"}},
		},
		{
			name:    "no on_error: nothing is sent, not even the reaction",
			handler: reply(404, "not found"),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: down
    fetch: {url: "%API%/gone"}
    reply: "never"
    react: thumbsup
`,
			steps: []step{{msg("x"), nil}},
			reqs:  []request{{Method: "GET", URI: "/gone"}},
		},
		{
			name:    "an expression that fails after the fetch",
			handler: reply(200, `{"list": []}`),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: pick
    fetch: {url: "%API%/list"}
    reply: "{{ pick(fetch.json.list) }}"
    react: thumbsup
    on_error: "{{ error }}"
`,
			steps: []step{{msg("x"), []string{"pick: pick: the list is empty"}}},
			reqs:  []request{{Method: "GET", URI: "/list"}},
		},
		{
			name:    "url escaping",
			handler: reply(200, "ok"),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: "%API%"
rules:
  - name: search
    match: {command: search}
    fetch:
      url: "{{ vars.api }}/search/{{ rest }}/x?q={{ rest }}&n={{ len(args) }}&u={{ urlquery('a b') }}"
    reply: "{{ fetch.body }}"
`,
			steps: []step{{at("search a b/../c?d&amp;e=f#g"), []string{"search: ok"}}},
			reqs: []request{{Method: "GET",
				URI: "/search/a%20b%2F..%2Fc%3Fd&e=f%23g/x?q=a+b%2F..%2Fc%3Fd%26e%3Df%23g&n=2&u=a%2Bb"}},
		},
		{
			name:    "a base url with a query takes later values query-escaped",
			handler: reply(200, "ok"),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: "%API%/q?key=1&"
rules:
  - name: q
    fetch: {url: "{{ vars.api }}text={{ text }}"}
    reply: "{{ fetch.body }}"
`,
			steps: []step{{msg("a/b c"), []string{"q: ok"}}},
			reqs:  []request{{Method: "GET", URI: "/q?key=1&text=a%2Fb+c"}},
		},
		{
			name:    "a number from fetch.json in num and urlquery",
			handler: reply(200, `{"price": 1234.5, "id": 7}`),
			rules: `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: price
    fetch: {url: "%API%/price"}
    reply: "{{ thousands(num(fetch.json.price) * 2) }} {{ urlquery(fetch.json.id) }}"
    on_error: "{{ error }}"
`,
			steps: []step{{msg("x"), []string{"price: 2,469 7"}}},
			reqs:  []request{{Method: "GET", URI: "/price"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			opts := options() // the engine's own client, guarded by bot.fetch.allow
			opts.Getenv = func(name string) string {
				if name == "API_TOKEN" {
					return "s3cret"
				}
				return ""
			}
			e := engine.New(compile(t, strings.ReplaceAll(tt.rules, "%API%", srv.URL)), opts)
			run(t, e, tt.steps)
			got := srv.requests()
			if len(got) != len(tt.reqs) {
				t.Fatalf("the server got %d requests, want %d: %+v", len(got), len(tt.reqs), got)
			}
			for i, want := range tt.reqs {
				g := got[i]
				if g.Method != want.Method || g.URI != want.URI || g.Body != want.Body {
					t.Errorf("request %d = %s %s body %q\nwant        %s %s body %q", i, g.Method, g.URI, g.Body, want.Method, want.URI, want.Body)
				}
				for name, v := range want.Header {
					if !slices.Equal(g.Header[name], v) {
						t.Errorf("request %d: header %s = %q, want %q", i, name, g.Header[name], v)
					}
				}
			}
		})
	}
}

// TestFetchOnlyHTTP checks that a url that renders to anything but http or
// https is refused at run time, before any request is made.
func TestFetchOnlyHTTP(t *testing.T) {
	var sent []string
	opts := options()
	opts.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String())
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("secret")), Request: r}, nil
	})}
	e := engine.New(compile(t, `
vars:
  file: "file:///etc/passwd"
rules:
  - name: fromvars
    match: {command: vars}
    fetch: {url: "{{ vars.file }}"}
    reply: "{{ fetch.body }}"
    on_error: "{{ error }}"
  - name: fromtext
    match: {command: url}
    fetch: {url: "{{ rest }}"}
    reply: "{{ fetch.body }}"
    on_error: "{{ error }}"
`), opts)
	run(t, e, []step{
		{at("vars"), []string{`fromvars: fetch failed: "file:///etc/passwd" is not an http or https URL`}},
		{at("url file:///etc/passwd"), []string{`fromtext: fetch failed: "file:///etc/passwd" is not an http or https URL`}},
		{at("url gopher://x.example/"), []string{`fromtext: fetch failed: "gopher://x.example/" is not an http or https URL`}},
		{at("url /etc/passwd"), []string{`fromtext: fetch failed: "/etc/passwd" is not an http or https URL`}},
		{at("url http:///nohost"), []string{`fromtext: fetch failed: "http:///nohost" is not an http or https URL`}},
		{at("url HTTPS://x.example/ok"), []string{"fromtext: secret"}},
	})
	if !slices.Equal(sent, []string{"https://x.example/ok"}) {
		t.Errorf("requests sent: %q, want only https://x.example/ok", sent)
	}
}

// TestRuleFromContext checks that a transport can tell which rule fetches.
func TestRuleFromContext(t *testing.T) {
	var rules []string
	opts := options()
	opts.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rules = append(rules, engine.RuleFromContext(r.Context()))
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
	})}
	e := engine.New(compile(t, `
rules:
  - name: first
    continue: true
    fetch: {url: "https://one.example/"}
    reply: "1"
  - name: second
    fetch: {url: "https://two.example/"}
    reply: "2"
`), opts)
	run(t, e, []step{{msg("x"), []string{"first: 1", "second: 2"}}})
	if !slices.Equal(rules, []string{"first", "second"}) {
		t.Errorf("RuleFromContext gave %q, want [first second]", rules)
	}
	if got := engine.RuleFromContext(context.Background()); got != "" {
		t.Errorf("RuleFromContext(Background) = %q, want empty", got)
	}
}

// TestFetchHonoursHandleContext checks that canceling Handle's context
// stops a fetch.
func TestFetchHonoursHandleContext(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := options()
	opts.HTTPClient = srv.Client()
	// Cancel Handle's context once the request is on its way.
	opts.HTTPClient.Transport = wrapTransport(opts.HTTPClient.Transport, cancel)
	e := engine.New(compile(t, `
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: slow
    fetch: {url: "`+srv.URL+`", timeout: 1h}
    reply: "never"
    on_error: "{{ error }}"
`), opts)
	got := show(msg("x"), e.Handle(ctx, msg("x")))
	if want := []string{"slow: fetch failed: canceled"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wrapTransport calls cancel once the request is on its way.
func wrapTransport(rt http.RoundTripper, cancel func()) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		cancel()
		return rt.RoundTrip(r)
	})
}

// TestFetchFailedHook checks Options.FetchFailed: called with the rule's
// name for a fetch that fails (an HTTP error status, a refused host), and
// never for one that succeeds.
func TestFetchFailedHook(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(500)
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var mu sync.Mutex
	var failed []string
	opts := options()
	opts.FetchFailed = func(rule string) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, rule)
	}
	e := engine.New(compile(t, strings.ReplaceAll(`
bot:
  fetch: {allow: ["127.0.0.1"]}
rules:
  - name: good
    match: {command: good}
    fetch: {url: "%API%/good"}
    reply: "{{ fetch.body }}"
  - name: bad
    match: {command: bad}
    fetch: {url: "%API%/bad"}
    reply: "{{ fetch.body }}"
  - name: refused
    match: {command: refused}
    fetch: {url: "http://example.invalid/"}
    reply: "{{ fetch.body }}"
`, "%API%", srv.URL)), opts)
	ctx := context.Background()
	for _, text := range []string{"good", "bad", "refused", "good"} {
		e.Handle(ctx, at(text))
	}
	if want := []string{"bad", "refused"}; !slices.Equal(failed, want) {
		t.Errorf("FetchFailed called for %q, want %q", failed, want)
	}
}
