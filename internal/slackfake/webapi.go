package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxBodyBytes bounds the Web API request bodies the fake reads.
const maxBodyBytes = 1 << 20

// failure is an injected answer to a Web API call.
type failure struct {
	code        string // Slack error code, answered with HTTP 200
	rateLimited bool   // answer HTTP 429 instead
	retryAfter  int64  // seconds, for rateLimited
	body        string // answer this JSON text with HTTP 200 instead, when not empty
}

// apiCall is an authenticated Web API call.
type apiCall struct {
	token string
	form  url.Values
}

// object is a JSON object in an answer.
type object = map[string]any

// apiHandler answers a Web API method: with a JSON object to merge into
// {"ok":true}, or with a Slack error code.
type apiHandler func(apiCall) (object, string)

// route is a Web API method the fake serves.
type route struct {
	handle apiHandler
	// token is the kind of token the method needs, TokenBot standing for
	// either kind of bot token.
	token TokenKind
	// errors are the error codes the handler may answer. Any other code is
	// a bug of the fake, answered with HTTP 500 so that no test takes it
	// for Slack's; the conformance test checks each of these against
	// Slack's published schema of the method.
	errors []string
}

// authErrors returns the errors every method may answer before its handler
// runs: no token, an unknown one, a revoked one, one of the wrong type;
// ratelimited comes with HTTP 429 (see RateLimitNext), and the last three
// are answers to a request body that cannot be read.
func authErrors() []string {
	return []string{"not_authed", "invalid_auth", "token_revoked", "not_allowed_token_type",
		"ratelimited", "invalid_form_data", "invalid_json", "json_not_object"}
}

// routes returns the Web API methods the fake serves.
func (s *Server) routes() map[string]route {
	return map[string]route{
		"auth.test":          {s.authTest, TokenBot, nil},
		"users.info":         {s.usersInfo, TokenBot, []string{"user_not_found"}},
		"users.list":         {s.usersList, TokenBot, []string{"invalid_cursor", "invalid_arguments", "limit_required"}},
		"conversations.info": {s.conversationsInfo, TokenBot, []string{"channel_not_found"}},
		"conversations.list": {s.conversationsList, TokenBot, []string{"invalid_cursor", "invalid_limit", "invalid_types"}},
		"conversations.open": {s.conversationsOpen, TokenBot, []string{"channel_not_found",
			"method_not_supported_for_channel_type", "users_list_not_supplied", "too_many_users",
			"user_not_found", "user_disabled"}},
		"chat.postEphemeral": {s.chatPostEphemeral, TokenBot, []string{"channel_not_found", "is_archived",
			"user_not_in_channel", "no_text", "msg_too_long"}},
		"chat.postMessage": {s.chatPostMessage, TokenBot, []string{"channel_not_found", "is_archived",
			"not_in_channel", "no_text", "msg_too_long"}},
		"reactions.add": {s.reactionsAdd, TokenBot, []string{"invalid_name", "no_item_specified",
			"channel_not_found", "is_archived", "message_not_found", "already_reacted"}},
		"rtm.connect":           {s.rtmConnect, TokenClassicBot, nil},
		"apps.connections.open": {s.appsConnectionsOpen, TokenApp, nil},
	}
}

// Methods returns the Web API methods the fake serves, sorted; any other
// answers unknown_method.
func (s *Server) Methods() []string {
	return slices.Sorted(maps.Keys(s.api))
}

// Errors returns every error code the Web API method may answer: those of
// every method (authErrors) and its own. Injected failures (FailNext,
// AnswerNext) answer what the test says.
func (s *Server) Errors(method string) []string {
	if _, ok := s.api[method]; !ok {
		return []string{"unknown_method"}
	}
	return slices.Concat(authErrors(), s.api[method].errors)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	form, badBody := readParams(w, r)
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = form.Get("token")
	}

	rt, served := s.api[method]
	s.mu.Lock()
	s.calls[method]++
	s.notifyLocked()
	hold := s.holds[method]
	kind, known := s.tokens[token]
	code := ""
	switch {
	case !served:
		code = "unknown_method"
	case badBody != "":
		code = badBody
	case token == "":
		code = "not_authed"
	case !known:
		code = "invalid_auth"
	case kind == TokenRevoked:
		code = "token_revoked"
	case rt.token == TokenApp && kind != TokenApp,
		rt.token != TokenApp && kind == TokenApp,
		rt.token == TokenClassicBot && kind != TokenClassicBot:
		// slack-go's socketmode client retries not_allowed_token_type
		// forever (only invalid_auth and the like end RunContext): the bot
		// must tell it apart itself.
		code = "not_allowed_token_type"
	}
	var (
		f      failure
		failed bool
	)
	if q := s.failures[method]; code == "" && len(q) > 0 {
		f, failed = q[0], true
		s.failures[method] = q[1:]
	}
	s.mu.Unlock()

	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done(): // the client gave up
			return
		case <-s.done:
			return
		}
	}

	switch {
	case code != "":
		writeJSON(w, http.StatusOK, slackError(code))
	case failed && f.body != "":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, f.body)
	case failed && f.rateLimited:
		w.Header().Set("Retry-After", strconv.FormatInt(f.retryAfter, 10))
		writeJSON(w, http.StatusTooManyRequests, slackError("ratelimited"))
	case failed:
		writeJSON(w, http.StatusOK, slackError(f.code))
	default:
		resp, code := rt.handle(apiCall{token: token, form: form})
		switch {
		case code != "" && !slices.Contains(rt.errors, code):
			http.Error(w, fmt.Sprintf("slackfake: %s answered %q, which it does not declare", method, code), http.StatusInternalServerError)
		case code != "":
			writeJSON(w, http.StatusOK, slackError(code))
		default:
			resp["ok"] = true
			writeJSON(w, http.StatusOK, resp)
		}
	}
}

// readParams returns the call's parameters: the query string plus a
// form-encoded body or, as Slack also accepts, a JSON object body. A body
// it cannot read gives Slack's error for it: invalid_form_data,
// invalid_json, or json_not_object.
func readParams(w http.ResponseWriter, r *http.Request) (url.Values, string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return r.URL.Query(), "invalid_form_data"
		}
		return r.Form, ""
	}
	form := r.URL.Query()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return form, "invalid_form_data"
	}
	if strings.TrimSpace(string(body)) == "" {
		return form, ""
	}
	trimmed := strings.TrimSpace(string(body))
	if !json.Valid(body) {
		return form, "invalid_json"
	}
	var fields map[string]json.RawMessage
	if !strings.HasPrefix(trimmed, "{") || json.Unmarshal(body, &fields) != nil {
		return form, "json_not_object"
	}
	for k, raw := range fields {
		// Strings as themselves; numbers, booleans, objects and arrays
		// (e.g. blocks) as their JSON text, as they are sent in forms.
		var str string
		if json.Unmarshal(raw, &str) != nil {
			str = string(raw)
		}
		form.Set(k, str)
	}
	return form, ""
}

// slackError is Slack's error answer, {"ok":false,"error":code}.
func slackError(code string) any {
	return struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}{false, code}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) authTest(apiCall) (object, string) {
	c := s.cfg
	return object{
		"url":     "https://slackfake.slack.com/",
		"team":    c.teamName,
		"user":    c.userName,
		"team_id": c.teamID,
		"user_id": c.userID,
		"bot_id":  c.botID,

		"is_enterprise_install": false,
	}, ""
}

// chatPostMessage records the post, in a channel of the model that the
// bot is in (a channel is given by its ID: Slack also takes a name, which
// the fake refuses as channel_not_found). Like Slack it refuses a message
// without text, blocks or attachments (no_text) and a text longer than
// 40,000 characters (msg_too_long).
func (s *Server) chatPostMessage(call apiCall) (object, string) {
	f := call.form
	s.mu.Lock()
	code := s.postableLocked(f.Get("channel"))
	s.mu.Unlock()
	switch {
	case code != "":
		return nil, code
	case f.Get("text") == "" && f.Get("blocks") == "" && f.Get("attachments") == "":
		return nil, "no_text"
	case utf8.RuneCountInString(f.Get("text")) > maxTextRunes:
		return nil, "msg_too_long"
	}
	p := Post{
		Channel:     f.Get("channel"),
		Text:        f.Get("text"),
		ThreadTS:    f.Get("thread_ts"),
		UnfurlLinks: parseBool(f, "unfurl_links"),
		UnfurlMedia: parseBool(f, "unfurl_media"),
		Token:       call.token,
		Form:        cloneValues(f),
		Time:        time.Now(),
	}
	s.mu.Lock()
	p.TS = s.newTSLocked()
	s.posts = append(s.posts, p)
	s.noteMessageLocked(p.Channel, p.TS)
	s.notifyLocked()
	s.mu.Unlock()

	msg := object{
		"type":   "message",
		"text":   p.Text,
		"user":   s.cfg.userID,
		"bot_id": s.cfg.botID,
		"ts":     p.TS,
		"team":   s.cfg.teamID,
		"app_id": s.cfg.appID,
		"bot_profile": object{
			"id":      s.cfg.botID,
			"app_id":  s.cfg.appID,
			"name":    s.cfg.userName,
			"deleted": false,
			"updated": s.tsBase,
			"team_id": s.cfg.teamID,
			"icons":   botIcons(),
		},
	}
	if p.ThreadTS != "" {
		msg["thread_ts"] = p.ThreadTS
	}
	return object{"channel": p.Channel, "ts": p.TS, "message": msg}, ""
}

// botIcons returns the icons of the bot's profile.
func botIcons() object {
	return object{
		"image_36": "https://slackfake.invalid/bot_36.png",
		"image_48": "https://slackfake.invalid/bot_48.png",
		"image_72": "https://slackfake.invalid/bot_72.png",
	}
}

func parseBool(f url.Values, key string) *bool {
	if !f.Has(key) {
		return nil
	}
	b, err := strconv.ParseBool(f.Get(key))
	if err != nil {
		return nil
	}
	return &b
}

// emojiName is the form of an emoji name Slack takes: no colons, lower
// case, optionally with a skin tone.
var emojiName = regexp.MustCompile(`^[a-z0-9_+'-]+(::skin-tone-[2-6])?$`)

// reactionsAdd records the reaction on a message of the model (one a test
// sent as an event, one the bot posted, or one added with AddMessage);
// like Slack it refuses the same reaction twice on a message.
func (s *Server) reactionsAdd(call apiCall) (object, string) {
	r := Reaction{
		Channel:   call.form.Get("channel"),
		Timestamp: call.form.Get("timestamp"),
		Name:      call.form.Get("name"),
	}
	switch {
	case r.Channel == "" || r.Timestamp == "":
		return nil, "no_item_specified"
	case !emojiName.MatchString(r.Name):
		return nil, "invalid_name"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.visibleLocked(r.Channel)
	switch {
	case ch == nil:
		return nil, "channel_not_found"
	case ch.archived:
		return nil, "is_archived"
	case !ch.messages[r.Timestamp]:
		return nil, "message_not_found"
	case slices.Contains(s.reactions, r):
		return nil, "already_reacted"
	}
	s.reactions = append(s.reactions, r)
	s.notifyLocked()
	return object{}, ""
}

func (s *Server) rtmConnect(apiCall) (object, string) {
	c := s.cfg
	return object{
		"url":  s.newWebsocketURL(RTM),
		"self": object{"id": c.userID, "name": c.userName},
		"team": object{"id": c.teamID, "name": c.teamName, "domain": "slackfake"},
	}, ""
}

func (s *Server) appsConnectionsOpen(apiCall) (object, string) {
	return object{"url": s.newWebsocketURL(SocketMode)}, ""
}
