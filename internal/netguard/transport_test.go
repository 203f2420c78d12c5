package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func allowing(t *testing.T, entries ...string) *Policy {
	t.Helper()
	p := &Policy{}
	for _, e := range entries {
		if err := p.Allow(e); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestDialContext dials a loopback listener by address and by the name
// localhost, which resolves to a loopback address: the check is on the
// address connected to, so the name does not get past it.
func TestDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c.RemoteAddr()
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	tests := []struct {
		name string
		p    *Policy
		host string
		ok   bool
	}{
		{"no policy, by address", nil, "127.0.0.1", false},
		{"no policy, by name", nil, "localhost", false},
		{"an empty policy, by name", &Policy{}, "localhost", false},
		{"another address allowed", allowing(t, "127.0.0.2", "10.0.0.0/8"), "localhost", false},
		{"the name allowed, by address", allowing(t, "localhost"), "127.0.0.1", false},
		{"the address allowed, by address", allowing(t, "127.0.0.1"), "127.0.0.1", true},
		{"the address allowed, by name", allowing(t, "127.0.0.1"), "localhost", true},
		{"the range allowed, by name", allowing(t, "127.0.0.0/8"), "localhost", true},
		{"the name allowed, by name", allowing(t, "LocalHost"), "localhost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.p.DialContext(context.Background(), "tcp", net.JoinHostPort(tt.host, port))
			if !tt.ok {
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("DialContext = %v, want a *RefusedError", err)
				}
				if !re.Addr.IsLoopback() {
					t.Errorf("refused %s, want a loopback address", re.Addr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DialContext: %v", err)
			}
			defer c.Close()
			// The listener's next connection is this one: the refused
			// dials never reached it.
			if got := <-accepted; got.String() != c.LocalAddr().String() {
				t.Errorf("the listener accepted %s, want %s", got, c.LocalAddr())
			}
		})
	}
}

// TestTransportPolicyPerRequest checks that each request is dialled under
// its own context's policy, and that a connection made under one policy is
// not reused under another.
func TestTransportPolicyPerRequest(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	client := &http.Client{Transport: &Transport{}, CheckRedirect: CheckRedirect}
	get := func(p *Policy) error {
		req, err := http.NewRequestWithContext(WithPolicy(context.Background(), p), "GET", srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	allow := allowing(t, "127.0.0.1")
	steps := []struct {
		p  *Policy
		ok bool
	}{
		{nil, false},
		{allow, true},
		{allow, true},                      // over the idle connection
		{&Policy{}, false},                 // not over it
		{allowing(t, "127.0.0.1"), true},   // an equal policy
		{allowing(t, "127.0.0.0/8"), true}, // another policy that allows it
		{nil, false},
	}
	want := int32(0)
	for i, s := range steps {
		err := get(s.p)
		var re *RefusedError
		switch {
		case s.ok && err != nil:
			t.Errorf("step %d: %v", i, err)
		case !s.ok && !errors.As(err, &re):
			t.Errorf("step %d: err = %v, want a *RefusedError", i, err)
		}
		if s.ok {
			want++
		}
		if got := hits.Load(); got != want {
			t.Errorf("step %d: the server got %d requests, want %d", i, got, want)
		}
	}
}

// TestTransportConcurrentPolicies sends requests under two policies at once,
// as while rules are reloaded: each is dialled under its own.
func TestTransportConcurrentPolicies(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	client := &http.Client{Transport: &Transport{}}
	allow := allowing(t, "127.0.0.1")
	errs := make(chan error, 40)
	for i := range cap(errs) {
		p := allow
		if i%2 == 1 {
			p = nil
		}
		go func() {
			req, _ := http.NewRequestWithContext(WithPolicy(context.Background(), p), "GET", srv.URL, nil)
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			var re *RefusedError
			switch {
			case p != nil && err != nil:
				errs <- err
			case p == nil && !errors.As(err, &re):
				errs <- errors.New("a request without the policy was not refused")
			default:
				errs <- nil
			}
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := hits.Load(); n != int32(cap(errs)/2) {
		t.Errorf("the server got %d requests, want %d", n, cap(errs)/2)
	}
}
