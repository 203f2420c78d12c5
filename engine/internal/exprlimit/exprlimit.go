// Package exprlimit compiles and runs expr programs within limits, so that
// no expression a rule author writes can crash, hang or exhaust the process.
//
// At compile time, Compile refuses a source longer than MaxBytes and a syntax
// tree nested deeper than MaxDepth (operators and brackets alike), with the
// position of the offending part. It then rewrites the checked tree (see
// meter) so that every operation whose cost grows with the size of its
// operands, or that loops, first charges a Budget with the work and memory it
// is about to spend, computed from its operands before any result is
// allocated.
//
// At run time, Run evaluates a program with a fresh Budget; an evaluation that
// exceeds it fails with ErrTooCostly.
package exprlimit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

const (
	// MaxBytes is the longest expression source Compile accepts.
	MaxBytes = 10_000
	// MaxDepth is how deeply Compile lets operators and brackets nest.
	MaxDepth = 100
)

// ErrTooCostly is the error of an evaluation that exceeded its budget.
var ErrTooCostly = errors.New("expression too costly")

// Key is the name under which Run puts the evaluation's Budget into the
// environment. It is not an identifier a rule author can write.
const Key = "·budget"

// Options returns the expr options that Compile needs: the functions the
// rewritten tree calls. Pass them to Compile with the caller's own.
func Options() []expr.Option {
	opts := make([]expr.Option, 0, len(meters))
	for name, f := range meters {
		opts = append(opts, expr.Function(name, f))
	}
	return opts
}

// Compile compiles src as expr.Compile does, within MaxBytes and MaxDepth,
// and meters the program. opts must include Options().
func Compile(src string, opts ...expr.Option) (*vm.Program, error) {
	if len(src) > MaxBytes {
		lead := len(src) - len(strings.TrimLeft(src, " \t")) // point at the expression, not the space before it
		return nil, &file.Error{Line: 1, Column: lead, Message: fmt.Sprintf("the expression is %d bytes long (the limit is %d)", len(src), MaxBytes)}
	}
	if err := prescan(src); err != nil {
		return nil, err
	}
	config := conf.CreateNew()
	for _, op := range opts {
		op(config)
	}
	for name := range config.Disabled {
		delete(config.Builtins, name)
	}
	config.Check()
	tree, err := parser.ParseWithConfig(src, config)
	if err != nil {
		return nil, err
	}
	if d, over := depth(tree.Node); over != nil {
		fe := &file.Error{Location: over.Location(), Message: fmt.Sprintf("the expression nests %d levels deep (the limit is %d)", d, MaxDepth)}
		return nil, fe.Bind(tree.Source)
	}
	ast.Find(tree.Node, wholeCount)
	if _, err := new(checker.Checker).PatchAndCheck(tree, config); err != nil {
		return nil, err
	}
	if config.Optimize {
		if err := optimizer.Optimize(&tree.Node, config); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, fe.Bind(tree.Source)
			}
			return nil, err
		}
	}
	meter(&tree.Node, false)
	return compiler.Compile(tree, config)
}

// wholeCount lets repeat's count be written as a whole float literal, as
// in repeat('x', 1e5), as it may be a float at run time (a JSON number).
func wholeCount(n ast.Node) bool {
	if b, ok := n.(*ast.BuiltinNode); ok && b.Name == "repeat" && len(b.Arguments) == 2 {
		if f, ok := b.Arguments[1].(*ast.FloatNode); ok && f.Value == math.Trunc(f.Value) && math.Abs(f.Value) < 1<<53 {
			i := &ast.IntegerNode{Value: int(f.Value)}
			i.SetLocation(f.Location())
			b.Arguments[1] = i
		}
	}
	return false
}

// prescan reports, before the parser would recurse into them, brackets
// nested deeper than MaxDepth and runs of more than MaxDepth prefix
// operators (- + ! not), at the first one too many. The parser recurses
// once per level of either; the other operators, which it parses in loops,
// are counted on the tree.
func prescan(src string) error {
	depth, unary, runes := 0, 0, 0
	operand := false                          // whether the last token ends an operand, so that - is binary
	fail := func(what string, at int) error { // at: the rune offset of the level too many
		fe := &file.Error{Location: file.Location{From: at, To: at + 1}, Message: fmt.Sprintf("%s nest more than %d levels deep", what, MaxDepth)}
		return fe.Bind(file.NewSource(src))
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c < 0x80 || c >= 0xC0 {
			runes++
		}
		switch {
		case c == '"' || c == '\'' || c == '`':
			for i++; i < len(src) && src[i] != c; i++ {
				if src[i] < 0x80 || src[i] >= 0xC0 {
					runes++
				}
				if src[i] == '\\' && c != '`' {
					i++
					runes++
				}
			}
			runes++
			operand, unary = true, 0
		case c == '(' || c == '[' || c == '{':
			if depth++; depth > MaxDepth {
				return fail("brackets", runes-1)
			}
			operand = false
		case c == ')' || c == ']' || c == '}':
			depth--
			operand, unary = true, 0
		case (c == '-' || c == '+' || c == '!') && !operand && !strings.HasPrefix(src[i:], "!="):
			if unary++; unary > MaxDepth {
				return fail("operators", runes-1)
			}
		case c == '_' || c == '$' || c == '#' || c >= 0x80 || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			start, j := runes-1, i+1
			for j < len(src) && (src[j] == '_' || src[j] >= 0x80 || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				if src[j] < 0x80 || src[j] >= 0xC0 {
					runes++
				}
				j++
			}
			switch word := src[i:j]; {
			case word == "not" && !operand:
				if unary++; unary > MaxDepth {
					return fail("operators", start)
				}
			case word == "not" || word == "and" || word == "or" || word == "in" || word == "matches" ||
				word == "contains" || word == "startsWith" || word == "endsWith" || word == "let":
				operand, unary = false, 0
			default:
				operand, unary = true, 0
			}
			i = j - 1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default: // another operator: what follows is an operand
			operand, unary = false, 0
		}
	}
	return nil
}

// depth returns how deeply the tree rooted at n nests, counting each
// operator, call, member access, index, literal list or map as a level
// (predicates, let and ; are not levels of their own), and the first node
// found beyond MaxDepth, if any.
func depth(n ast.Node) (int, ast.Node) {
	type item struct {
		n     ast.Node
		depth int
	}
	var over ast.Node
	deepest := 0
	stack := []item{{n, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n == nil {
			continue
		}
		kids := children(it.n)
		d := it.depth
		switch it.n.(type) {
		case *ast.PredicateNode, *ast.VariableDeclaratorNode, *ast.SequenceNode, *ast.PairNode:
		default:
			if len(kids) > 0 {
				d++
			}
		}
		if d > MaxDepth && over == nil {
			over = it.n
		}
		deepest = max(deepest, d)
		for _, k := range kids {
			stack = append(stack, item{k, d})
		}
	}
	return deepest, over
}

// children returns n's child nodes.
func children(n ast.Node) []ast.Node {
	switch x := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{x.Node}
	case *ast.BinaryNode:
		return []ast.Node{x.Left, x.Right}
	case *ast.ChainNode:
		return []ast.Node{x.Node}
	case *ast.MemberNode:
		return []ast.Node{x.Node, x.Property}
	case *ast.SliceNode:
		return []ast.Node{x.Node, x.From, x.To}
	case *ast.CallNode:
		return append([]ast.Node{x.Callee}, x.Arguments...)
	case *ast.BuiltinNode:
		return append(x.Arguments[:len(x.Arguments):len(x.Arguments)], x.Map)
	case *ast.PredicateNode:
		return []ast.Node{x.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{x.Value, x.Expr}
	case *ast.SequenceNode:
		return x.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{x.Cond, x.Exp1, x.Exp2}
	case *ast.ArrayNode:
		return x.Nodes
	case *ast.MapNode:
		return x.Pairs
	case *ast.PairNode:
		return []ast.Node{x.Key, x.Value}
	}
	return nil
}

// Run evaluates p against env with a fresh Budget, stored in env under Key.
// An evaluation that exceeds its budget fails with ErrTooCostly; so does
// one whose value, a list or a map, would take too much to write out.
func Run(p *vm.Program, env map[string]any) (any, error) {
	if env == nil {
		env = map[string]any{}
	}
	b, _ := env[Key].(*Budget)
	if b == nil {
		b = new(Budget)
		env[Key] = b
	}
	*b = Budget{}
	v, err := vm.Run(p, env)
	if err != nil && (errors.Is(err, ErrTooCostly) || strings.Contains(err.Error(), "memory budget exceeded")) {
		return nil, ErrTooCostly
	}
	switch v.(type) {
	case nil, string, bool, int, float64:
	default: // a list or a map, which the caller will write out as JSON
		if err := b.charge(textCost(v)); err != nil {
			return nil, err
		}
	}
	return v, err
}
