package yamlpos

import (
	"bytes"
	"errors"
	"io"

	"gopkg.in/yaml.v3"
)

// coreTags are the tags a file may write: YAML 1.2's core schema.
var coreTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!map": true, "!!seq": true,
}

// implicitTags are the tags yaml.v3 gives untagged YAML 1.1 forms: a plain
// date such as 2026-11-26 (!!timestamp), which every field reads as its
// text, and a merge key <<, which the readers report as an unknown field.
// They may not be written as tags.
var implicitTags = map[string]bool{"!!timestamp": true, "!!merge": true}

// Parse parses src, which must be one YAML document, and returns its top
// node, or nil when src holds no document. Syntax errors, a second document
// (after ---) and tags other than the core ones (!!str, !!int, …) are
// recorded as problems; ok is false when there is no tree to read further.
func (c *Checker) Parse(src []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, true
	} else if err != nil {
		c.Problems = append(c.Problems, syntaxProblems(c.File, src, err)...)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		c.Problems = append(c.Problems, syntaxProblems(c.File, src, err)...)
	default:
		c.Errorf(&next, "a second YAML document starts here: the file must be one document (remove the ---)")
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	c.checkTags(doc.Content[0])
	return doc.Content[0], true
}

// checkTags reports every node under n whose tag is not a core one. Each
// node is visited once: aliases are not followed.
func (c *Checker) checkTags(n *yaml.Node) {
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n, stack = stack[len(stack)-1], stack[:len(stack)-1]
		tagged := n.Style&yaml.TaggedStyle != 0
		if n.Kind != yaml.AliasNode && !coreTags[n.Tag] && (tagged || !implicitTags[n.Tag]) {
			c.Errorf(n, "YAML tag %s is not allowed: only the core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) may be written", n.Tag)
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, n.Content[i])
		}
	}
}
