package slackfake

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUndeclaredError: a handler answering an error its route does not
// declare is a bug of the fake, answered with HTTP 500, never as Slack's.
func TestUndeclaredError(t *testing.T) {
	s := New()
	defer s.Close()
	s.api["test.undeclared"] = route{
		handle: func(apiCall) (object, string) { return nil, "made_up" },
		token:  TokenBot,
		errors: []string{"declared"},
	}
	resp, err := http.PostForm(s.APIURL()+"test.undeclared", url.Values{"token": {DefaultBotToken}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), `"made_up"`) {
		t.Errorf("HTTP %d %s; want 500 naming the undeclared error", resp.StatusCode, b)
	}
}
