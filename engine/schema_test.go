package engine_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/rulebot/rulebot/engine"
)

// compileSchema compiles engine.Schema with a real JSON Schema validator.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(engine.Schema()))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(engine.SchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(engine.SchemaURL)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlToJSON converts a YAML file to the JSON value an editor validates.
func yamlToJSON(src []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(finite(v))
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// finite replaces the numbers JSON cannot hold (.inf, .nan) by their text.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = finite(e)
		}
	case []any:
		for i, e := range x {
			x[i] = finite(e)
		}
	}
	return v
}

// TestSchemaKeysMatchLoader reads the loader's source and checks that the
// key lists of its Mapping calls and the closed objects of the schema are
// the same sets: a key added to one and not the other fails here.
func TestSchemaKeysMatchLoader(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	vars := map[string][]string{} // package-level []string{...} literals
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
		for _, d := range af.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, v := range vs.Values {
					if cl, ok := v.(*ast.CompositeLit); ok {
						if ss, ok := stringLits(cl.Elts); ok {
							vars[vs.Names[i].Name] = ss
						}
					}
				}
			}
		}
	}
	loader := map[string]string{} // sorted key set -> where
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Mapping" || len(call.Args) < 3 {
				return true
			}
			pos := fset.Position(call.Pos()).String()
			keys, ok := stringLits(call.Args[2:])
			if !ok && call.Ellipsis.IsValid() && len(call.Args) == 3 {
				if id, isID := call.Args[2].(*ast.Ident); isID {
					keys, ok = vars[id.Name]
				}
			}
			if !ok {
				t.Errorf("%s: cannot read the keys of this Mapping call: write them as string literals or a package-level []string literal", pos)
				return true
			}
			loader[keySet(keys)] = pos
			return true
		})
	}
	if len(loader) < 6 {
		t.Fatalf("found only %d Mapping key lists in the loader: %v", len(loader), loader)
	}

	var doc any
	if err := json.Unmarshal(engine.Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	schema := map[string]string{} // sorted key set -> JSON pointer
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if x["additionalProperties"] == false {
				props, _ := x["properties"].(map[string]any)
				var keys []string
				for k, p := range props {
					keys = append(keys, k)
					if d, _ := p.(map[string]any)["description"].(string); d == "" {
						if _, isRef := p.(map[string]any)["$ref"]; !isRef {
							t.Errorf("schema %s/properties/%s has no description", at, k)
						}
					}
				}
				schema[keySet(keys)] = at
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	for ks, pos := range loader {
		if _, ok := schema[ks]; !ok {
			t.Errorf("%s: the loader reads keys {%s}, but no closed object of the schema has exactly these properties", pos, ks)
		}
	}
	for ks, at := range schema {
		if _, ok := loader[ks]; !ok {
			t.Errorf("schema %s has properties {%s}, but no Mapping call of the loader reads exactly these keys", at, ks)
		}
	}
}

func stringLits(es []ast.Expr) ([]string, bool) {
	var out []string
	for _, e := range es {
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return nil, false
		}
		s, err := strconv.Unquote(bl.Value)
		if err != nil {
			return nil, false
		}
		out = append(out, s)
	}
	return out, len(out) > 0
}

func keySet(keys []string) string {
	keys = slices.Clone(keys)
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// rulesFiles returns every rules file of the project (a YAML file whose
// rules: is a list, as opposed to a test file whose rules: names a file),
// except the .bad.yaml files and fuzz corpora.
func rulesFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != ".." || d.Name() == "fuzz" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".bad.yaml") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top struct {
			Rules yaml.Node `yaml:"rules"`
		}
		if yaml.Unmarshal(src, &top) == nil && top.Rules.Kind == yaml.SequenceNode {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSchemaValidFiles validates every rules file of the project that the
// loader accepts: the schema must not refuse what check accepts.
func TestSchemaValidFiles(t *testing.T) {
	s := compileSchema(t)
	files := rulesFiles(t)
	for _, want := range []string{"../rules.yaml", "../examples/karma/rules.yaml", "../engine/testdata/to.warn.yaml"} {
		if !slices.Contains(files, filepath.FromSlash(want)) {
			t.Errorf("%s is not among the rules files found: %v", want, files)
		}
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := engine.Compile(f, src); err != nil {
				t.Fatalf("the loader refuses it, so it is not a valid rules file: %v", err)
			}
			v, err := yamlToJSON(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("the loader accepts it but the schema refuses it: %v", err)
			}
		})
	}
}

// The engine/testdata/*.bad.yaml files, by whether the schema can see what
// is wrong. Every .bad.yaml file must be in exactly one list.
var (
	// Wrong in shape: an unknown key, a wrong type, a missing or second
	// key, a value outside an enum or pattern. The schema refuses them.
	badStructural = []string{
		"bool",          // "true" as text, 1 for a boolean
		"comments",      // no document: null is not a rules file
		"duration",      // "5 minutes", "-5s", 10 as durations
		"empty",         // no document
		"fetch",         // no url, method FETCH, headers a list, unknown "timout"
		"fetchallow",    // a list inside allow
		"fetchallowmap", // allow a mapping
		"flood",         // "10 per minute" has no /
		"list",          // the file is a list
		"many",          // version 2, unknown "replay", a rule with no name…
		"match",         // empty match, unknown "regexp", empty list, blank text…
		"noaction",      // a rule with no reply, react, fetch or remember
		"noname",        // no name, null name
		"norules",       // rules: null
		"react",         // react a list
		"remember",      // unknown "sett", two ops, keep without push…
		"replay",        // unknown "replay"
		"rules",         // unknown "rule", no rules
		"ruleslist",     // rules a mapping
		"schedule",      // unknown "schedual"
		"size",          // "1 megabyte"
		"tags",          // a !!set reply is a mapping
		"to",            // unknown "ephemeril", ephemeral as text
		"twomatch",      // two match keys
		"varslist",      // vars a list
		"version",       // version 2
	}
	// Wrong in what only the loader knows: expressions, templates, regex
	// and cron syntax, names, value ranges, several YAML documents. The
	// schema accepts them; check refuses them.
	badSemantic = []string{
		"dupname",    // two rules with one name
		"emptydoc",   // a second (empty) YAML document
		"env",        // env() of a secret
		"expr",       // unknown names, type errors
		"exprdepth",  // expressions nested too deep
		"floodcount", // 0/1m: the count is out of range
		"groups",     // match.NAME and groups[N] the regex does not have
		"multidoc",   // a second YAML document
		"regex",      // RE2 syntax
		"template",   // unclosed {{
	}
	// Not YAML that converts to JSON at all: an editor reports these as
	// syntax errors before any schema applies.
	badNotJSON = []string{
		"apostrophe", "at", "colon", "escape", "flowcomment", "flowlist", // YAML syntax
		"multiline", "quote", "quoteeof", "tab", // YAML syntax
		"dupkey",   // a repeated key
		"garbage",  // a NUL byte
		"indent",   // YAML syntax
		"latin1",   // not UTF-8
		"nulbyte",  // a NUL byte
		"syntax",   // YAML syntax
		"vars",     // a repeated key (besides names that are not names)
		"varsbomb", // too many values through aliases
	}
)

// TestSchemaBadFiles checks both sides: the structurally bad files fail the
// schema, the others pass it (or are not YAML a validator can read).
func TestSchemaBadFiles(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, l := range [][]string{badStructural, badSemantic, badNotJSON} {
		for _, n := range l {
			listed[n]++
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bad.yaml")
		t.Run(name, func(t *testing.T) {
			n := listed[name]
			delete(listed, name)
			if n != 1 {
				t.Fatalf("%s is in %d of the lists badStructural, badSemantic, badNotJSON: put it in exactly one", f, n)
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := engine.Compile(f, src); err == nil {
				t.Fatalf("the loader accepts %s", f)
			}
			v, convErr := yamlToJSON(src)
			switch {
			case slices.Contains(badNotJSON, name):
				if convErr == nil {
					t.Errorf("%s converts to JSON: move it to another list", f)
				}
			case convErr != nil:
				t.Fatalf("%s does not convert to JSON: %v", f, convErr)
			case slices.Contains(badStructural, name):
				if err := s.Validate(v); err == nil {
					t.Errorf("%s is structurally bad but the schema accepts it", f)
				}
			default:
				if err := s.Validate(v); err != nil {
					t.Errorf("the schema refuses %s, listed as only semantically bad: %v", f, err)
				}
			}
		})
	}
	for name := range listed {
		t.Errorf("testdata/%s.bad.yaml is listed but does not exist", name)
	}
}

// TestSchemaFile checks that schema/rules.schema.json, the file editors
// fetch, is what `rulebot schema` prints; -update rewrites it.
func TestSchemaFile(t *testing.T) {
	const path = "../schema/rules.schema.json"
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, engine.Schema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, engine.Schema()) {
		t.Errorf("%s differs from engine.Schema(): run go test ./engine -run TestSchemaFile -update", path)
	}
}

// TestSchemaModeline checks that the default rules file and the examples
// start with the yaml-language-server modeline pointing at the schema.
func TestSchemaModeline(t *testing.T) {
	files, err := filepath.Glob("../examples/*/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := "# yaml-language-server: $schema=" + engine.SchemaURL + "\n"
	for _, f := range append([]string{"../rules.yaml"}, files...) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(src, []byte(want)) {
			t.Errorf("%s does not start with the line %q", f, want)
		}
	}
}

// TestSchemaAgreesWithLoader checks small files, one shape each, on both
// the schema and the loader: they must agree on whether the file is good.
func TestSchemaAgreesWithLoader(t *testing.T) {
	s := compileSchema(t)
	const head = "rules:\n  - name: a\n"
	tests := []struct {
		name, src string
		ok        bool
	}{
		{"minimal", head + "    reply: hi\n", true},
		{"reply list", head + "    reply: [hi, hello]\n", true},
		{"reply empty list", head + "    reply: []\n", false},
		{"reply blank", head + "    reply: \"  \"\n", false},
		{"reply number", head + "    reply: 42\n", true},
		{"command list", head + "    match: {command: [a, b]}\n    reply: hi\n", true},
		{"two match keys", head + "    match: {command: a, regex: b}\n    reply: hi\n", false},
		{"empty match", head + "    match: {}\n    reply: hi\n", false},
		{"no name", "rules:\n  - reply: hi\n", false},
		{"no action", head + "    help: x\n", false},
		{"react only", head + "    react: thumbsup\n", true},
		{"method lower", head + "    fetch: {url: \"https://x.example/\", method: post}\n", true},
		{"method unknown", head + "    fetch: {url: \"https://x.example/\", method: FETCH}\n", false},
		{"fetch no url", head + "    fetch: {method: GET}\n", false},
		{"headers", head + "    fetch: {url: \"https://x.example/\", headers: {X-Key: \"{{ vars.k }}\"}}\nvars: {k: v}\n", true},
		{"cooldown", head + "    reply: hi\n    cooldown: 1h30m\n", true},
		{"cooldown number", head + "    reply: hi\n    cooldown: 30\n", false},
		{"cooldown words", head + "    reply: hi\n    cooldown: 5 minutes\n", false},
		{"size text", "bot: {fetch: {max_bytes: 512KiB, timeout: 2s}}\n" + head + "    reply: hi\n", true},
		{"size number", "bot: {fetch: {max_bytes: 1000}}\n" + head + "    reply: hi\n", true},
		{"size words", "bot: {fetch: {max_bytes: 1 megabyte}}\n" + head + "    reply: hi\n", false},
		{"flood", "bot: {flood: 5/30s}\n" + head + "    reply: hi\n", true},
		{"unfurl", "bot: {unfurl: {links: true}}\n" + head + "    reply: hi\n    unfurl: {media: false}\n", true},
		{"unfurl unknown", head + "    reply: hi\n    unfurl: {images: false}\n", false},
		{"write", head + "    remember: [{key: k, push: x, keep: 5, ttl: 1h}]\n", true},
		{"write two ops", head + "    remember: [{key: k, set: x, add: 1}]\n", false},
		{"write no op", head + "    remember: [{key: k}]\n", false},
		{"write keep without push", head + "    remember: [{key: k, set: x, keep: 5}]\n", false},
		{"write ttl with delete", head + "    remember: [{key: k, delete: true, ttl: 1h}]\n", false},
		{"write delete false", head + "    remember: [{key: k, delete: false}]\n", false},
		{"write no key", head + "    remember: [{set: x}]\n", false},
		{"vars name", "vars: {my-var: 1}\n" + head + "    reply: hi\n", false},
		{"version 1", "version: 1\n" + head + "    reply: hi\n", true},
		{"version 2", "version: 2\n" + head + "    reply: hi\n", false},
		{"unknown top key", "rule: []\n" + head + "    reply: hi\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, loadErr := engine.Compile("x.yaml", []byte(tt.src))
			if (loadErr == nil) != tt.ok {
				t.Fatalf("the loader says %v, the test expects ok=%v", loadErr, tt.ok)
			}
			v, err := yamlToJSON([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); (err == nil) != tt.ok {
				t.Errorf("the schema says %v, the loader %v", err, loadErr)
			}
		})
	}
}
