package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxExpandedNodes bounds the nodes one document may have once its aliases
// are followed. A real experiment has a few hundred; a billion-laughs
// document passes the bound after a few thousand steps of a walk that
// allocates nothing, so the bomb is refused quickly and in bounded memory.
const maxExpandedNodes = 100_000

// document is one YAML document of a file: its root node (the mapping) and
// where it came from.
type document struct {
	file string
	root *yaml.Node
}

// line is the line of the document's first key.
func (d document) line() int { return d.root.Line }

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocuments splits data into YAML documents (JSON is YAML too) without
// expanding aliases, checks each for aliases past the budget, merge keys and
// duplicate keys, and skips empty ones. Problems go to errs; a document with
// a problem is left out.
func parseDocuments(file string, data []byte, errs *BuildErrors) []document {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			addYAMLError(errs, file, data, err)
			return docs
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			continue // "---" followed by nothing or a comment
		}
		before := len(errs.Errors)
		checkNode(errs, file, root)
		if len(errs.Errors) > before {
			continue
		}
		if root.Kind != yaml.MappingNode {
			errs.add(file, root.Line, "", "a manifest must be a mapping, not a %s", kindName(root))
			continue
		}
		docs = append(docs, document{file: file, root: root})
	}
}

// addYAMLError turns a parser error into a located FieldError.
func addYAMLError(errs *BuildErrors, file string, data []byte, err error) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	for _, part := range strings.Split(msg, "\n") {
		part = strings.TrimSpace(part)
		if m := yamlLineRe.FindStringSubmatch(part); m != nil {
			line, _ := strconv.Atoi(m[1])
			if strings.HasPrefix(m[2], "did not find expected") {
				// The parser names the line where the enclosing block
				// starts; the author needs the line that broke it.
				line = misindentedLine(data, line)
			}
			errs.add(file, line, "", "invalid YAML: %s", m[2])
			return
		}
	}
	errs.add(file, 0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// misindentedLine finds, from the block starting at line from, the first
// line indented to a column no enclosing block uses: the usual cause of
// "did not find expected key". Without one it returns from.
func misindentedLine(data []byte, from int) int {
	lines := strings.Split(string(data), "\n")
	if from < 1 || from > len(lines) {
		return from
	}
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	stack := []int{indent(lines[from-1])}
	opens := strings.HasSuffix(strings.TrimSpace(lines[from-1]), ":")
	for i := from; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \r")
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if t == "---" || t == "..." {
			break
		}
		in := indent(l)
		if strings.HasPrefix(t, "- ") || t == "-" {
			in += 2 // a list item's keys sit after its dash
		}
		for len(stack) > 1 && stack[len(stack)-1] > in {
			stack = stack[:len(stack)-1]
		}
		switch top := stack[len(stack)-1]; {
		case in > top && opens:
			stack = append(stack, in)
		case in != top:
			if in > stack[0] || len(stack) > 1 {
				return i + 1
			}
			return from
		}
		opens = strings.HasSuffix(t, ":") || strings.HasSuffix(t, "|") || strings.HasSuffix(t, ">")
	}
	return from
}

// checkNode walks a document following aliases, counting every node it
// visits, and reports the first alias bomb, merge key or duplicate key.
func checkNode(errs *BuildErrors, file string, root *yaml.Node) {
	budget := maxExpandedNodes
	var walk func(n *yaml.Node, path fieldPath, depth int) bool
	walk = func(n *yaml.Node, path fieldPath, depth int) bool {
		budget--
		if budget < 0 {
			errs.add(file, n.Line, path.String(), "document expands to more than %d nodes through YAML aliases; refused", maxExpandedNodes)
			return false
		}
		if depth > 100 {
			errs.add(file, n.Line, path.String(), "document nests deeper than 100 levels; refused")
			return false
		}
		switch n.Kind {
		case yaml.AliasNode:
			if n.Alias == nil {
				errs.add(file, n.Line, path.String(), "unknown YAML alias %q", n.Value)
				return false
			}
			return walk(n.Alias, path, depth+1)
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if !walk(c, path.index(i), depth+1) {
					return false
				}
			}
		case yaml.MappingNode:
			seen := make(map[string]int, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind != yaml.ScalarNode {
					errs.add(file, k.Line, path.String(), "mapping keys must be strings")
					return false
				}
				if k.ShortTag() == "!!merge" {
					errs.add(file, k.Line, path.String(), "YAML merge keys (<<) are not supported")
					return false
				}
				if first, dup := seen[k.Value]; dup {
					errs.add(file, k.Line, path.key(k.Value).String(), "duplicate key (first defined at line %d)", first)
					return false
				}
				seen[k.Value] = k.Line
				if !walk(v, path.key(k.Value), depth+1) {
					return false
				}
			}
		}
		return true
	}
	walk(root, nil, 0)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "mapping"
}

// toValue converts a checked node into the JSON-shaped value (map[string]any,
// []any, string, int64, float64, bool, nil) that apiserver validation and
// encoding/json understand. It must only see nodes checkNode accepted, so
// alias expansion is already bounded.
func toValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return toValue(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return toValue(n.Content[0])
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := toValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := toValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[n.Content[i].Value] = v
		}
		return out, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: integer %s out of range", n.Line, n.Value)
		}
		return i, nil
	case "!!float":
		var f float64
		err := n.Decode(&f)
		return f, err
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.Tag)
}

// fieldPath is a path into an object: keys and list indices.
type fieldPath []pathElem

type pathElem struct {
	key   string
	index int // used when key is ""
	isIdx bool
}

func (p fieldPath) key(k string) fieldPath {
	return append(p[:len(p):len(p)], pathElem{key: k})
}

func (p fieldPath) index(i int) fieldPath {
	return append(p[:len(p):len(p)], pathElem{index: i, isIdx: true})
}

// String renders spec.probes[0].name.
func (p fieldPath) String() string {
	var b strings.Builder
	for _, e := range p {
		if e.isIdx {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	return b.String()
}

// parseFieldPath reads paths in the forms encoding/json and apiserver field
// errors use: a.b[0].c, a.b[key].c.
func parseFieldPath(s string) fieldPath {
	var p fieldPath
	for s != "" {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return p.key(s)
			}
			in := s[1:end]
			if i, err := strconv.Atoi(in); err == nil {
				p = p.index(i)
			} else {
				p = p.key(strings.Trim(in, `"`))
			}
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			p = p.key(s[:end])
			s = s[end:]
		}
	}
	return p
}

// lookupLine finds the line of path in root, or of its deepest ancestor
// present (an error about a missing field points at its parent). Keys that
// themselves contain dots (label keys) are matched by joining segments.
func lookupLine(root *yaml.Node, path fieldPath) int {
	line, _, _ := lookup(root, path)
	return line
}

// lookup is lookupLine that also returns the node at path and whether the
// whole path was found.
func lookup(root *yaml.Node, path fieldPath) (line int, node *yaml.Node, exact bool) {
	n := root
	line = root.Line
	for i := 0; i < len(path); i++ {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		e := path[i]
		switch {
		case e.isIdx && n.Kind == yaml.SequenceNode:
			if e.index >= len(n.Content) {
				return line, nil, false
			}
			n = n.Content[e.index]
		case !e.isIdx && n.Kind == yaml.MappingNode:
			found := false
			key := e.key
			for j := i; j < len(path) && !found; j++ {
				if j > i {
					if path[j].isIdx {
						break
					}
					key += "." + path[j].key
				}
				for k := 0; k+1 < len(n.Content); k += 2 {
					if n.Content[k].Value == key {
						line = n.Content[k].Line
						n = n.Content[k+1]
						i = j
						found = true
						break
					}
				}
			}
			if !found {
				return line, nil, false
			}
			continue
		default:
			return line, nil, false
		}
		line = n.Line
	}
	return line, n, true
}
