package slackfake

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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

// handler returns the method's handler and the kind of token it needs
// (TokenBot standing for either kind of bot token), or nil if the fake does
// not know the method.
func (s *Server) handler(method string) (apiHandler, TokenKind) {
	switch method {
	case "auth.test":
		return s.authTest, TokenBot
	case "users.info":
		return s.usersInfo, TokenBot
	case "users.list":
		return s.usersList, TokenBot
	case "conversations.info":
		return s.conversationsInfo, TokenBot
	case "conversations.list":
		return s.conversationsList, TokenBot
	case "conversations.open":
		return s.conversationsOpen, TokenBot
	case "chat.postEphemeral":
		return s.chatPostEphemeral, TokenBot
	case "chat.postMessage":
		return s.chatPostMessage, TokenBot
	case "reactions.add":
		return s.reactionsAdd, TokenBot
	case "rtm.connect":
		return s.rtmConnect, TokenClassicBot
	case "apps.connections.open":
		return s.appsConnectionsOpen, TokenApp
	}
	return nil, 0
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	form, err := readParams(w, r)
	if err != nil {
		writeJSON(w, http.StatusOK, slackError("invalid_form_data"))
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = form.Get("token")
	}

	handle, need := s.handler(method)
	s.mu.Lock()
	s.calls[method]++
	s.notifyLocked()
	hold := s.holds[method]
	kind, known := s.tokens[token]
	code := ""
	switch {
	case handle == nil:
		code = "unknown_method"
	case token == "":
		code = "not_authed"
	case !known:
		code = "invalid_auth"
	case kind == TokenRevoked:
		code = "token_revoked"
	case need == TokenApp && kind != TokenApp:
		// Slack may rather answer not_allowed_token_type to a bot token,
		// which slack-go's socketmode client retries forever; on
		// invalid_auth it gives up.
		code = "invalid_auth"
	case need != TokenApp && kind == TokenApp,
		need == TokenClassicBot && kind != TokenClassicBot:
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
		resp, code := handle(apiCall{token: token, form: form})
		if code != "" {
			writeJSON(w, http.StatusOK, slackError(code))
			return
		}
		resp["ok"] = true
		writeJSON(w, http.StatusOK, resp)
	}
}

// readParams returns the call's parameters: the query string plus a
// form-encoded body or, as Slack also accepts, a JSON object body.
func readParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.Form, nil
	}
	form := r.URL.Query()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(body)) == "" {
		return form, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
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
	return form, nil
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
// the fake refuses as channel_not_found).
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
	}
	if p.ThreadTS != "" {
		msg["thread_ts"] = p.ThreadTS
	}
	return object{"channel": p.Channel, "ts": p.TS, "message": msg}, ""
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

// reactionsAdd records the reaction; like Slack it refuses the same
// reaction twice on a message.
func (s *Server) reactionsAdd(call apiCall) (object, string) {
	r := Reaction{
		Channel:   call.form.Get("channel"),
		Timestamp: call.form.Get("timestamp"),
		Name:      call.form.Get("name"),
	}
	switch {
	case r.Name == "":
		return nil, "invalid_name"
	case r.Channel == "" || r.Timestamp == "":
		return nil, "no_item_specified"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.reactions {
		if old == r {
			return nil, "already_reacted"
		}
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
