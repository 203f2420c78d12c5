package exprlimit

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

var (
	meterFuncType = reflect.TypeOf(meterFunc(nil))
	anyType       = reflect.TypeOf((*any)(nil)).Elem()
)

// predicates are the builtins that loop over their first argument.
var predicates = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
	"count": true, "sum": true, "find": true, "findIndex": true, "findLast": true,
	"findLastIndex": true, "groupBy": true, "sortBy": true, "reduce": true,
}

// meter rewrites the checked tree at *n so that each costly operation first
// charges the budget, computed from its operands:
//   - a loop (map, filter, …) charges per element of its list, before the
//     first iteration;
//   - a builtin whose cost grows with its arguments (repeat, join, upper,
//     toJSON, …) is replaced by a version that charges first (builtinCosts);
//   - the operands of +, of a function call, and, inside a loop, of
//     comparisons and searches, charge their size;
//   - a range and a regexp match that is not a constant charge their size;
//   - a list or map written in a loop charges its size.
//
// Each rewrite keeps the node's type, so the compiler emits the same code
// around it. loop says whether *n runs once per iteration of a loop.
func meter(n *ast.Node, loop bool) {
	switch x := (*n).(type) {
	case *ast.UnaryNode:
		meter(&x.Node, loop)
	case *ast.BinaryNode:
		meter(&x.Left, loop)
		meter(&x.Right, loop)
		meterBinary(n, x, loop)
	case *ast.ChainNode:
		meter(&x.Node, loop)
	case *ast.MemberNode:
		meter(&x.Node, loop)
		meter(&x.Property, loop)
	case *ast.SliceNode:
		meter(&x.Node, loop)
		if x.From != nil {
			meter(&x.From, loop)
		}
		if x.To != nil {
			meter(&x.To, loop)
		}
	case *ast.CallNode:
		meter(&x.Callee, loop)
		for i := range x.Arguments {
			meter(&x.Arguments[i], loop)
			if isText(x.Arguments[i]) {
				wrap(&x.Arguments[i], fnMem)
			} else {
				wrap(&x.Arguments[i], fnDeep)
			}
		}
	case *ast.BuiltinNode:
		meterBuiltin(n, x, loop)
	case *ast.PredicateNode:
		meter(&x.Node, loop)
	case *ast.VariableDeclaratorNode:
		meter(&x.Value, loop)
		meter(&x.Expr, loop)
	case *ast.SequenceNode:
		for i := range x.Nodes {
			meter(&x.Nodes[i], loop)
		}
	case *ast.ConditionalNode:
		meter(&x.Cond, loop)
		meter(&x.Exp1, loop)
		meter(&x.Exp2, loop)
	case *ast.ArrayNode:
		for i := range x.Nodes {
			meter(&x.Nodes[i], loop)
		}
		if loop { // a new list each iteration, as costly to collect as to loop over
			replace(n, fnLoop, x)
		}
	case *ast.MapNode:
		for i := range x.Pairs {
			meter(&x.Pairs[i], loop)
		}
		if loop {
			replace(n, fnLoop, x)
		}
	case *ast.PairNode:
		meter(&x.Key, loop)
		meter(&x.Value, loop)
	}
}

func meterBuiltin(n *ast.Node, x *ast.BuiltinNode, loop bool) {
	if predicates[x.Name] && len(x.Arguments) > 0 {
		meter(&x.Arguments[0], loop)
		for i := 1; i < len(x.Arguments); i++ {
			_, isPredicate := x.Arguments[i].(*ast.PredicateNode)
			meter(&x.Arguments[i], loop || isPredicate)
		}
		if x.Map != nil {
			meter(&x.Map, true)
		}
		replace(&x.Arguments[0], fnLoop, x.Arguments[0]) // even a literal list: loops nest
		return
	}
	for i := range x.Arguments {
		meter(&x.Arguments[i], loop)
	}
	if _, ok := builtinCosts[x.Name]; ok {
		replace(n, builtinFn+x.Name, x.Arguments...)
	}
}

func meterBinary(n *ast.Node, x *ast.BinaryNode, loop bool) {
	switch x.Operator {
	case "+":
		if k := x.Type().Kind(); k == reflect.String || k == reflect.Interface || k == reflect.Slice {
			wrap(&x.Left, fnMem)
			wrap(&x.Right, fnMem)
		}
	case "..":
		replace(n, fnRange, x.Left, x.Right)
	case "matches":
		if _, ok := x.Right.(*ast.StringNode); !ok {
			replace(n, fnMatches, x.Left, x.Right)
		} else if loop {
			wrap(&x.Left, fnWork)
		}
	case "==", "!=", "<", ">", "<=", ">=", "contains", "startsWith", "endsWith", "in":
		if loop {
			wrap(&x.Left, fnWork)
			wrap(&x.Right, fnWork)
		}
	}
}

// wrap replaces *n by fn(budget, *n) if *n may be large: a value computed
// at run time that is text, a list, a map, or of unknown type.
func wrap(n *ast.Node, fn string) {
	switch (*n).(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NilNode, *ast.ConstantNode, *ast.BytesNode:
		return
	}
	switch (*n).Type().Kind() {
	case reflect.String, reflect.Interface, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		replace(n, fn, *n)
	}
}

// isText reports whether n is known to be a string.
func isText(n ast.Node) bool {
	return n.Type().Kind() == reflect.String
}

// replace replaces *n by a call of fn with the budget and args, of the same
// type and at the same place as *n.
func replace(n *ast.Node, fn string, args ...ast.Node) {
	callee := &ast.IdentifierNode{Value: fn}
	callee.SetType(meterFuncType)
	b := &ast.IdentifierNode{Value: Key}
	b.SetType(anyType)
	call := &ast.CallNode{Callee: callee, Arguments: append([]ast.Node{b}, args...)}
	call.SetNature(*(*n).Nature())
	call.SetLocation((*n).Location())
	*n = call
}

// makeRange is the .. operator, charged first.
func makeRange(args ...any) (any, error) {
	lo, hi := runtime.ToInt(args[1]), runtime.ToInt(args[2])
	n := int64(0)
	if hi >= lo {
		n = int64(min(uint64(hi)-uint64(lo), 1<<40) + 1)
	}
	if err := budget(args).charge(0, mul(n, 8)); err != nil {
		return nil, err
	}
	return runtime.MakeRange(lo, hi), nil
}
