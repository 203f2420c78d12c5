package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulebot/rulebot/engine"
)

// TestHandle runs conversations against small rules files through the
// public API: Compile, New and Handle.
func TestHandle(t *testing.T) {
	threaded := msg("hello")
	threaded.TS, threaded.ThreadTS = "1700000000.000200", "1700000000.000100"
	fromBot := func(m engine.Message, botID string) engine.Message { m.BotID = botID; return m }
	from := func(user string, m engine.Message) engine.Message {
		m.UserID, m.UserName = "U"+strings.ToUpper(user), user
		return m
	}
	subtype := func(s string, m engine.Message) engine.Message { m.Subtype = s; return m }

	tests := []struct {
		name  string
		rules string
		steps []step
	}{
		{
			name: "command",
			rules: `
rules:
  - name: do
    match: {command: do}
    reply: "args={{ args }} rest={{ rest }} text={{ text }} addressed={{ addressed }}"
`,
			steps: []step{
				{at("do"), []string{"do: args=[] rest= text=do addressed=true"}},
				{at("do the   dishes "), []string{`do: args=["the","dishes"] rest=the   dishes text=do the   dishes addressed=true`}},
				{msg("<@UBOT>: do it"), []string{`do: args=["it"] rest=it text=do it addressed=true`}},
				{msg("<@UBOT>, DO it"), []string{`do: args=["it"] rest=it text=DO it addressed=true`}},
				{msg("<@UBOT>do"), []string{"do: args=[] rest= text=do addressed=true"}},
				{msg("<@UBOT|rulebot> Do"), []string{"do: args=[] rest= text=Do addressed=true"}},
				{dm("do it"), []string{`do: args=["it"] rest=it text=do it addressed=true`}},
				{dm("<@UBOT> do it"), []string{`do: args=["it"] rest=it text=do it addressed=true`}},
				// Not addressed, or not the command word.
				{msg("do"), nil},
				{msg("do it"), nil},
				{at("doing"), nil},
				{at("undo"), nil},
				{msg("hey <@UBOT> do"), nil},
				{msg("<@UBOT2> do"), nil},
				{msg("<@UOTHER> do"), nil},
			},
		},
		{
			name: "command list and several words",
			rules: `
rules:
  - name: gotme
    match: {command: [gotme, got me]}
    reply: "quote for {{ rest == '' ? 'you' : rest }}"
`,
			steps: []step{
				{at("gotme"), []string{"gotme: quote for you"}},
				{at("got me"), []string{"gotme: quote for you"}},
				{at("GOT   Me"), []string{"gotme: quote for you"}},
				{at("got me bob"), []string{"gotme: quote for bob"}},
				{at("gotme bob"), []string{"gotme: quote for bob"}},
				{at("got"), nil},
				{at("got meat"), nil},
				{at("got you"), nil},
				{msg("got me"), nil},
			},
		},
		{
			name: "regex",
			rules: `
rules:
  - name: deploy
    match: {regex: '(?i)^deploy (\w+) to (?P<env>\w+)( now)?$'}
    reply: "{{ groups[0] }}|{{ groups[1] }}|{{ match.env }}|{{ groups[3] }}|{{ len(groups) }}|{{ args }}|{{ rest }}"
`,
			steps: []step{
				{msg("Deploy api to prod"), []string{"deploy: Deploy api to prod|api|prod||4|[]|"}},
				{msg("deploy web to staging now"), []string{"deploy: deploy web to staging now|web|staging| now|4|[]|"}},
				// The address is stripped: the regex sees the same text.
				{at("deploy db to prod"), []string{"deploy: deploy db to prod|db|prod||4|[]|"}},
				{dm("deploy db to prod"), []string{"deploy: deploy db to prod|db|prod||4|[]|"}},
				{msg("please deploy api to prod"), nil},
				{msg("deploy api"), nil},
			},
		},
		{
			name: "regex without groups matches anywhere",
			rules: `
rules:
  - name: anything
    match: {regex: 'a*'}
    reply: "{{ groups }} {{ match }}"
  - name: never
    reply: "unreachable in practice"
`,
			steps: []step{
				{msg("xyz"), []string{`anything: [""] {}`}},
				{msg("baa"), []string{`anything: [""] {}`}},
				{msg("aa!"), []string{`anything: ["aa"] {}`}},
			},
		},
		{
			name: "exact",
			rules: `
rules:
  - name: morning
    match: {exact: ["Good  morning", hello]}
    reply: "morning!"
`,
			steps: []step{
				{msg("good morning"), []string{"morning: morning!"}},
				{msg("  GOOD   Morning  "), []string{"morning: morning!"}},
				{msg("good\tmorning"), []string{"morning: morning!"}},
				{msg("Hello"), []string{"morning: morning!"}},
				{at("hello"), []string{"morning: morning!"}},
				{msg("good morning!"), nil},
				{msg("hello there"), nil},
				{msg("goodmorning"), nil},
			},
		},
		{
			name: "contains at word boundaries",
			rules: `
rules:
  - name: king
    match: {contains: [king, "c++", "ned stark"]}
    reply: "Long live {{ text }}"
`,
			steps: []step{
				{msg("king"), []string{"king: Long live king"}},
				{msg("the King in the North"), []string{"king: Long live the King in the North"}},
				{msg("KING!"), []string{"king: Long live KING!"}},
				{msg("king's landing"), []string{"king: Long live king's landing"}},
				{msg("(king)"), []string{"king: Long live (king)"}},
				{msg("I write C++ daily"), []string{"king: Long live I write C++ daily"}},
				{msg("c++11"), []string{"king: Long live c++11"}}, // "+" is no word character: no boundary needed after it
				{msg("Ned Stark lives"), []string{"king: Long live Ned Stark lives"}},
				{at("king me"), []string{"king: Long live king me"}},
				{msg("looking"), nil},
				{msg("kingdom"), nil},
				{msg("the_king"), nil},
				{msg("king2"), nil},
				{msg("abc++"), nil},
				{msg("ned starky"), nil},
				{msg("kin g"), nil},
			},
		},
		{
			name: "addressed",
			rules: `
rules:
  - name: to-me
    addressed: true
    match: {contains: hi}
    reply: "addressed"
  - name: not-to-me
    addressed: false
    match: {contains: hi}
    reply: "not addressed"
`,
			steps: []step{
				{msg("hi"), []string{"not-to-me: not addressed"}},
				{at("hi"), []string{"to-me: addressed"}},
				{msg("<@UBOT>: hi"), []string{"to-me: addressed"}},
				{dm("hi"), []string{"to-me: addressed"}},
				{msg("hi <@UBOT>"), []string{"not-to-me: not addressed"}},
			},
		},
		{
			name: "rule without match fires on everything",
			rules: `
rules:
  - name: echo
    reply: "{{ user.name }} said {{ text }} in {{ channel.name }} ({{ channel.id }}, dm={{ channel.dm }})"
`,
			steps: []step{
				{msg("x"), []string{"echo: alice said x in general (CGENERAL, dm=false)"}},
				{dm("y"), []string{"echo: alice said y in alice (DALICE, dm=true)"}},
				{from("bob", in("random", msg("z"))), []string{"echo: bob said z in random (CRANDOM, dm=false)"}},
			},
		},
		{
			name: "when",
			rules: `
rules:
  - name: vidcard
    match: {command: vidcard}
    when: len(args) > 0
    reply: "{{ args[0] }} dollars"
  - name: vidcard-usage
    match: {command: vidcard}
    reply: "Give me a number."
  - name: big
    when: num(text) > 5
    reply: "big"
  - name: fallback
    reply: "fallback"
`,
			steps: []step{
				{at("vidcard 300"), []string{"vidcard: 300 dollars"}},
				{at("vidcard"), []string{"vidcard-usage: Give me a number."}},
				{msg("10"), []string{"big: big"}},
				{msg("3"), []string{"fallback: fallback"}},
				// num fails at run time: the when counts as false.
				{msg("ten"), []string{"fallback: fallback"}},
			},
		},
		{
			name: "continue",
			rules: `
rules:
  - name: first
    match: {contains: hello}
    continue: true
    reply: "one {{ args }}"
  - name: command
    match: {command: hello}
    continue: true
    reply: "two {{ args }}"
  - name: second
    match: {contains: hello}
    reply: "three"
  - name: third
    match: {contains: hello}
    reply: "never"
`,
			steps: []step{
				{msg("hello"), []string{"first: one []", "second: three"}},
				{at("hello you"), []string{"first: one []", `command: two ["you"]`, "second: three"}},
			},
		},
		{
			name: "react",
			rules: `
rules:
  - name: both
    match: {contains: both}
    reply: "hi"
    react: thumbsup
  - name: only-react
    match: {contains: react}
    react: ":+1::skin-tone-2:"
  - name: empty-reply
    match: {contains: empty}
    reply: "{{ '' }}   "
    react: eyes
`,
			steps: []step{
				{msg("both"), []string{"both: hi", "both: :thumbsup: on 1700000000.000100"}},
				{msg("react"), []string{"only-react: :+1::skin-tone-2: on 1700000000.000100"}},
				{msg("empty"), []string{"empty-reply: :eyes: on 1700000000.000100"}},
			},
		},
		{
			name: "threads",
			rules: `
rules:
  - name: threaded
    match: {contains: thread}
    thread: true
    reply: "in a thread"
    react: eyes
  - name: plain
    match: {contains: hello}
    reply: "hello back"
`,
			steps: []step{
				{msg("thread"), []string{"threaded: in a thread [thread 1700000000.000100]", "threaded: :eyes: on 1700000000.000100"}},
				{msg("hello"), []string{"plain: hello back"}},
				// A message in a thread is answered in that thread.
				{threaded, []string{"plain: hello back [thread 1700000000.000100]"}},
				{func() engine.Message { m := threaded; m.Text = "thread"; return m }(),
					[]string{"threaded: in a thread [thread 1700000000.000100]", "threaded: :eyes: on 1700000000.000200"}},
			},
		},
		{
			name: "unfurl defaults",
			rules: `
rules:
  - name: default
    match: {contains: default}
    reply: "x"
  - name: links
    match: {contains: links}
    unfurl: {links: true}
    reply: "x"
  - name: nothing
    match: {contains: nothing}
    unfurl: {links: false, media: false}
    reply: "x"
`,
			steps: []step{
				{msg("default"), []string{"default: x"}},
				{msg("links"), []string{"links: x [unfurl links=true media=true]"}},
				{msg("nothing"), []string{"nothing: x [unfurl links=false media=false]"}},
			},
		},
		{
			name: "unfurl from the bot section",
			rules: `
bot:
  unfurl: {links: true, media: false}
rules:
  - name: default
    match: {contains: default}
    reply: "x"
  - name: media
    match: {contains: media}
    unfurl: {media: true}
    reply: "x"
`,
			steps: []step{
				{msg("default"), []string{"default: x [unfurl links=true media=false]"}},
				{msg("media"), []string{"media: x [unfurl links=true media=true]"}},
				{at("help"), []string{"help: No help is written for any rule yet. [unfurl links=true media=false]"}},
			},
		},
		{
			name: "ignored messages",
			rules: `
rules:
  - name: echo
    reply: "{{ text }}"
`,
			steps: []step{
				{msg("hello"), []string{"echo: hello"}},
				{fromBot(msg("hello"), "BOTHER"), nil},
				{subtype("bot_message", fromBot(msg("hello"), "BOTHER")), nil},
				{from("bot", msg("hello")), nil}, // UBOT: the bot itself
				{fromBot(msg("hello"), botID), nil},
				{subtype("message_changed", msg("hello")), nil},
				{subtype("message_deleted", msg("hello")), nil},
				{subtype("channel_join", msg("<@UALICE> has joined the channel")), nil},
				{subtype("channel_leave", msg("hello")), nil},
				{subtype("thread_broadcast", msg("hello")), []string{"echo: hello"}},
				{subtype("me_message", msg("waves")), []string{"echo: waves"}},
				{subtype("file_share", msg("look")), []string{"echo: look"}},
			},
		},
		{
			name: "other bots answered when ignore_bots is false",
			rules: `
bot:
  ignore_bots: false
rules:
  - name: echo
    reply: "{{ text }}"
`,
			steps: []step{
				{fromBot(msg("hello"), "BOTHER"), []string{"echo: hello"}},
				{subtype("bot_message", fromBot(msg("beep"), "BOTHER")), []string{"echo: beep"}},
				// Never itself.
				{from("bot", msg("hello")), nil},
				{fromBot(msg("hello"), botID), nil},
				{subtype("bot_message", fromBot(msg("hello"), botID)), nil},
				{subtype("message_changed", fromBot(msg("hello"), "BOTHER")), nil},
			},
		},
		{
			name: "built-in help",
			rules: `
rules:
  - name: do
    help: "do — ask me to do something"
    match: {command: do}
    reply: "Sure"
  - name: nohelp
    match: {command: secret}
    reply: "psst"
  - name: gotme
    help: "gotme — a Game of Thrones quote"
    match: {command: [gotme, got me]}
    reply: "quote"
  - name: king
    help: "  king — hail the King in the North  "
    match: {contains: king}
    reply: "hail"
`,
			steps: []step{
				{at("help"), []string{"help: do — ask me to do something\ngotme — a Game of Thrones quote\nking — hail the King in the North"}},
				{at("HELP"), []string{"help: do — ask me to do something\ngotme — a Game of Thrones quote\nking — hail the King in the North"}},
				{dm("help"), []string{"help: do — ask me to do something\ngotme — a Game of Thrones quote\nking — hail the King in the North"}},
				{at("help do"), []string{"help: do — ask me to do something"}},
				{at("help DO"), []string{"help: do — ask me to do something"}},
				{at("help king"), []string{"help: king — hail the King in the North"}},
				{at("help got me"), []string{"help: gotme — a Game of Thrones quote"}},
				{at("help got   me"), []string{"help: gotme — a Game of Thrones quote"}},
				{at("help gotme"), []string{"help: gotme — a Game of Thrones quote"}},
				{at("help nohelp"), []string{"help: No help for nohelp."}},
				{at("help secret"), []string{"help: No help for secret."}},
				{at("help fly"), []string{"help: No help for fly."}},
				{at("help <!channel> & co"), []string{"help: No help for &lt;!channel&gt; &amp; co."}},
				{threaded, nil},
				{func() engine.Message { m := threaded; m.Text = "<@UBOT> help do"; return m }(),
					[]string{"help: do — ask me to do something [thread 1700000000.000100]"}},
				// Not addressed: not a help request.
				{msg("help"), nil},
				{at("helpme"), nil},
			},
		},
		{
			name: "help is a rule's when a rule has command help",
			rules: `
rules:
  - name: myhelp
    help: "help — this text"
    match: {command: [help]}
    reply: "Ask in #help. {{ args }}"
  - name: do
    help: "do — ask me to do something"
    match: {command: do}
    reply: "Sure"
`,
			steps: []step{
				{at("help"), []string{"myhelp: Ask in #help. []"}},
				{at("help do"), []string{`myhelp: Ask in #help. ["do"]`}},
			},
		},
		{
			name: "a command that starts with help takes its messages from the built-in help",
			rules: `
rules:
  - name: helpdeploy
    help: "help deploy — how to deploy"
    match: {command: help deploy}
    reply: "Run make deploy."
`,
			steps: []step{
				{at("help deploy"), []string{"helpdeploy: Run make deploy."}},
				{at("help"), []string{"help: help deploy — how to deploy"}},
				{at("help helpdeploy"), []string{"help: help deploy — how to deploy"}},
				{at("help other"), []string{"help: No help for other."}},
			},
		},
		{
			name: "trailing white space and empty replies",
			rules: `
rules:
  - name: trailing
    match: {contains: trailing}
    reply: "line one   \nline two\t\n  indented  \n\n\n"
  - name: expr-trailing
    match: {contains: expr}
    reply: '{{ "a   " }}{{ "\n" }}b {{ " " }}'
  - name: empty
    match: {contains: empty}
    reply: "{{ nil }}{{ '' }}  "
  - name: blank-lines
    match: {contains: blank}
    reply: '{{ "   \n\t\n" }}'
  - name: leading
    match: {contains: leading}
    reply: "  leading space stays"
`,
			steps: []step{
				{msg("trailing"), []string{"trailing: line one\nline two\n  indented"}},
				{msg("expr"), []string{"expr-trailing: a\nb"}},
				{msg("empty"), nil},
				{msg("blank"), nil},
				{msg("leading"), []string{"leading:   leading space stays"}},
			},
		},
		{
			name: "template syntax",
			rules: `
rules:
  - name: multiline
    match: {contains: multi}
    reply: |
      first {{ user.name }}
      {{ let n = len(text);
         n > 3 ? "long" : "short" }}
  - name: braces
    reply: '{{ {"a": {"b": 1}}.a.b }} {{ "}}" }} {{ "{{" }} {{ [1, [2]][1][0] }} }} {x} {{ len("{(") }}{{"x"}}'
`,
			steps: []step{
				{msg("x"), []string{"braces: 1 }} {{ 2 }} {x} 2x"}},
				{msg("multi"), []string{"multiline: first alice\nlong"}},
			},
		},
		{
			name: "values render as text",
			rules: `
vars:
  list: [1, two, 3.5]
  map: {a: 1}
  nothing:
rules:
  - name: values
    reply: "{{ 1234567 }} {{ 10000.0 }} {{ 2.50 }} {{ 7 / 2 }} {{ 6 / 3 }} {{ -0.0 }} {{ true }} {{ nil }}|{{ vars.nothing }}|{{ vars.list }} {{ vars.map }} {{ [1, 'a'] }} {{ thread }}|{{ bot.name }} {{ bot.id }}"
`,
			steps: []step{
				{msg("x"), []string{`values: 1234567 10000 2.5 3.5 2 0 true ||[1,"two",3.5] {"a":1} [1,"a"] |rulebot UBOT`}},
				{threaded, []string{`values: 1234567 10000 2.5 3.5 2 0 true ||[1,"two",3.5] {"a":1} [1,"a"] 1700000000.000100|rulebot UBOT [thread 1700000000.000100]`}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, engine.New(compile(t, tt.rules), options()), tt.steps)
		})
	}
}

func TestWhenRunTimeErrorIsLogged(t *testing.T) {
	var log bytes.Buffer
	opts := options()
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	e := engine.New(compile(t, `
rules:
  - name: big
    when: num(text) > 5
    reply: "big"
`), opts)
	if acts := e.Handle(context.Background(), msg("seven")); len(acts) != 0 {
		t.Errorf("Handle = %q, want nothing", show(msg("seven"), acts))
	}
	if got := log.String(); !strings.Contains(got, "rule=big") || !strings.Contains(got, `num: \"seven\" is not a number`) {
		t.Errorf("log = %q, want a line naming the rule and the error", got)
	}
}

func TestCooldown(t *testing.T) {
	const rules = `
rules:
  - name: king
    match: {contains: king}
    cooldown: 1m
    reply: "hail"
  - name: fallback
    match: {contains: king}
    reply: "still cooling down"
`
	clk := newClock()
	opts := options()
	opts.Now = clk.Now
	e := engine.New(compile(t, rules), opts)
	cool := []string{"fallback: still cooling down"}
	steps := []struct {
		after time.Duration
		m     engine.Message
		want  []string
	}{
		{0, msg("king"), []string{"king: hail"}},
		{30 * time.Second, msg("king"), cool},
		// Per channel: #random has its own cooldown.
		{0, in("random", msg("king")), []string{"king: hail"}},
		{0, in("random", msg("king")), cool},
		{29*time.Second + 999*time.Millisecond, msg("king"), cool},
		// One minute after it fired in #general.
		{time.Millisecond, msg("king"), []string{"king: hail"}},
		{0, msg("king"), cool},
		{30 * time.Second, in("random", msg("king")), []string{"king: hail"}},
		{time.Hour, msg("king"), []string{"king: hail"}},
	}
	for i, s := range steps {
		clk.Advance(s.after)
		got := show(s.m, e.Handle(context.Background(), s.m))
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d (%s, %s after start): got %q, want %q", i, s.m.ChannelName, clk.Now().Sub(epoch), got, s.want)
		}
	}
}

func TestCooldownStartsEvenWhenTheRuleFails(t *testing.T) {
	srv := newServer(t, reply(500, "down"))
	clk := newClock()
	opts := options()
	opts.Now = clk.Now
	opts.HTTPClient = srv.Client()
	e := engine.New(compile(t, `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: `+srv.URL+`
rules:
  - name: quote
    match: {command: quote}
    cooldown: 10s
    fetch: {url: "{{ vars.api }}"}
    reply: "{{ fetch.body }}"
    on_error: "no quote: {{ error }}"
`), opts)
	run(t, e, []step{
		{at("quote"), []string{"quote: no quote: fetch failed: HTTP 500"}},
		{at("quote"), nil},
	})
	clk.Advance(10 * time.Second)
	run(t, e, []step{{at("quote"), []string{"quote: no quote: fetch failed: HTTP 500"}}})
	if n := len(srv.requests()); n != 2 {
		t.Errorf("the server got %d requests, want 2", n)
	}
}

func TestCooldownSurvivesSwap(t *testing.T) {
	rules := func(name, reply string) *engine.Rules {
		return compile(t, `
rules:
  - name: `+name+`
    match: {contains: king}
    cooldown: 1m
    reply: "`+reply+`"
`)
	}
	clk := newClock()
	opts := options()
	opts.Now = clk.Now
	e := engine.New(rules("king", "hail"), opts)
	run(t, e, []step{{msg("king"), []string{"king: hail"}}})

	// Same name: the cooldown carries over, though the rule changed.
	e.Swap(rules("king", "all hail"))
	run(t, e, []step{{msg("king"), nil}})
	if got := e.Rules().Len(); got != 1 {
		t.Errorf("Rules().Len() = %d after Swap, want 1", got)
	}

	// A new name: no cooldown, and the old rule's is forgotten.
	e.Swap(rules("queen", "hail the queen"))
	run(t, e, []step{{msg("king"), []string{"queen: hail the queen"}}})
	e.Swap(rules("king", "hail again"))
	run(t, e, []step{{msg("king"), []string{"king: hail again"}}})
	run(t, e, []step{{msg("king"), nil}})
	clk.Advance(time.Minute)
	run(t, e, []step{{msg("king"), []string{"king: hail again"}}})
}

func TestReplyList(t *testing.T) {
	rs := compile(t, `
rules:
  - name: greet
    reply: ["one", "two {{ text }}", "three"]
`)
	var asked []int
	picks := []int{2, 0, 1}
	opts := options()
	opts.Intn = func(n int) int {
		asked = append(asked, n)
		p := picks[0]
		picks = picks[1:]
		return p
	}
	e := engine.New(rs, opts)
	run(t, e, []step{
		{msg("a"), []string{"greet: three"}},
		{msg("b"), []string{"greet: one"}},
		{msg("c"), []string{"greet: two c"}},
	})
	if !slices.Equal(asked, []int{3, 3, 3}) {
		t.Errorf("Intn was called with %v, want [3 3 3]", asked)
	}
}

// TestSafety checks that no user text can ping, mention or link through the
// bot, and that user text is never evaluated, while what the rule author
// wrote is sent as written.
func TestSafety(t *testing.T) {
	srv := newServer(t, reply(200, `{"quote": "<!channel> & <@U123> <https://evil.example|click>"}`))
	opts := options()
	opts.HTTPClient = srv.Client()
	e := engine.New(compile(t, `
bot:
  fetch: {allow: ["127.0.0.1"]}
vars:
  api: `+srv.URL+`
rules:
  - name: echo
    match: {command: echo}
    reply: "<@{{ user.id }}> <!here> said: {{ rest }}"
  - name: text
    match: {command: text}
    reply: "{{ text }}|{{ raw }}|{{ args }}"
  - name: quote
    match: {command: quote}
    fetch: {url: "{{ vars.api }}"}
    reply: "{{ fetch.json.quote }}"
  - name: num
    match: {command: num}
    reply: "{{ num(rest) }}"
    on_error: "<!here> {{ error }}"
  - name: regex
    match: {regex: '^say (?P<what>.*)$'}
    reply: "{{ match.what }} {{ groups[1] }}"
`), opts)
	run(t, e, []step{
		{at("echo <!channel> <@U123> & <https://evil.example|click> &lt;b&gt;"),
			[]string{"echo: <@UALICE> <!here> said: &lt;!channel&gt; &lt;@U123&gt; &amp; https://evil.example &lt;b&gt;"}},
		{at("echo <!everyone> <#C123|general> <!subteam^S1|@team>"),
			[]string{"echo: <@UALICE> <!here> said: &lt;!everyone&gt; &lt;#C123|general&gt; &lt;!subteam^S1|@team&gt;"}},
		{at("text {{ 1+1 }} {{ env('HOME') }}"),
			[]string{`text: text {{ 1+1 }} {{ env('HOME') }}|&lt;@UBOT&gt; text {{ 1+1 }} {{ env('HOME') }}|["{{","1+1","}}","{{","env('HOME')","}}"]`}},
		{at("quote"), []string{"quote: &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;"}},
		{at("num <!channel>"), []string{`num: <!here> num: "&lt;!channel&gt;" is not a number`}},
		{msg("say <!here> &amp;"), []string{"regex: &lt;!here&gt; &amp; &lt;!here&gt; &amp;"}},
	})
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		raw       string
		text      string
		addressed bool
	}{
		{"hello", "hello", false},
		{"  hello  ", "hello", false},
		{"<@UBOT> hello", "hello", true},
		{"<@UBOT>: hello", "hello", true},
		{"<@UBOT>, hello", "hello", true},
		{"<@UBOT> : hello", "hello", true},
		{"<@UBOT>hello", "hello", true},
		{"<@UBOT|rulebot> hello", "hello", true},
		{"<@UBOT>", "", true},
		{"<@UBOT>:", "", true},
		{"<@UBOT2> hello", "<@UBOT2> hello", false},
		{"<@UBOTX|x> hello", "<@UBOTX|x> hello", false},
		{"hi <@UBOT>", "hi <@UBOT>", false},
		{"<@UBOT> <@UBOT> hi", "<@UBOT> hi", true},
		{"a &amp; b &lt;c&gt;", "a & b <c>", false},
		{"&amp;lt;", "&lt;", false},
		{"&quot;&nbsp;", "&quot;&nbsp;", false},
		{"see <http://x.example|x.example>", "see http://x.example", false},
		{"see <https://x.example/a?b=1&amp;c=2>", "see https://x.example/a?b=1&c=2", false},
		{"mail <mailto:a@b.example|a@b.example>", "mail mailto:a@b.example", false},
		{"hi <@U123> and <@U456|bob>", "hi <@U123> and <@U456|bob>", false},
		{"<!channel> <!here> <!everyone>", "<!channel> <!here> <!everyone>", false},
		{"in <#C123|general>", "in <#C123|general>", false},
		{"<!subteam^S1|@team> ping", "<!subteam^S1|@team> ping", false},
		{"a < b", "a < b", false},
		{"a <> b", "a <> b", false},
		{"<@UBOT> see <http://x|x> &amp; <@U1>", "see http://x & <@U1>", true},
	}
	for _, tt := range tests {
		text, addressed := engine.Normalize(tt.raw, botUserID)
		if text != tt.text || addressed != tt.addressed {
			t.Errorf("Normalize(%q) = %q, %t; want %q, %t", tt.raw, text, addressed, tt.text, tt.addressed)
		}
	}
	// Without a bot id nothing is addressed.
	if text, addressed := engine.Normalize("<@UBOT> hi", ""); text != "<@UBOT> hi" || addressed {
		t.Errorf(`Normalize("<@UBOT> hi", "") = %q, %t; want "<@UBOT> hi", false`, text, addressed)
	}
}

func TestCompileDefaults(t *testing.T) {
	rs := compile(t, `
rules:
  - name: a
    reply: x
`)
	want := engine.BotConfig{
		Name:          "rulebot",
		IgnoreBots:    true,
		Unfurl:        engine.Unfurl{Links: false, Media: true},
		FetchTimeout:  5 * time.Second,
		FetchMaxBytes: 1 << 20,
		Flood:         engine.Flood{N: 10, Per: time.Minute},
		Location:      time.UTC,
	}
	if rs.Bot != want {
		t.Errorf("Bot = %+v, want %+v", rs.Bot, want)
	}
	if rs.File != "rules.yaml" || rs.Len() != 1 || len(rs.Warnings) != 0 {
		t.Errorf("File, Len, Warnings = %q, %d, %v; want rules.yaml, 1, none", rs.File, rs.Len(), rs.Warnings)
	}

	rs = compile(t, `
version: 1
bot:
  name: kingbot
  ignore_bots: false
  unfurl: {links: true, media: false}
  fetch: {timeout: 250ms, max_bytes: 512KiB}
  flood: 3/30s
  timezone: Europe/Berlin
rules:
  - name: a
    reply: "{{ bot.name }}"
`)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	want = engine.BotConfig{
		Name:          "kingbot",
		IgnoreBots:    false,
		Unfurl:        engine.Unfurl{Links: true, Media: false},
		FetchTimeout:  250 * time.Millisecond,
		FetchMaxBytes: 512 << 10,
		Flood:         engine.Flood{N: 3, Per: 30 * time.Second},
		Location:      berlin,
	}
	if got := rs.Bot.Location.String(); got != "Europe/Berlin" {
		t.Errorf("Bot.Location = %s, want Europe/Berlin", got)
	}
	rs.Bot.Location = berlin // each LoadLocation is a new pointer
	if rs.Bot != want {
		t.Errorf("Bot = %+v, want %+v", rs.Bot, want)
	}
}

// TestDefaultRules checks that the repository's rules.yaml compiles cleanly.
func TestDefaultRules(t *testing.T) {
	rs, err := engine.Compile("../rules.yaml", mustRead(t, "../rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Warnings) != 0 {
		t.Errorf("warnings:\n%v", engine.ErrorList(rs.Warnings))
	}
}

// TestConcurrentHandleAndSwap is for the race detector: messages handled
// while the rules are swapped, on several goroutines.
func TestConcurrentHandleAndSwap(t *testing.T) {
	a := compile(t, `
rules:
  - name: king
    match: {contains: king}
    cooldown: 1m
    reply: "a"
  - name: echo
    reply: "{{ text }}"
`)
	b := compile(t, `
rules:
  - name: king
    match: {contains: king}
    cooldown: 1m
    reply: "b"
`)
	opts := options()
	opts.Intn = func(n int) int { return n - 1 }
	e := engine.New(a, opts)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				m := in(strings.Repeat("c", g+1), msg("king"))
				if i%2 == 1 {
					m.Text = "hello"
				}
				for _, act := range e.Handle(context.Background(), m) {
					if act.Kind != engine.Reply || !slices.Contains([]string{"a", "b", "hello", "king"}, act.Text) {
						t.Errorf("unexpected action %+v", act)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				e.Swap(b)
			} else {
				e.Swap(a)
			}
		}
	})
	wg.Wait()
}
