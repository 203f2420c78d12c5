package local

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/regfile"
	"github.com/rulebot/rulebot/internal/yamlpos"
)

// A TestFile is a golden conversation test: testdata/NAME.yaml.
type TestFile struct {
	Path         string
	Rules        string // the rules file, relative to the working directory; "" for the default
	Clock        time.Time
	Seed         uint64
	Fetch        map[string]Canned // canned answers by exact URL
	Conversation []Step
}

// Canned is a canned answer to a fetch.
type Canned struct {
	Status int
	Body   []byte
}

// A Step is one message of a conversation.
type Step struct {
	Post
	After time.Duration // advance the clock by this much first
	Line  int           // where the step is in the test file
}

// DefaultClock is now() in a test that does not set clock:.
var DefaultClock = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ReadTestFile reads and checks a test file. Every problem is reported,
// positioned, in the returned yamlpos.ErrorList.
func ReadTestFile(path string) (*TestFile, error) {
	src, err := regfile.Read(path, engine.MaxFileSize)
	if err != nil {
		return nil, err
	}
	c := &yamlpos.Checker{File: path}
	tf := parseTestFile(c, path, src)
	yamlpos.Sort(c.Problems)
	if len(c.Problems) > 0 {
		return nil, yamlpos.ErrorList(c.Problems)
	}
	return tf, nil
}

func parseTestFile(c *yamlpos.Checker, path string, src []byte) *TestFile {
	tf := &TestFile{Path: path, Clock: DefaultClock, Seed: 1, Fetch: map[string]Canned{}}
	root, ok := c.Parse(src)
	if !ok {
		return nil
	}
	if root == nil {
		c.Errorf(nil, "the file is empty: a test needs a conversation: list")
		return nil
	}
	root = yamlpos.Resolve(root)
	top, ok := c.Mapping(root, "test", "rules", "clock", "seed", "fetch", "conversation")
	if !ok {
		return nil
	}
	dir := filepath.Dir(path)
	if p := top["rules"]; p != nil {
		if s, ok := c.Str(p.Val, "rules"); ok {
			tf.Rules = filepath.Join(dir, s)
		}
	}
	if p := top["clock"]; p != nil {
		if s, ok := c.Str(p.Val, "clock"); ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				c.Errorf(p.Val, "clock: %q is not a time like 2026-11-26T09:00:00Z", s)
			}
			tf.Clock = t
		}
	}
	if p := top["seed"]; p != nil {
		if n, ok := c.Int(p.Val, "seed"); ok {
			tf.Seed = uint64(n)
		}
	}
	if p := top["fetch"]; p != nil {
		readCanned(c, dir, p.Val, tf.Fetch)
	}
	p := top["conversation"]
	if p == nil {
		c.Errorf(root, "test: has no conversation: list")
		return tf
	}
	list := p.Val
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		c.Errorf(list, "conversation: expected a list of messages, got %s", yamlpos.KindName(list))
		return tf
	}
	for i, n := range list.Content {
		if s, ok := readStep(c, i, yamlpos.Resolve(n)); ok {
			tf.Conversation = append(tf.Conversation, s)
		}
	}
	return tf
}

func readCanned(c *yamlpos.Checker, dir string, n *yaml.Node, out map[string]Canned) {
	if n.Kind != yaml.MappingNode {
		c.Errorf(n, "fetch: expected a mapping of URLs to answers, got %s", yamlpos.KindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlpos.Resolve(n.Content[i]), yamlpos.Resolve(n.Content[i+1])
		u, ok := c.Str(k, "fetch")
		if !ok {
			continue
		}
		what := "fetch " + u
		m, ok := c.Mapping(v, what, "status", "body", "file")
		if !ok {
			continue
		}
		ans := Canned{Status: 200}
		if p := m["status"]; p != nil {
			if s, ok := c.Int(p.Val, what+": status"); ok {
				if s < 100 || s > 599 {
					c.Errorf(p.Val, "%s: status %d is not an HTTP status", what, s)
				}
				ans.Status = s
			}
		}
		body, file := m["body"], m["file"]
		switch {
		case body != nil && file != nil:
			c.Errorf(file.Key, "%s: give body or file, not both", what)
		case body != nil:
			if s, ok := c.Str(body.Val, what+": body"); ok {
				ans.Body = []byte(s)
			}
		case file != nil:
			if s, ok := c.Str(file.Val, what+": file"); ok {
				b, err := regfile.Read(filepath.Join(dir, s), engine.MaxFileSize)
				if err != nil {
					c.Errorf(file.Val, "%s: %v", what, err)
				}
				ans.Body = b
			}
		}
		if _, dup := out[u]; dup {
			c.Errorf(k, "fetch: %q is listed twice", u)
		}
		out[u] = ans
	}
}

func readStep(c *yamlpos.Checker, i int, n *yaml.Node) (Step, bool) {
	s := Step{Post: Post{User: "alice", Channel: "general"}, Line: n.Line}
	if n.Kind == yaml.ScalarNode {
		t, ok := c.Str(n, fmt.Sprintf("conversation[%d]", i))
		s.Text = t
		return s, ok
	}
	what := fmt.Sprintf("conversation[%d]", i)
	m, ok := c.Mapping(n, what, "user", "text", "dm", "channel", "after", "bot", "thread")
	if !ok {
		return s, false
	}
	before := len(c.Problems)
	if p := m["text"]; p == nil {
		c.Errorf(n, "%s: has no text", what)
	} else {
		s.Text, _ = c.Str(p.Val, what+": text")
	}
	if p := m["user"]; p != nil {
		if u, ok := c.Str(p.Val, what+": user"); ok {
			s.User = strings.TrimPrefix(u, "@")
			if !nameRE.MatchString(s.User) {
				c.Errorf(p.Val, "%s: user %q must be a name like bob", what, u)
			}
		}
	}
	if p := m["channel"]; p != nil {
		if ch, ok := c.Str(p.Val, what+": channel"); ok {
			s.Channel = strings.TrimPrefix(ch, "#")
			if !nameRE.MatchString(s.Channel) {
				c.Errorf(p.Val, "%s: channel %q must be a name like #random", what, ch)
			}
		}
	}
	if p := m["dm"]; p != nil {
		s.DM, _ = c.Bool(p.Val, what+": dm")
		if s.DM && m["channel"] != nil {
			c.Errorf(p.Key, "%s: a message is either a dm or in a channel, not both", what)
		}
	}
	if p := m["bot"]; p != nil {
		s.Bot, _ = c.Bool(p.Val, what+": bot")
	}
	if p := m["thread"]; p != nil {
		s.Thread, _ = c.Bool(p.Val, what+": thread")
	}
	if p := m["after"]; p != nil {
		s.After, _ = c.Duration(p.Val, what+": after")
	}
	return s, len(c.Problems) == before
}
