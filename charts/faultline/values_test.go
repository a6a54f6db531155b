package chart_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every value a user can set has a comment in values.yaml and a row in the
// README's table, with the same default; no row names a value that is gone.
func TestValuesAreDocumented(t *testing.T) {
	rows := readmeValues(t)
	raw, err := os.ReadFile("values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	seen := map[string]bool{}
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			path := prefix + k.Value
			row, listed := rows[path]
			// A non-empty map not listed in the README groups values;
			// a listed one (resources, nodeSelector…) is a value itself.
			if v.Kind == yaml.MappingNode && len(v.Content) > 0 && !listed {
				walk(path+".", v)
				continue
			}
			seen[path] = true
			if strings.TrimSpace(k.HeadComment) == "" {
				t.Errorf("values.yaml:%d: %s has no comment", k.Line, path)
			}
			if !listed {
				t.Errorf("values.yaml:%d: %s is missing from the README's table", k.Line, path)
				continue
			}
			if v.Kind == yaml.ScalarNode && row.def != v.Value && !(v.Value == "" && row.def == `""`) {
				t.Errorf("README: %s defaults to `%s`, values.yaml to %q", path, row.def, v.Value)
			}
			if row.desc == "" {
				t.Errorf("README: %s has no description", path)
			}
		}
	}
	walk("", doc.Content[0])
	for path := range rows {
		if !seen[path] {
			t.Errorf("README lists %s, which values.yaml does not have", path)
		}
	}
	if len(seen) < 50 {
		t.Errorf("only %d values found: the walk is broken", len(seen))
	}
}

type readmeRow struct{ def, desc string }

// readmeValues parses the README's "| `key` | `default` | description |" rows.
func readmeValues(t *testing.T) map[string]readmeRow {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(raw), "\n## Values\n")
	if !ok {
		t.Fatal("README.md has no ## Values section")
	}
	row := regexp.MustCompile("^\\| `([a-zA-Z0-9.]+)` \\| `(.*)` \\| (.*) \\|$")
	out := map[string]readmeRow{}
	for line := range strings.Lines(table) {
		m := row.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		if _, dup := out[m[1]]; dup {
			t.Errorf("README lists %s twice", m[1])
		}
		out[m[1]] = readmeRow{def: m[2], desc: strings.TrimSpace(m[3])}
	}
	if len(out) == 0 {
		t.Fatal("README.md's value table has no rows")
	}
	return out
}
