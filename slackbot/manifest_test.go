package slackbot

import (
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestManifestScopes: the app manifest grants the bot token every scope
// that the Web API methods the bot calls need (Slack's method docs, for
// bot tokens).
func TestManifestScopes(t *testing.T) {
	needs := []struct{ method, feature, scope string }{
		{"auth.test", "start-up", ""},
		{"chat.postMessage", "replies", "chat:write"},
		{"chat.postEphemeral", "ephemeral: true", "chat:write"},
		{"reactions.add", "react:", "reactions:write"},
		{"users.info", "user.name", "users:read"},
		{"users.list", `to: "@NAME"`, "users:read"},
		{"conversations.info", "channel.name", "channels:read"},
		{"conversations.list", `to: "#NAME", public channels`, "channels:read"},
		{"conversations.list", `to: "#NAME", private channels`, "groups:read"},
		{"conversations.open", `to: dm, to: "@NAME"`, "im:write"},
	}
	src, err := os.ReadFile("../slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
	}
	if err := yaml.Unmarshal(src, &m); err != nil {
		t.Fatal(err)
	}
	for _, n := range needs {
		if n.scope != "" && !slices.Contains(m.OAuth.Scopes.Bot, n.scope) {
			t.Errorf("slack-app-manifest.yaml lacks %s, which %s needs for %s", n.scope, n.method, n.feature)
		}
	}
}
