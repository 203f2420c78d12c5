package engine

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/rulebot/rulebot/internal/memory"
)

// SchemaURL is where the committed schema/rules.schema.json is served; it
// is the schema's $id and the URL of the yaml-language-server modeline at
// the top of rules files.
const SchemaURL = "https://raw.githubusercontent.com/rulebot/rulebot/main/schema/rules.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of rules.yaml (SPEC §9),
// indented, with a final newline. It lives beside the loader: a test checks
// that every mapping the loader reads has a schema object with exactly the
// loader's keys, and that the project's rules files validate against it.
// The schema sees shapes (keys, types, one match key, duration and size
// patterns); what only the loader knows (expressions, templates, regex
// syntax, cron lines, names) is left to `rulebot check`.
func Schema() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(schemaDoc()); err != nil {
		panic(err) // the document is built from maps, strings and numbers
	}
	return b.Bytes()
}

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/$defs/" + name} }

// with returns s with a description added.
func with(s obj, desc string) obj {
	out := obj{"description": desc}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// closed is an object schema that refuses unknown keys, as the loader's
// Mapping does.
func closed(desc string, props obj) obj {
	return obj{"type": "object", "description": desc, "additionalProperties": false, "properties": props}
}

func requireOne(keys ...string) []any {
	var out []any
	for _, k := range keys {
		out = append(out, obj{"required": []string{k}})
	}
	return out
}

// durationPattern is what time.ParseDuration reads (a value that is not
// more than 0 passes the schema and fails check).
const durationPattern = `^[+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`

func schemaDoc() obj {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead} {
		methods = append(methods, m, strings.ToLower(m))
	}
	defs := obj{
		"text": obj{
			"description": "Text. A number or true/false is read as its text.",
			"type":        []string{"string", "number", "boolean"},
		},
		"nonBlank": obj{
			"description": "Text that is not empty.",
			"anyOf":       []any{obj{"type": "string", "pattern": `\S`}, obj{"type": []string{"number", "boolean"}}},
		},
		"template": obj{
			"description": "A template: text with {{ EXPR }} parts, EXPR an expr-lang expression (SPEC §2).",
			"type":        []string{"string", "number", "boolean"},
		},
		"textOrList": obj{
			"description": "One text, or a list of them (not empty).",
			"anyOf":       []any{ref("nonBlank"), obj{"type": "array", "minItems": 1, "items": ref("nonBlank")}},
		},
		"duration": obj{
			"description": "A duration more than 0, such as 30s, 5m or 1h30m (units ns, us, ms, s, m, h).",
			"type":        "string",
			"pattern":     durationPattern,
		},
		"size": obj{
			"description": "A size in bytes more than 0: a number, or text such as 512KiB, 1MiB, 2MB (units B, K, M, G, Ki, Mi, Gi, with an optional B).",
			"anyOf": []any{
				obj{"type": "integer", "minimum": 1},
				obj{"type": "string", "pattern": `^\s*[0-9]+\s*([KMG]i?B?|B)?\s*$`},
			},
		},
		"unfurl": closed("Whether Slack shows previews of links and media in replies.", obj{
			"links": with(obj{"type": "boolean"}, "Preview links to web pages (default false)."),
			"media": with(obj{"type": "boolean"}, "Preview images and other media (default true)."),
		}),
		"match": func() obj {
			m := closed("What a message must say for the rule to fire: exactly one of command, regex, exact or contains. A rule without match matches every message.", obj{
				"command":  with(ref("textOrList"), "A command word (or a list of them): the message is addressed to the bot and starts with it, case-insensitive. args holds the words after it, rest the text after it."),
				"regex":    with(ref("text"), "An RE2 regular expression that must find a match in text. groups holds the submatches, named groups are also match.NAME."),
				"exact":    with(ref("textOrList"), "The text (or one of a list) that the message must equal, case-insensitive, ignoring surrounding and repeated spaces."),
				"contains": with(ref("textOrList"), "Text (or a list) that must occur in the message at word boundaries, case-insensitive."),
			})
			m["oneOf"] = requireOne("command", "regex", "exact", "contains")
			return m
		}(),
		"fetch": func() obj {
			f := closed("An HTTP request made before the reply; the rule sees fetch.status, fetch.ok, fetch.body and fetch.json.", obj{
				"url":     with(ref("template"), "The URL, a template; only http and https. Interpolations are escaped, except one that starts the URL."),
				"method":  with(obj{"enum": methods}, "The HTTP method (default GET)."),
				"headers": with(obj{"type": "object", "additionalProperties": ref("template"), "propertyNames": obj{"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}}, "Request headers: names to values; values are templates."),
				"body":    with(ref("template"), "The request body, a template (not escaped: use json())."),
				"timeout": with(ref("duration"), "How long the request may take (default bot.fetch.timeout)."),
			})
			f["required"] = []string{"url"}
			return f
		}(),
		"write": func() obj {
			w := closed("One write to the bot's memory: a key and exactly one of set, add, push or delete (SPEC §6).", obj{
				"key":    with(ref("template"), "The memory key, a template (at most 200 bytes, no control characters)."),
				"set":    with(ref("template"), "Store this text under key."),
				"add":    with(obj{"anyOf": []any{obj{"type": "number"}, ref("template")}}, "Add this number (or a template that renders one) to the number under key."),
				"push":   with(ref("template"), "Append this text to the list under key."),
				"delete": with(obj{"const": true}, "true: remove key."),
				"keep":   with(obj{"type": "integer", "minimum": 1, "maximum": memory.MaxKeep}, "With push: how many of the newest items the list keeps."),
				"ttl":    with(ref("duration"), "How long the key lives after this write (not with delete)."),
			})
			w["required"] = []string{"key"}
			w["oneOf"] = requireOne("set", "add", "push", "delete")
			w["dependentRequired"] = obj{"keep": []string{"push"}}
			w["dependentSchemas"] = obj{"ttl": obj{"not": obj{"required": []string{"delete"}}}}
			return w
		}(),
		"rule": func() obj {
			r := closed("A rule: when it fires (match, addressed, when, cooldown, or schedule) and what it does (fetch, remember, reply, react).", obj{
				"name":      with(ref("nonBlank"), "The rule's name, unique in the file."),
				"help":      with(ref("text"), "The rule's line in the built-in help."),
				"match":     ref("match"),
				"addressed": with(obj{"type": "boolean"}, "true: only messages addressed to the bot (a mention or a DM); false: only others."),
				"when":      with(ref("text"), "An expr-lang boolean expression that must be true for the rule to fire."),
				"fetch":     ref("fetch"),
				"reply":     with(obj{"anyOf": []any{ref("nonBlank"), obj{"type": "array", "minItems": 1, "items": ref("nonBlank")}}}, "A template, or a list of templates of which one is picked at random."),
				"react":     with(ref("text"), "An emoji name to react with, such as thumbsup."),
				"thread":    with(obj{"type": "boolean"}, "true: reply in a thread."),
				"unfurl":    with(ref("unfurl"), "This rule's link and media previews, overriding bot.unfurl."),
				"cooldown":  with(ref("duration"), "After firing in a channel, the rule does not fire there again until this has passed."),
				"continue":  with(obj{"type": "boolean"}, "true: keep trying later rules after this one fires."),
				"on_error":  with(ref("template"), "Sent instead of the reply when the fetch or an expression fails; error holds the reason."),
				"to":        with(ref("template"), "Where the reply goes: dm, #CHANNEL, @USER, or a template rendering one of these."),
				"ephemeral": with(obj{"type": "boolean"}, "true: the reply is shown only to the message's author."),
				"remember":  with(obj{"type": "array", "minItems": 1, "items": ref("write")}, "Writes to the bot's memory, applied in order after fetch and before reply."),
				"schedule":  with(ref("text"), "A cron line (minute hour day-of-month month day-of-week, or @daily, @every 1h…): the rule fires at those times, in bot.timezone, with no message."),
			})
			r["required"] = []string{"name"}
			r["anyOf"] = requireOne("reply", "react", "fetch", "remember")
			return r
		}(),
	}
	bot := closed("How the bot behaves; every key has a default.", obj{
		"name":        with(ref("text"), "How the bot calls itself in transcripts and help: one word of letters, digits, '.', '-' or '_' (default rulebot)."),
		"ignore_bots": with(obj{"type": "boolean"}, "Never answer other bots (default true)."),
		"unfurl":      with(ref("unfurl"), "Link and media previews for every reply (default links false, media true)."),
		"fetch": closed("Defaults and limits for every rule's fetch.", obj{
			"timeout":   with(ref("duration"), "How long a fetch may take (default 5s)."),
			"max_bytes": with(ref("size"), "The largest response body read (default 1MiB)."),
			"allow": with(obj{"anyOf": []any{ref("text"), obj{"type": "array", "items": ref("text")}}},
				"Host names, IP addresses and CIDR ranges that fetches may reach though they are not public."),
		}),
		"flood":    with(obj{"type": "string", "pattern": `^\s*[0-9]+\s*/\s*\S+\s*$`}, "N/DURATION: at most N answers to other bots per channel within DURATION (default 10/1m)."),
		"timezone": with(obj{"type": "string"}, "An IANA time zone such as Europe/Berlin: the zone of now() and of schedules (default UTC)."),
	})
	top := closed("A rulebot rules file: the whole behaviour of the bot.", obj{
		"version": with(obj{"const": 1}, "The file format version; only 1 exists."),
		"bot":     bot,
		"vars": with(obj{"type": []string{"object", "null"}, "propertyNames": obj{"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
			"Constants visible in expressions as vars.NAME; names are letters, digits and _, not starting with a digit."),
		"rules": with(obj{"type": "array", "items": ref("rule")}, "The rules, tried in file order."),
	})
	top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	top["$id"] = SchemaURL
	top["title"] = "rulebot rules.yaml"
	top["required"] = []string{"rules"}
	top["$defs"] = defs
	return top
}
