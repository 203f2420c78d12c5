package local

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/engine"
	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/regfile"
	"github.com/rulebot/rulebot/internal/yamlpos"
)

// A TestFile is a golden conversation test: testdata/NAME.yaml.
type TestFile struct {
	Path         string
	Rules        string // the rules file, relative to the working directory; "" for the default
	RulesAt      [2]int // line and column of the rules: value, when given
	Clock        time.Time
	Seed         uint64
	Fetch        map[string]Canned // canned answers by exact URL
	Memory       map[string]any    // the bot's memory at the start: text, float64 or []string by key
	Conversation []Step
}

// Canned is a canned answer to a fetch.
type Canned struct {
	Status int
	Body   []byte
}

// A Step is one item of a conversation: a message, or ({after: D} alone)
// only a move of the clock.
type Step struct {
	Post
	After     time.Duration // advance the clock by this much first
	ClockOnly bool          // no message: the step only advances the clock
	Line, Col int           // where the step is in the test file
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

// compileRules reads and compiles rulesPath, the rules file of the test.
// A rules file that cannot be read is a problem at the test's rules: key.
func (tf *TestFile) compileRules(rulesPath string) (*engine.Rules, error) {
	src, err := regfile.Read(rulesPath, engine.MaxFileSize)
	if err != nil {
		return nil, engine.ErrorList{{File: tf.Path, Line: tf.RulesAt[0], Col: tf.RulesAt[1], Msg: fmt.Sprintf("rules: %v", err)}}
	}
	return engine.Compile(rulesPath, src)
}

// IsTestFile reports whether src is a test file rather than a rules file:
// a YAML mapping with a conversation: key.
func IsTestFile(src []byte) bool {
	var doc map[string]yaml.Node
	if yaml.Unmarshal(src, &doc) != nil {
		return false
	}
	_, ok := doc["conversation"]
	return ok
}

// CheckTestFile checks the test file path as rulebot test reads it: its
// own keys, its canned files, and its rules file (defaultRules when it
// names none), compiled. Problems come back as an engine.ErrorList.
func CheckTestFile(path, defaultRules string) (*TestFile, *engine.Rules, error) {
	tf, err := ReadTestFile(path)
	if err != nil {
		return nil, nil, err
	}
	rulesPath := tf.Rules
	if rulesPath == "" {
		rulesPath = defaultRules
	}
	rs, err := tf.compileRules(rulesPath)
	if err != nil {
		return tf, nil, err
	}
	return tf, rs, nil
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
	top, ok := c.Mapping(root, "test", "rules", "clock", "seed", "fetch", "memory", "conversation")
	if !ok {
		return nil
	}
	dir := filepath.Dir(path)
	if p := top["rules"]; p != nil {
		if s, ok := c.Str(p.Val, "rules"); ok {
			tf.Rules = filepath.Join(dir, s)
			tf.RulesAt = [2]int{p.Val.Line, p.Val.Column}
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
	if p := top["memory"]; p != nil {
		tf.Memory = readMemory(c, p.Val)
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

// readMemory reads a test file's memory: a mapping of keys to a number,
// a text or a list of texts. Each key and value is checked against the
// limits of memory (SPEC §6) where it is written.
func readMemory(c *yamlpos.Checker, n *yaml.Node) map[string]any {
	if n.Kind != yaml.MappingNode {
		c.Errorf(n, "memory: expected a mapping of keys to values, got %s", yamlpos.KindName(n))
		return nil
	}
	seed := make(map[string]any, len(n.Content)/2)
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlpos.Resolve(n.Content[i]), yamlpos.Resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			c.Errorf(k, "memory: a key must be text, got %s", yamlpos.KindName(k))
			continue
		}
		key := k.Value
		if line, dup := lines[key]; dup {
			c.Errorf(k, "memory: key %q is repeated (first at line %d)", key, line)
			continue
		}
		lines[key] = k.Line
		val, ok := memoryValue(c, key, v)
		if !ok {
			continue
		}
		// The memory package checks the key and the value as it seeds a
		// store; checking each alone positions its problem.
		if _, err := memory.NewRAM(map[string]any{key: val}, nil); err != nil {
			at := v
			if memory.CheckKey(key) != nil {
				at = k
			}
			c.Errorf(at, "%v", err)
			continue
		}
		seed[key] = val
	}
	return seed
}

// memoryValue reads the value of memory key: a number, a text, or a list
// of texts (a list item written as a number or true/false is its text).
func memoryValue(c *yamlpos.Checker, key string, n *yaml.Node) (any, bool) {
	what := fmt.Sprintf("memory: %s", key)
	switch {
	case n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float"):
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			c.Errorf(n, "%s: %q is not a number rulebot can hold", what, n.Value)
			return nil, false
		}
		return f, true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		return n.Value, true
	case n.Kind == yaml.SequenceNode:
		list := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = yamlpos.Resolve(item)
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				c.Errorf(item, "%s: a list item must be text, got %s", what, yamlpos.KindName(item))
				return nil, false
			}
			list = append(list, item.Value)
		}
		return list, true
	}
	c.Errorf(n, "%s: a value must be a number, a text or a list of texts, got %s", what, yamlpos.KindName(n))
	return nil, false
}

func readStep(c *yamlpos.Checker, i int, n *yaml.Node) (Step, bool) {
	s := Step{Post: Post{User: "alice", Channel: "general"}, Line: n.Line, Col: n.Column}
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
		if m["after"] == nil || len(m) > 1 {
			c.Errorf(n, "%s: has no text (an item without text is {after: D} alone, which only advances the clock)", what)
		}
		s.ClockOnly = true
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
