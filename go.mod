// +heroku goVersion go1.26
// +heroku install ./cmd/rulebot
module github.com/rulebot/rulebot

go 1.26.8

require (
	github.com/expr-lang/expr v1.17.8
	github.com/gorilla/websocket v1.5.3
	github.com/slack-go/slack v0.35.0
	golang.org/x/term v0.48.0
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/sys v0.50.0 // indirect
