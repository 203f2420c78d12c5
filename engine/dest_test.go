package engine_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/rulebot/rulebot/engine"
)

// thread returns m posted in the thread ts.
func thread(ts string, m engine.Message) engine.Message {
	m.ThreadTS = ts
	return m
}

func TestDestinations(t *testing.T) {
	rules := `
vars:
  oncall: carol
rules:
  - name: page
    match: {command: page}
    to: "#ops"
    reply: "<@{{ user.id }}> needs help in <#{{ channel.id }}>: {{ rest }}"
    react: eyes
  - name: oncall
    match: {command: oncall}
    to: "@{{ vars.oncall }}"
    reply: "you are on call"
  - name: private
    match: {command: private}
    to: dm
    reply: "just for you"
  - name: secret
    match: {command: whoami}
    ephemeral: true
    reply: "You are {{ user.id }}."
  - name: secret-thread
    match: {command: whoamit}
    ephemeral: true
    thread: true
    reply: "You are {{ user.id }}."
  - name: computed
    match: {command: send}
    to: "{{ args[0] }}"
    reply: "sent"
    on_error: "error: {{ error }}"
  - name: failing
    match: {command: fail}
    to: "#ops"
    reply: "{{ num('x') }}"
    on_error: "error: {{ error }}"
  - name: failing-ephemeral
    match: {command: efail}
    ephemeral: true
    reply: "{{ num('x') }}"
    on_error: "error: {{ error }}"
`
	var log bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	e := engine.New(compile(t, rules), opts)
	run(t, e, []step{
		{at("page the db is down"), []string{
			"page: <@UALICE> needs help in <#CGENERAL>: the db is down [to #ops]",
			"page: :eyes: on 1700000000.000100",
		}},
		// A message in a thread: the reply elsewhere is not in a thread.
		{thread("1699999999.000001", at("page x")), []string{
			"page: <@UALICE> needs help in <#CGENERAL>: x [to #ops]",
			"page: :eyes: on 1700000000.000100",
		}},
		{at("oncall"), []string{"oncall: you are on call [to @carol]"}},
		{at("private"), []string{"private: just for you [dm UALICE]"}},
		{dm("private"), []string{"private: just for you [dm UALICE]"}},
		{at("whoami"), []string{"secret: You are UALICE. [only UALICE sees]"}},
		{thread("1699999999.000001", at("whoami")), []string{"secret: You are UALICE. [thread 1699999999.000001] [only UALICE sees]"}},
		{at("whoamit"), []string{"secret-thread: You are UALICE. [thread 1700000000.000100] [only UALICE sees]"}},
		// In a DM an ephemeral reply is an ordinary one.
		{dm("whoami"), []string{"secret: You are UALICE."}},
		{at("send #random"), []string{"computed: sent [to #random]"}},
		{at("send   @bob  "), []string{"computed: sent [to @bob]"}},
		{at("send dm"), []string{"computed: sent [dm UALICE]"}},
		// A bad destination: logged, and nothing is sent, not even on_error.
		{at("send ops"), nil},
		{at("send #"), nil},
		{at("send"), nil},
		// on_error goes where the reply goes.
		{at("fail"), []string{`failing: error: num: "x" is not a number [to #ops]`}},
		{at("efail"), []string{`failing-ephemeral: error: num: "x" is not a number [only UALICE sees]`}},
	})
	for _, want := range []string{
		`rule=computed channel=CGENERAL error="to: \"ops\" is not a place to send a reply: write dm, \"#CHANNEL\" or \"@USER\""`,
		`rule=computed channel=CGENERAL error="to: \"#\" has no name after #: write dm, \"#CHANNEL\" or \"@USER\""`,
		`error="to: index out of range: 0 (array length is 0)"`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, log.String())
		}
	}
}

// TestDestinationWithoutAuthor checks to: dm and ephemeral on another
// bot's message, which has no user to write to: the rule fails, logged.
func TestDestinationWithoutAuthor(t *testing.T) {
	var log bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	e := engine.New(compile(t, `
bot: {ignore_bots: false}
rules:
  - name: private
    match: {contains: private}
    to: dm
    reply: "just for you"
  - name: secret
    match: {contains: secret}
    ephemeral: true
    reply: "secret"
    react: eyes
`), opts)
	bot := func(text string) engine.Message {
		m := msg(text)
		m.UserID, m.BotID, m.Subtype = "", "BOTHER", "bot_message"
		return m
	}
	run(t, e, []step{
		{bot("private"), nil},
		{bot("secret"), nil},
	})
	for _, want := range []string{"to: dm: the message has no author to write to", "ephemeral: the message has no author to show the reply to"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestHelpIgnoresTo checks that the built-in help answers where it is
// asked, whatever the rules' to and ephemeral say.
func TestHelpIgnoresTo(t *testing.T) {
	e := engine.New(compile(t, `
rules:
  - name: page
    help: "page TEXT — page on-call in #ops"
    match: {command: page}
    to: "#ops"
    reply: x
  - name: secret
    help: "whoami — only you see it"
    match: {command: whoami}
    ephemeral: true
    reply: x
`), options())
	run(t, e, []step{
		{at("help"), []string{"help: page TEXT — page on-call in #ops\nwhoami — only you see it"}},
		{at("help page"), []string{"help: page TEXT — page on-call in #ops"}},
	})
}

// TestDestinationFetch checks that to may use what the fetch returned.
func TestDestinationFetch(t *testing.T) {
	srv := newServer(t, reply(http.StatusOK, `{"user": "dave"}`))
	e := engine.New(compile(t, `
bot: {fetch: {allow: ["127.0.0.1"]}}
rules:
  - name: oncall
    match: {command: oncall}
    fetch: {url: "`+srv.URL+`/oncall"}
    to: "@{{ fetch.json.user }}"
    reply: "you are on call"
`), options())
	run(t, e, []step{{at("oncall"), []string{"oncall: you are on call [to @dave]"}}})
}
