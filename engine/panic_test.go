package engine_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

// panicTransport panics on every request, as a buggy RoundTripper would.
type panicTransport struct{}

func (panicTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("transport bug") }

func TestPanicInRuleIsRecovered(t *testing.T) {
	var log bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	opts.HTTPClient = &http.Client{Transport: panicTransport{}}
	e := engine.New(compile(t, `
bot: {fetch: {allow: ["127.0.0.1"]}}
rules:
  - name: boom
    match: {command: boom}
    fetch: {url: "http://127.0.0.1:1/"}
    reply: "never"
  - name: hi
    match: {command: hi}
    reply: "hi"
`), opts)
	run(t, e, []step{
		{at("boom"), nil},
		{at("hi"), []string{"hi: hi"}},
	})
	got := log.String()
	for _, want := range []string{"level=ERROR", "rule panicked", "rule=boom", "channel=CGENERAL", "transport bug"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
