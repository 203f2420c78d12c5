package rulesrc

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// rulesServer serves one rules file with an ETag and a Last-Modified, and
// answers a conditional request that matches with 304. It counts what it
// was asked.
type rulesServer struct {
	mu          sync.Mutex
	body        string
	etag        string
	modified    time.Time
	status      int // when not 0, answer this instead
	requests    int
	conditional int // requests with If-None-Match or If-Modified-Since
	notModified int
	inm, ims    []string // each request's If-None-Match and If-Modified-Since
	auth        []string // each request's Authorization
}

func (s *rulesServer) set(body, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag = body, etag
	s.modified = s.modified.Add(time.Hour)
}

func (s *rulesServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *rulesServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
	s.inm, s.ims = append(s.inm, inm), append(s.ims, ims)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	if inm != "" || ims != "" {
		s.conditional++
	}
	if s.status != 0 {
		http.Error(w, "failing on purpose", s.status)
		return
	}
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Last-Modified", s.modified.UTC().Format(http.TimeFormat))
	if inm == s.etag {
		s.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	io.WriteString(w, s.body)
}

func (s *rulesServer) count() (requests, conditional, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.conditional, s.notModified
}

func newRulesServer(t *testing.T) (*rulesServer, *httptest.Server) {
	t.Helper()
	rs := &rulesServer{body: "v1", etag: `"v1"`, modified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := httptest.NewServer(rs)
	t.Cleanup(ts.Close)
	return rs, ts
}

func mustURL(t *testing.T, raw string, opt URLOptions) *URL {
	t.Helper()
	s, err := NewURL(raw, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestURLConditionalRequests(t *testing.T) {
	rs, ts := newRulesServer(t)
	src := mustURL(t, ts.URL+"/rules.yaml", URLOptions{})
	ctx := context.Background()
	steps := []struct {
		name        string
		set         string // when not "", the server's new body (and ETag)
		status      int    // the server fails with this status
		want        string
		wantChanged bool
		wantErr     string
		wantINM     string
		wantIMS     string
	}{
		{name: "first fetch", want: "v1", wantChanged: true},
		{name: "unchanged", want: "v1", wantINM: `"v1"`, wantIMS: "Fri, 02 Jan 2026 03:04:05 GMT"},
		{name: "server error", status: 500, wantErr: "HTTP 500 Internal Server Error", wantINM: `"v1"`, wantIMS: "Fri, 02 Jan 2026 03:04:05 GMT"},
		{name: "unchanged after an error", want: "v1", wantINM: `"v1"`, wantIMS: "Fri, 02 Jan 2026 03:04:05 GMT"},
		{name: "changed", set: "v2", want: "v2", wantChanged: true, wantINM: `"v1"`, wantIMS: "Fri, 02 Jan 2026 03:04:05 GMT"},
		{name: "unchanged again", want: "v2", wantINM: `"v2"`, wantIMS: "Fri, 02 Jan 2026 04:04:05 GMT"},
	}
	for i, st := range steps {
		if st.set != "" {
			rs.set(st.set, `"`+st.set+`"`)
		}
		rs.fail(st.status)
		got, changed, err := src.Fetch(ctx)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: error %v, want one containing %q", st.name, err, st.wantErr)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if string(got) != st.want || changed != st.wantChanged {
			t.Errorf("%s: Fetch = %q, changed %v; want %q, %v", st.name, got, changed, st.want, st.wantChanged)
		}
		rs.mu.Lock()
		inm, ims := rs.inm[i], rs.ims[i]
		rs.mu.Unlock()
		if inm != st.wantINM || ims != st.wantIMS {
			t.Errorf("%s: sent If-None-Match %q, If-Modified-Since %q; want %q, %q", st.name, inm, ims, st.wantINM, st.wantIMS)
		}
	}
	requests, conditional, notModified := rs.count()
	if requests != 6 || conditional != 5 || notModified != 3 {
		t.Errorf("server saw %d requests, %d conditional, %d answered 304; want 6, 5, 3", requests, conditional, notModified)
	}
}

// A server that sends neither ETag nor Last-Modified gets plain GETs, and
// an unchanged body is still no change.
func TestURLWithoutValidators(t *testing.T) {
	var mu sync.Mutex
	body, conditional := "a", 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			conditional++
		}
		io.WriteString(w, body)
	}))
	defer ts.Close()
	src := mustURL(t, ts.URL, URLOptions{})
	for _, st := range []struct {
		body        string
		wantChanged bool
	}{{"a", true}, {"a", false}, {"b", true}, {"b", false}} {
		mu.Lock()
		body = st.body
		mu.Unlock()
		got, changed, err := src.Fetch(context.Background())
		if err != nil || string(got) != st.body || changed != st.wantChanged {
			t.Errorf("Fetch = %q, %v, %v; want %q, %v, nil", got, changed, err, st.body, st.wantChanged)
		}
	}
	if conditional != 0 {
		t.Errorf("%d conditional requests without validators to send", conditional)
	}
}

func TestURLAuthorization(t *testing.T) {
	for _, tc := range []struct {
		auth string
	}{{""}, {"token ghp_secret123"}, {"Bearer abc.def"}} {
		rs, ts := newRulesServer(t)
		src := mustURL(t, ts.URL, URLOptions{Auth: tc.auth})
		for range 2 {
			if _, _, err := src.Fetch(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		rs.mu.Lock()
		got := rs.auth
		rs.mu.Unlock()
		if len(got) != 2 || got[0] != tc.auth || got[1] != tc.auth {
			t.Errorf("auth %q: server saw Authorization %q", tc.auth, got)
		}
	}
}

// No credential appears in Name or in an error: not the URL's user
// information, not a token in its query, not RULEBOT_RULES_AUTH.
func TestURLNoCredentialsInNameOrErrors(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer ts.Close()
	raw := strings.Replace(ts.URL, "http://", "http://alice:pw-SECRET1@", 1) + "/o/r/main/rules.yaml?token=SECRET2&ref=main&X-Amz-Signature=SECRET3#frag"
	src := mustURL(t, raw, URLOptions{Auth: "token SECRET4"})
	wantName := ts.URL + "/o/r/main/rules.yaml?token=REDACTED&ref=main&X-Amz-Signature=REDACTED"
	if src.Name() != wantName {
		t.Errorf("Name() = %q, want %q", src.Name(), wantName)
	}
	_, _, err := src.Fetch(context.Background())
	if err == nil {
		t.Fatal("a 403 is not an error")
	}
	want := wantName + ": HTTP 403 Forbidden (the token in RULEBOT_RULES_AUTH was refused)"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	ts.Close() // now a connection error, which net/http writes with the URL
	_, _, err = src.Fetch(context.Background())
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	for _, e := range []string{src.Name(), err.Error()} {
		if strings.Contains(e, "SECRET") || strings.Contains(e, "alice") {
			t.Errorf("a credential in %q", e)
		}
	}
	if !strings.HasPrefix(err.Error(), wantName+": ") {
		t.Errorf("error %q does not start with the URL", err)
	}
	if _, err := NewURL("http://bob:SECRET5@host:port/x", URLOptions{}); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("NewURL of a bad URL: %v", err)
	}
}

// countingTransport counts the body bytes the client read: the limit must
// hold on the client's side, whatever the server sends.
type countingTransport struct{ read atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{resp.Body, &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestURLSizeLimit(t *testing.T) {
	const limit = engine.MaxFileSize
	chunk := bytes.Repeat([]byte("# padding\n"), 3277) // 32,770 bytes
	for _, tc := range []struct {
		name     string
		size     int64 // -1: endless
		length   bool  // send Content-Length
		wantErr  string
		wantRead int64 // at most this many bytes read by the client
	}{
		{name: "4 MiB with length", size: limit, length: true, wantRead: limit},
		{name: "4 MiB streamed", size: limit, wantRead: limit + 1},
		{name: "4 MiB + 1 with length", size: limit + 1, length: true, wantErr: "larger than 4 MiB (Content-Length 4194305)", wantRead: 0},
		{name: "4 MiB + 1 streamed", size: limit + 1, wantErr: "larger than 4 MiB", wantRead: limit + 1},
		{name: "endless", size: -1, wantErr: "larger than 4 MiB", wantRead: limit + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			written := make(chan int64, 1)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", strconv.FormatInt(tc.size, 10))
				}
				var n int64
				defer func() { written <- n }()
				for tc.size < 0 || n < tc.size {
					c := chunk
					if tc.size >= 0 && int64(len(c)) > tc.size-n {
						c = c[:tc.size-n]
					}
					m, err := w.Write(c)
					n += int64(m)
					if err != nil {
						return
					}
					if n > 1<<30 {
						return // the client read on and on
					}
				}
			}))
			defer ts.Close()
			ct := &countingTransport{}
			src := mustURL(t, ts.URL+"/rules.yaml", URLOptions{Client: &http.Client{Transport: ct}})
			got, _, err := src.Fetch(context.Background())
			if tc.wantErr == "" {
				if err != nil || int64(len(got)) != tc.size {
					t.Fatalf("Fetch: %d bytes, %v; want %d bytes", len(got), err, tc.size)
				}
			} else if err == nil || err.Error() != ts.URL+"/rules.yaml: "+tc.wantErr {
				t.Fatalf("Fetch: error %v, want %q", err, tc.wantErr)
			}
			if r := ct.read.Load(); r > tc.wantRead {
				t.Errorf("the client read %d bytes, want at most %d", r, tc.wantRead)
			}
			if tc.size < 0 {
				// The client closed the connection: the server's writes
				// fail, long before a client reading on would have taken
				// the 1 GiB it offers.
				select {
				case n := <-written:
					if n > 1<<30 {
						t.Errorf("the server wrote %d bytes", n)
					}
				case <-time.After(30 * time.Second):
					t.Error("the server still writes 30 s after the fetch ended")
				}
			}
		})
	}
}

func TestURLErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		// The status text is the server's choice: it is not repeated.
		w.WriteHeader(418)
	})
	mux.HandleFunc("/unconditional-304", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, tc := range []struct {
		path, auth string
		want       string // the error after "URL: ", or the body
	}{
		{path: "/missing", want: "HTTP 404 Not Found (RULEBOT_RULES_AUTH is not set: a private repository needs a token)"},
		{path: "/missing", auth: "token x", want: "HTTP 404 Not Found"},
		{path: "/teapot", want: "HTTP 418 I'm a teapot"},
		{path: "/unconditional-304", want: "HTTP 304 Not Modified to a request that was not conditional"},
		{path: "/loop", want: "stopped after 5 redirects"},
		{path: "/slow", want: "no complete answer within 200ms"},
		{path: "/moved", want: "body ok"},
	} {
		src := mustURL(t, ts.URL+tc.path, URLOptions{Auth: tc.auth, Timeout: 200 * time.Millisecond})
		b, _, err := src.Fetch(context.Background())
		got := "body " + string(b)
		if err != nil {
			got = strings.TrimPrefix(err.Error(), ts.URL+tc.path+": ")
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.path, got, tc.want)
		}
	}
	for _, raw := range []string{"ftp://host/rules.yaml", "http:///rules.yaml"} {
		if _, err := NewURL(raw, URLOptions{}); err == nil {
			t.Errorf("NewURL(%q) is not an error", raw)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		where string
		isURL bool
	}{
		{"rules.yaml", false},
		{"/etc/rulebot/rules.yaml", false},
		{"http://127.0.0.1/rules.yaml", true},
		{"HTTPS://example.com/rules.yaml", true},
	} {
		src, err := Open(tc.where, "")
		if err != nil {
			t.Fatal(err)
		}
		_, isURL := src.(*URL)
		if isURL != tc.isURL || IsURL(tc.where) != tc.isURL {
			t.Errorf("Open(%q) is a %T", tc.where, src)
		}
	}
}
