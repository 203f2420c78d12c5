package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/internal/memory"
	"github.com/rulebot/rulebot/internal/yamlpos"
)

// A memWrite is one write of a rule's remember list (SPEC §6), compiled.
type memWrite struct {
	op   memory.Op
	key  *template
	text *template // set, push
	num  float64   // add, when numT is nil
	numT *template // add: a template that renders a number
	keep int       // push; 0 for memory.DefaultKeep
	ttl  time.Duration
}

var (
	writeFields = []string{"key", "set", "add", "push", "delete", "keep", "ttl"}
	writeOps    = map[string]memory.Op{"set": memory.Set, "add": memory.Add, "push": memory.Push, "delete": memory.Delete}
)

// remember compiles a rule's remember: list.
func (l *loader) remember(n *yaml.Node, what string) ([]memWrite, bool) {
	what += ": remember"
	if n.Kind != yaml.SequenceNode {
		l.Errorf(n, "%s: expected a list of writes such as - {key: count, add: 1}, got %s", what, yamlpos.KindName(n))
		return nil, false
	}
	if len(n.Content) == 0 {
		l.Errorf(n, "%s: the list is empty", what)
		return nil, false
	}
	var writes []memWrite
	ok := true
	for i, c := range n.Content {
		w, good := l.memWrite(yamlpos.Resolve(c), fmt.Sprintf("%s #%d", what, i+1))
		writes = append(writes, w)
		ok = ok && good
	}
	return writes, ok
}

// memWrite compiles one write: a key, exactly one of set, add, push or
// delete, and keep (push only) and ttl.
func (l *loader) memWrite(n *yaml.Node, what string) (memWrite, bool) {
	var w memWrite
	before := len(l.Problems)
	m, ok := l.Mapping(n, what, writeFields...)
	if !ok {
		return w, false
	}
	ok = len(l.Problems) == before
	var opKey *yaml.Node
	for i := 0; i < len(n.Content); i += 2 {
		k := yamlpos.Resolve(n.Content[i])
		op, isOp := writeOps[k.Value]
		switch {
		case !isOp || m[k.Value] == nil || m[k.Value].Key != k:
		case opKey != nil:
			l.Errorf(k, "%s: %s and %s: a write does one thing (write another for %s)", what, opKey.Value, k.Value, k.Value)
			ok = false
		default:
			opKey, w.op = k, op
		}
	}
	if opKey == nil {
		if ok {
			l.Errorf(n, "%s: give one of set, add, push or delete", what)
		}
		return w, false
	}
	if p := m["key"]; p == nil {
		if ok { // else a misspelt key was reported
			l.Errorf(n, "%s: has no key", what)
		}
		ok = false
	} else if s, good := l.Str(p.Val, what+": key"); !good {
		ok = false
	} else if w.key = l.template(p.Val, s, what+": key"); w.key == nil {
		ok = false
	} else if w.key.isLiteral() {
		if err := memory.CheckKey(s); err != nil {
			l.Errorf(p.Val, "%s: key: %v", what, err)
			ok = false
		}
	}
	p := m[opKey.Value]
	switch w.op {
	case memory.Set, memory.Push:
		s, good := l.Str(p.Val, what+": "+opKey.Value)
		if good {
			w.text = l.template(p.Val, s, what+": "+opKey.Value)
		}
		switch {
		case w.text == nil:
			ok = false
		case w.text.isLiteral() && len(s) > memory.MaxText:
			l.Errorf(p.Val, "%s: %s: the text is %d bytes; memory holds at most %d", what, opKey.Value, len(s), memory.MaxText)
			ok = false
		}
	case memory.Add:
		ok = l.addend(&w, p.Val, what) && ok
	case memory.Delete:
		if b, good := l.Bool(p.Val, what+": delete"); !good {
			ok = false
		} else if !b {
			l.Errorf(p.Val, "%s: delete: only true means something (remove the write to keep the key)", what)
			ok = false
		}
	}
	if p := m["keep"]; p != nil {
		if w.op != memory.Push {
			l.Errorf(p.Key, "%s: keep goes with push (how many items the list keeps)", what)
			ok = false
		} else if k, good := l.Int(p.Val, what+": keep"); !good {
			ok = false
		} else if k < 1 || k > memory.MaxKeep {
			l.Errorf(p.Val, "%s: keep: %d is not from 1 to %d", what, k, memory.MaxKeep)
			ok = false
		} else {
			w.keep = k
		}
	}
	if p := m["ttl"]; p != nil {
		if w.op == memory.Delete {
			l.Errorf(p.Key, "%s: ttl has no meaning with delete", what)
			ok = false
		} else if d, good := l.Duration(p.Val, what+": ttl"); !good {
			ok = false
		} else {
			w.ttl = d
		}
	}
	return w, ok
}

// addend reads add: a YAML number, or a template that renders one, read
// as num() reads text ("$1,000", "-2").
func (l *loader) addend(w *memWrite, n *yaml.Node, what string) bool {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			l.Errorf(n, "%s: add: %s is not a number that can be added", what, yamlpos.KindName(n))
			return false
		}
		w.num = f
		return true
	}
	s, ok := l.Str(n, what+": add")
	if !ok {
		return false
	}
	t := l.template(n, s, what+": add")
	if t == nil {
		return false
	}
	if !t.isLiteral() {
		w.numT = t
		return true
	}
	f, err := parseNum(s)
	if err != nil || math.IsInf(f, 0) {
		l.Errorf(n, "%s: add: %q is not a number", what, s)
		return false
	}
	w.num = f
	return true
}

// remember applies a rule's writes in order. The first that fails stops
// the others, and those before it stay.
func (e *Engine) remember(ctx context.Context, r *rule, in *input, env map[string]any) error {
	for _, mw := range r.remember {
		w, err := mw.render(in, env)
		if err != nil {
			return err
		}
		if err := e.opts.Memory.Write(ctx, w); err != nil {
			return e.memoryError("write", w.Key, err)
		}
	}
	return nil
}

// render renders the templates of a write: memory holds plain text, so
// nothing is escaped.
func (mw *memWrite) render(in *input, env map[string]any) (memory.Write, error) {
	w := memory.Write{Op: mw.op, Number: mw.num, Keep: mw.keep, TTL: mw.ttl}
	var err error
	if w.Key, err = mw.key.render(in, env, escapeNone); err != nil {
		return w, err
	}
	if mw.text != nil {
		if w.Text, err = mw.text.render(in, env, escapeNone); err != nil {
			return w, err
		}
	}
	if mw.numT != nil {
		s, err := mw.numT.render(in, env, escapeNone)
		if err != nil {
			return w, err
		}
		if w.Number, err = parseNum(s); err != nil {
			return w, fmt.Errorf("add to memory key %s: %q is not a number", quoteShort(w.Key), shorten(s, 40))
		}
	}
	return w, nil
}

// errMemory is what a rule sees of a store that failed (a lost Redis
// connection): the details, which may name internal addresses, are logged.
var errMemory = errors.New("memory is unavailable")

// memoryError returns err as a rule may show it: the store's own words for
// a limit or a value of the wrong type, else errMemory.
func (e *Engine) memoryError(what, key string, err error) error {
	if errors.Is(err, memory.ErrLimit) || errors.Is(err, memory.ErrWrongType) {
		return err
	}
	e.opts.Logger.Warn("memory "+what+" failed", "key", key, "error", err.Error())
	return errMemory
}

// quoteShort quotes s for an error message, cut to 40 characters.
func quoteShort(s string) string { return fmt.Sprintf("%q", shorten(s, 40)) }

// recall is recall(KEY): the stored text, number or list, or nil. The
// value is charged to the evaluation's budget.
func (in *input) recall(ctx context.Context, key string) (any, error) {
	v, err := in.e.opts.Memory.Get(ctx, key)
	if err != nil {
		return nil, in.e.memoryError("read", key, err)
	}
	return v, in.budget.Charge(v)
}

// recallAll is recall_all(PREFIX): every key that starts with prefix, with
// prefix removed, mapped to its value; at most memory.MaxScan of them.
func (in *input) recallAll(ctx context.Context, prefix string) (map[string]any, error) {
	m, err := in.e.opts.Memory.Scan(ctx, prefix)
	if err != nil {
		return nil, in.e.memoryError("read", prefix+"*", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, in.budget.Charge(m)
}
