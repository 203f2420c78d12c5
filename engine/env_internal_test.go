package engine

import (
	"strings"
	"testing"
)

// TestEnvRefusesSecretsAtRunTime checks the defence behind check: even a
// program that reached env with a secret's name gets an error, and Getenv
// is never asked.
func TestEnvRefusesSecretsAtRunTime(t *testing.T) {
	var asked []string
	e := New(&Rules{}, Options{Getenv: func(name string) string {
		asked = append(asked, name)
		return "value of " + name
	}})
	env := map[string]any{}
	e.runtimeFuncs(env)
	getenv := env["env"].(func(string) (string, error))
	for _, name := range []string{"SLACK_BOT_TOKEN", "slack_app_token", "Slack_Signing_Secret", "REDIS_URL", "redis_url"} {
		if v, err := getenv(name); err == nil || !strings.Contains(err.Error(), "cannot be read by rules") {
			t.Errorf("env(%q) = %q, %v; want a refusal", name, v, err)
		}
	}
	if len(asked) > 0 {
		t.Errorf("Getenv was asked for %q", asked)
	}
	if v, err := getenv("HOME"); err != nil || v != "value of HOME" {
		t.Errorf(`env("HOME") = %q, %v`, v, err)
	}
}
