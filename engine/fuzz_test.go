package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/engine"
)

// fuzzOptions are hermetic: fetches get a canned answer, never the network.
func fuzzOptions() engine.Options {
	opts := options()
	opts.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: 200,
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"quote": "<!channel> Winter is coming.", "n": 1234.5, "list": [1, "two"]}`)),
			Request:    r,
		}, nil
	})}
	opts.Getenv = func(string) string { return "value" }
	return opts
}

// fuzzMessages are the messages every rules file the fuzzer finds is tried on.
func fuzzMessages(extra string) []engine.Message {
	threaded := msg("hello in a thread")
	threaded.ThreadTS = "1699999999.000100"
	bot := msg("hello from a bot")
	bot.BotID = "BOTHER"
	return []engine.Message{
		msg("hello"), msg("the king is here &amp; <http://x.example|x>"), msg("42"),
		at("help"), at("help do"), at("do 1 2 3"), at("vidcard $3,000,000"),
		dm("gotme"), dm(""), threaded, bot, msg(extra), at(extra),
	}
}

func FuzzCompile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "../rules.yaml")
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, src := range []string{
		"",
		"rules: []",
		"rules:\n  - name: a\n    reply: x\n",
		"rules:\n  - {name: a, match: {command: [do, got me]}, when: 'len(args) > 1', reply: '{{ args }} {{ rest }}', cooldown: 1s, continue: true}\n  - {name: b, match: {regex: '(?i)\\bking\\b'}, react: crown, thread: true}\n",
		"vars: {api: 'http://x.example', n: 3, l: [1, {a: b}]}\nrules:\n  - name: f\n    fetch: {url: '{{ vars.api }}/q?x={{ text }}', method: POST, headers: {A: '{{ user.id }}'}, body: '{{ json(fetch) }}', timeout: 1s}\n    reply: '{{ fetch.json.quote }} {{ thousands(num(fetch.json.n)) }}'\n    on_error: '{{ error }}'\n",
		"rules:\n  - name: e\n    match: {exact: [Hello  there, hi]}\n    reply: [a, b, '{{ pick(vars) }}']\n  - name: c\n    match: {contains: ['c++', king]}\n    addressed: false\n    unfurl: {links: true}\n    reply: '{{ now() }} {{ env(\"HOME\") }}'\n",
		"a: &a [*a]\n",
		"rules: &r\n  - *r\n",
		"rules:\n  - name: x\n    reply: \"{{ \\\"}}\\\" }} {{ {\\\"a\\\": {\\\"b\\\": 1}} }}\"\n",
		"\xef\xbb\xbfrules:\n  - name: bom\n    reply: x\n",
		"rules:\n  - name: \xff\n",
		"bot: {timezone: Europe/Berlin}\nrules:\n  - name: k\n    match: {regex: '<@(?P<id>U[A-Z]+)>\\+\\+'}\n    remember: [{key: 'k/{{ match.id }}', add: 1, ttl: 1h}, {key: q, push: '{{ text }}', keep: 2}, {key: x, delete: true}]\n    to: dm\n    reply: '{{ mention(match.id) }} {{ recall(\"k/\" + match.id) }} {{ recall_all(\"k/\") }}'\n  - name: s\n    schedule: '30 9 * * MON-FRI'\n    to: '#{{ \"ops\" }}'\n    remember: [{key: n, set: '{{ now() }}'}]\n    reply: x\n  - name: e\n    ephemeral: true\n    reply: y\n",
	} {
		f.Add([]byte(src))
	}
	opts := fuzzOptions()
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := engine.Compile("fuzz.yaml", src)
		if err != nil {
			var list engine.ErrorList
			if !errors.As(err, &list) || list.ErrorCount() == 0 {
				t.Fatalf("Compile error %T without errors: %v", err, err)
			}
			for _, p := range list {
				if p.File != "fuzz.yaml" || p.Msg == "" || strings.Contains(p.Msg, "\n") {
					t.Fatalf("malformed problem %#v", p)
				}
			}
			return
		}
		for _, p := range rs.Warnings {
			if !p.Warning {
				t.Fatalf("Compile succeeded with an error: %v", p)
			}
		}
		e := engine.New(rs, opts)
		extra := string(src[:min(len(src), 64)])
		for _, m := range fuzzMessages(extra) {
			for _, a := range e.Handle(context.Background(), m) {
				if a.Channel != m.ChannelID {
					t.Fatalf("action %+v for a message in %s", a, m.ChannelID)
				}
				if a.Kind == engine.Reply && (a.Text == "" || a.Text != strings.TrimRightFunc(a.Text, unicode.IsSpace)) {
					t.Fatalf("reply %q: empty or with trailing white space", a.Text)
				}
			}
		}
		for _, s := range rs.Schedules() {
			for _, a := range e.Fire(context.Background(), s.Rule, s.Next(epoch)) {
				if a.Kind != engine.Reply || a.To == "" || a.Channel != "" || a.Text == "" {
					t.Fatalf("schedule %s: action %+v", s.Rule, a)
				}
			}
		}
	})
}

// echo is a rules file that puts user text into a reply every way it can.
const echo = `
rules:
  - name: echo-command
    match: {command: echo}
    reply: "{{ text }}|{{ raw }}|{{ args }}|{{ rest }}|{{ user.name }}"
  - name: echo
    match: {regex: '(?s)^(?P<all>.*)$'}
    reply: "{{ text }}|{{ raw }}|{{ groups }}|{{ match }}|{{ user.name }}"
`

// slackSafe matches text in which user input cannot form a mention, a
// channel ping or a link: no < or >, and & only as an entity.
var slackSafe = regexp.MustCompile(`^([^<>&]|&amp;|&lt;|&gt;)*$`)

func FuzzTemplate(f *testing.F) {
	for _, s := range []struct{ tmpl, text string }{
		{"Hello!", "hi"},
		{"plain text   \n  with lines \t\n\n", "x"},
		{"<@UBOT> <!channel> & <#C1|general> written by the author", "y"},
		{"}} not a template {", "z"},
		{"{{ text }}", "<!channel> &amp; <@U123> {{ 1+1 }}"},
		{"{{ 1 + }}", "x"},
		{"{{ }}", "x"},
		{"{{ \"{{\" }}", "x"},
		{"{{ {\"a\": {\"b\": [1, 2]}} }}", "x"},
		{"{{ thousands(num(text)) }}", "$1,234.50"},
		{"{{ num(text) }}", "abc"},
		{"{{ json(text) }} {{ urlquery(text) }}", "a b&amp;c"},
		{"{{ pick([1, 2, 3]) }} {{ now() }} {{ env('HOME') }}", ""},
		{"{{ env('SLACK_BOT_TOKEN') }}", ""},
		{"{{ args[5] }}", "a b"},
		{"{{ groups[0] }}{{ match.x }}", ""},
		{"{{ fetch.json.a.b }}", ""},
		{"{{ user.name + channel.name + bot.name + thread + error }}", ""},
		{"{{ let x = text; x + x }}", "ab"},
		{"{{ map(1..3, # * 2) }}", ""},
		{"line\r\nwindows\r\n", "x"},
		{"ünïcödé ☃ \u00a0", "ß"},
		{"\x00nul", "x"},
		{"{{ '\xff' }}", "\xff"},
	} {
		f.Add(s.tmpl, s.text)
	}
	opts := fuzzOptions()
	echoEngine := engine.New(compile(f, echo), opts)
	f.Fuzz(func(t *testing.T, tmpl, text string) {
		// User text is data: echoed every way, it stays inert.
		for _, m := range []engine.Message{msg(text), dm(text)} {
			for _, a := range echoEngine.Handle(context.Background(), m) {
				if !slackSafe.MatchString(a.Text) {
					t.Fatalf("message %q echoed unescaped: %q", text, a.Text)
				}
			}
		}

		src := []byte("rules:\n  - name: t\n    reply: " + yamlQuote(tmpl) + "\n")
		rs, err := engine.Compile("fuzz.yaml", src)
		if !utf8.ValidString(tmpl) {
			if err == nil || !strings.Contains(err.Error(), "not UTF-8 text") {
				t.Fatalf("a file with invalid UTF-8 compiled or gave another error: %v", err)
			}
			return
		}
		if got := replyScalar(t, src); got != tmpl {
			t.Fatalf("YAML reads %q back as %q", tmpl, got)
		}
		literal := !strings.Contains(tmpl, "{{")
		if err != nil {
			if literal && strings.TrimSpace(tmpl) != "" {
				t.Fatalf("literal reply %q refused:\n%v", tmpl, err)
			}
			return
		}
		m := msg(text)
		acts := engine.New(rs, opts).Handle(context.Background(), m)
		if !literal {
			return
		}
		if _, addressed := engine.Normalize(text, botUserID); addressed {
			return // perhaps a help request
		}
		want := trimTrailing(strings.ReplaceAll(tmpl, "\x00", "")) // NUL bytes are never sent
		if want == "" && len(acts) != 0 {
			t.Fatalf("literal reply %q of NUL bytes and spaces: got %q, want nothing", tmpl, show(m, acts))
		}
		if want == "" || utf8.RuneCountInString(want) > engine.MaxReplyChars {
			return // nothing to send, or split (TestSplitReply)
		}
		if len(acts) != 1 || acts[0].Text != want {
			t.Fatalf("literal reply %q to %q: got %q, want one reply %q", tmpl, text, show(m, acts), want)
		}
	})
}

// yamlQuote writes s as a YAML double-quoted scalar that reads back as s:
// everything but printable characters is escaped. Invalid UTF-8 is written
// as it is.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(s[i])
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsPrint(r) && r != 0xFEFF: // a BOM is printable to Go, not to YAML
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			fmt.Fprintf(&b, "\\U%08X", r)
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// replyScalar returns the text of the reply as a YAML reader sees it in src.
func replyScalar(t *testing.T, src []byte) string {
	var doc struct{ Rules []struct{ Reply string } }
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Rules) != 1 {
		t.Fatalf("yaml does not read what we wrote: %v\n%s", err, src)
	}
	return doc.Rules[0].Reply
}

// trimTrailing is the SPEC's rule: a rendered reply loses trailing white
// space, on every line and at its end.
func trimTrailing(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.TrimRightFunc(strings.Join(lines, "\n"), unicode.IsSpace)
}
