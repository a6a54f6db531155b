package sources

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomize builds dir with krusty, confined to the checkout: the
// kustomizations are scanned first and remote bases, escapes and Helm are
// refused before kustomize could act on them (kustomize would run `git
// clone` or an HTTP GET for a remote base); kustomize then reads through a
// file system that refuses any path outside the checkout, enforces the size
// limits and checks every YAML file for alias bombs and duplicate keys
// before kustomize parses it; plugins are limited to the built-in ones, so
// neither exec nor Go plugins nor KRM functions run.
func (b *builder) kustomize(dir string) {
	kfs := &confinedFS{FileSystem: filesys.MakeFsOnDisk(), b: b, cache: map[string]*fsFile{}, top: kustomizationFile(dir)}
	before := len(b.errs.Errors)
	b.scanKustomization(kfs, dir, map[string]bool{})
	if len(b.errs.Errors) > before {
		return
	}

	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig() // builtins only; no exec, Go plugins, functions or Helm
	resMap, err := krusty.MakeKustomizer(opts).Run(kfs, dir)
	if len(b.errs.Errors) > before {
		return // the file system already named the file, line and field
	}
	kfile := b.rel(kustomizationFile(dir))
	if err != nil {
		b.errs.add(kfile, 0, "", "kustomize: %s", b.scrub(err.Error()))
		return
	}
	for _, res := range resMap.Resources() {
		if !b.countObject(kfile, 0) {
			return
		}
		obj, err := res.Map()
		if err != nil {
			b.errs.add(kfile, 0, "", "kustomize output: %v", err)
			continue
		}
		loc := kfs.originLocator(obj, dir, kfile)
		if exp, ok := b.dec.decode(obj, loc); ok {
			b.out = append(b.out, *exp)
		}
	}
}

// scrub removes the checkout's absolute path from kustomize's messages, so
// errors name files as the repository does (and do not leak the cache).
func (b *builder) scrub(msg string) string {
	return strings.ReplaceAll(msg, b.root+string(filepath.Separator), "")
}

// scanKustomization checks the entries of dir's kustomization and, through
// local directories, of every kustomization it reaches.
func (b *builder) scanKustomization(kfs *confinedFS, dir string, seen map[string]bool) {
	if seen[dir] {
		return
	}
	seen[dir] = true
	kpath := kustomizationFile(dir)
	if kpath == "" {
		return
	}
	f, err := kfs.load(kpath)
	if err != nil || len(f.docs) == 0 {
		return // load recorded the error
	}
	root := f.docs[0].root
	file := b.rel(kpath)
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		switch key {
		case "helmCharts", "helmGlobals", "helmChartInflationGenerator":
			b.errs.add(file, root.Content[i].Line, key, "Helm chart inflation is not allowed in a chaos repository")
		case "resources", "bases", "components", "generators", "transformers", "validators":
			if val.Kind != yaml.SequenceNode {
				continue // kustomize reports the type error
			}
			for j, item := range val.Content {
				if item.Kind != yaml.ScalarNode {
					continue // inline plugin configuration
				}
				at := fieldPath{}.key(key).index(j).String()
				local := filepath.Join(dir, item.Value)
				switch {
				case strings.Contains(item.Value, "://") || strings.HasPrefix(item.Value, "git@"):
					b.errs.add(file, item.Line, at, "remote base %q is not allowed: everything must come from this repository", item.Value)
					continue
				case filepath.IsAbs(item.Value):
					b.errs.add(file, item.Line, at, "absolute path %q is not allowed", item.Value)
					continue
				}
				real, err := confine(b.root, local)
				switch {
				case err != nil:
					b.errs.add(file, item.Line, at, "%q: %v", item.Value, err)
				case kfs.FileSystem.Exists(real):
					if hasKustomization(real) {
						b.scanKustomization(kfs, real, seen)
					}
				case looksRemote(item.Value):
					b.errs.add(file, item.Line, at, "remote base %q is not allowed: everything must come from this repository", item.Value)
				}
			}
		}
	}
}

// looksRemote recognises the forms kustomize fetches from the network:
// URLs, scp-like git addresses and host/org/repo shorthands.
func looksRemote(s string) bool {
	switch {
	case strings.Contains(s, "://"), strings.HasPrefix(s, "git@"), strings.Contains(s, "?ref="),
		strings.Contains(s, "?version="), strings.Contains(s, ".git//"), strings.HasSuffix(s, ".git"):
		return true
	}
	host, _, _ := strings.Cut(s, "/")
	return strings.Contains(host, ".") && host != "." && host != ".." && !strings.HasPrefix(host, ".")
}

// fsFile is one file read through the confined file system.
type fsFile struct {
	data []byte
	docs []document
}

// confinedFS is the file system kustomize sees: read-only, confined to the
// checkout, bounded in size and checked for hostile YAML.
type confinedFS struct {
	filesys.FileSystem
	b     *builder
	cache map[string]*fsFile
	order []string // files in the order first read
	top   string   // the kustomization being built
}

var errReadOnly = fmt.Errorf("the checkout is read-only during a build")

func (c *confinedFS) confine(path string) (string, error) {
	real, err := confine(c.b.root, path)
	if err != nil {
		name := path
		if abs, aerr := filepath.Abs(path); aerr == nil {
			name = c.b.rel(abs) // relative even outside: never an absolute path
		}
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return real, nil
}

// load reads, limits and checks a file once.
func (c *confinedFS) load(path string) (*fsFile, error) {
	real, err := c.confine(path)
	if err != nil {
		return nil, err // kustomize says which entry asked for it
	}
	if f, ok := c.cache[real]; ok {
		return f, nil
	}
	name := c.b.rel(real)
	data, ok := c.b.readFile(name, real)
	if !ok {
		return nil, fmt.Errorf("%s: refused", name)
	}
	f := &fsFile{data: data}
	ext := strings.ToLower(filepath.Ext(real))
	if ext == ".yaml" || ext == ".yml" || ext == ".json" || filepath.Base(real) == "Kustomization" {
		before := len(c.b.errs.Errors)
		f.docs = parseDocuments(name, data, c.b.errs)
		if len(c.b.errs.Errors) > before {
			return nil, fmt.Errorf("%s: invalid", name)
		}
	}
	if real == c.top {
		f.data = withOriginAnnotations(f)
	}
	c.cache[real] = f
	c.order = append(c.order, real)
	return f, nil
}

// withOriginAnnotations asks kustomize to annotate every output resource
// with the file it came from (config.kubernetes.io/origin), through bases
// and overlays, so errors can name the author's file and line. Only the
// kustomization being built is touched, and only in memory; one that sets
// buildMetadata itself is left alone.
func withOriginAnnotations(f *fsFile) []byte {
	if len(f.docs) != 1 {
		return f.data
	}
	root := f.docs[0].root
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "buildMetadata" {
			return f.data
		}
	}
	if root.Style&yaml.FlowStyle != 0 {
		return f.data // JSON or flow style: appending a block key would break it
	}
	out := append([]byte{}, f.data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "buildMetadata: [originAnnotations]\n"...)
}

func (c *confinedFS) ReadFile(path string) ([]byte, error) {
	f, err := c.load(path)
	if err != nil {
		return nil, err
	}
	return f.data, nil
}

func (c *confinedFS) Open(path string) (filesys.File, error) {
	if _, err := c.confine(path); err != nil {
		return nil, err
	}
	return c.FileSystem.Open(path)
}

func (c *confinedFS) IsDir(path string) bool {
	if _, err := c.confine(path); err != nil {
		return false
	}
	return c.FileSystem.IsDir(path)
}

func (c *confinedFS) Exists(path string) bool {
	if _, err := c.confine(path); err != nil {
		return false
	}
	return c.FileSystem.Exists(path)
}

func (c *confinedFS) ReadDir(path string) ([]string, error) {
	if _, err := c.confine(path); err != nil {
		return nil, err
	}
	return c.FileSystem.ReadDir(path)
}

func (c *confinedFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if _, err := c.confine(path); err != nil {
		return "", "", err
	}
	return c.FileSystem.CleanedAbs(path)
}

func (c *confinedFS) Glob(pattern string) ([]string, error) {
	if _, err := c.confine(filepath.Dir(pattern)); err != nil {
		return nil, err
	}
	matches, err := c.FileSystem.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := matches[:0]
	for _, m := range matches {
		if _, err := c.confine(m); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (c *confinedFS) Walk(path string, walkFn filepath.WalkFunc) error {
	if _, err := c.confine(path); err != nil {
		return err
	}
	return c.FileSystem.Walk(path, walkFn)
}

func (c *confinedFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (c *confinedFS) Mkdir(string) error                  { return errReadOnly }
func (c *confinedFS) MkdirAll(string) error               { return errReadOnly }
func (c *confinedFS) RemoveAll(string) error              { return errReadOnly }
func (c *confinedFS) WriteFile(string, []byte) error      { return errReadOnly }

// originLocator finds where a field of a kustomize output resource was
// written. The resource's file is named by its origin annotation (relative
// to the kustomization built); in it, the document of the same kind whose
// name the output name contains (prefixes and suffixes only add to it).
// A field a patch set is found in the patch instead: among the documents
// of that kind and name read (resource first, patches after), the last
// that holds the field with the value the output has, else the first that
// holds it at all, else the field's nearest ancestor in the resource.
// Without an origin, errors point at the kustomization.
func (c *confinedFS) originLocator(obj map[string]any, dir, kfile string) locator {
	fallback := func(fieldPath) (string, int) { return kfile, 0 }
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	origin, _ := ann[originAnnotation].(string)
	delete(ann, originAnnotation)
	if len(ann) == 0 {
		delete(md, "annotations")
	}
	var o struct {
		Path string `yaml:"path"`
	}
	if origin == "" || yaml.Unmarshal([]byte(origin), &o) != nil || o.Path == "" {
		return fallback
	}
	real, err := confine(c.b.root, filepath.Join(dir, o.Path))
	if err != nil {
		return fallback
	}
	kind, _ := obj["kind"].(string)
	name, _ := md["name"].(string)
	resource := c.bestDoc(real, kind, name)
	if resource == nil {
		return fallback
	}
	// Every document of this kind whose name the output name contains:
	// the resource and the patches that target it, in the order read.
	var related []document
	for _, p := range c.order {
		for _, d := range c.cache[p].docs {
			if k, n := docKindName(d.root); k == kind && n != "" && strings.Contains(name, n) {
				related = append(related, d)
			}
		}
	}
	return func(p fieldPath) (string, int) {
		if len(p) > 0 {
			want, hasWant := valueAt(obj, p)
			var first, match *document
			var firstLine, matchLine int
			for i := range related {
				line, n, exact := lookup(related[i].root, p)
				if !exact {
					continue
				}
				if first == nil {
					first, firstLine = &related[i], line
				}
				if hasWant && n.Kind == yaml.ScalarNode && fmt.Sprint(want) == n.Value {
					match, matchLine = &related[i], line
				}
			}
			switch {
			case match != nil:
				return match.file, matchLine
			case first != nil:
				return first.file, firstLine
			}
		}
		return resource.file, lookupLine(resource.root, p)
	}
}

// bestDoc is the document of file with kind whose name the output name
// contains, the longest such name winning.
func (c *confinedFS) bestDoc(file, kind, name string) *document {
	f, ok := c.cache[file]
	if !ok {
		return nil
	}
	var best *document
	bestLen := -1
	for i, d := range f.docs {
		k, n := docKindName(d.root)
		if k == kind && strings.Contains(name, n) && len(n) > bestLen {
			best, bestLen = &f.docs[i], len(n)
		}
	}
	return best
}

// valueAt is the scalar at path in obj, if any.
func valueAt(obj any, p fieldPath) (any, bool) {
	v := obj
	for _, e := range p {
		switch t := v.(type) {
		case map[string]any:
			if e.isIdx {
				return nil, false
			}
			v = t[e.key]
		case []any:
			if !e.isIdx || e.index >= len(t) {
				return nil, false
			}
			v = t[e.index]
		default:
			return nil, false
		}
	}
	switch v.(type) {
	case map[string]any, []any, nil:
		return nil, false
	}
	return v, true
}

const originAnnotation = "config.kubernetes.io/origin"

func docKindName(root *yaml.Node) (kind, name string) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "kind":
			kind = root.Content[i+1].Value
		case "metadata":
			md := root.Content[i+1]
			for j := 0; j+1 < len(md.Content); j += 2 {
				if md.Content[j].Value == "name" {
					name = md.Content[j+1].Value
				}
			}
		}
	}
	return kind, name
}
