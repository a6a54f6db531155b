package sources

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// readTree reads every *.yaml, *.yml and *.json below dir. A subdirectory
// holding a kustomization is built with kustomize as one unit, as Flux's
// kustomize-controller does; hidden directories (.git, .github) are
// skipped. Symlinks are followed only to files inside the checkout.
func (b *builder) readTree(dir string) {
	ignore := b.ignoreMatcher()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			b.errs.add(b.rel(path), 0, "", "%v", err)
			return nil
		}
		if cerr := b.ctx.Err(); cerr != nil {
			return cerr
		}
		relParts := strings.Split(b.rel(path), "/")
		if ignore != nil && path != dir && ignore.Match(relParts, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if path != dir && hasKustomization(path) {
				b.kustomize(path)
				return filepath.SkipDir
			}
			return nil
		}
		if !isManifestName(d.Name()) {
			return nil
		}
		real := path
		if d.Type()&fs.ModeSymlink != 0 {
			resolved, err := confine(b.root, path)
			if err != nil {
				b.errs.add(b.rel(path), 0, "", "symlink target %s", errEscape)
				return nil
			}
			if fi, err := os.Stat(resolved); err != nil || !fi.Mode().IsRegular() {
				return nil // a symlink to a directory is not followed
			}
			real = resolved
		} else if !d.Type().IsRegular() {
			return nil
		}
		data, ok := b.readFile(b.rel(path), real)
		if !ok {
			return nil
		}
		for _, doc := range parseDocuments(b.rel(path), data, b.errs) {
			if !b.countObject(doc.file, doc.line()) {
				return filepath.SkipAll
			}
			b.decodeDocument(doc, nodeLocator(doc))
		}
		return nil
	})
	if err != nil && !errors.Is(err, b.ctx.Err()) {
		b.errs.add(b.rel(dir), 0, "", "%v", err)
	}
}

// readFile reads one file under the per-file and total limits.
func (b *builder) readFile(name, path string) ([]byte, bool) {
	data, err := readLimited(path, b.opts.MaxFileBytes)
	if err != nil {
		b.errs.add(name, 0, "", "%v", err)
		return nil, false
	}
	b.total += int64(len(data))
	if b.total > b.opts.MaxTotalBytes {
		b.errs.add(name, 0, "", "the files of this build exceed the limit of %d bytes in total; refused", b.opts.MaxTotalBytes)
		return nil, false
	}
	return data, true
}

// decodeDocument decodes one checked document and keeps the experiment.
func (b *builder) decodeDocument(doc document, loc locator) {
	v, err := toValue(doc.root)
	if err != nil {
		b.errs.add(doc.file, doc.line(), "", "%v", err)
		return
	}
	obj, _ := v.(map[string]any)
	if exp, ok := b.dec.decode(obj, loc); ok {
		b.out = append(b.out, *exp)
	}
}

func isManifestName(name string) bool {
	if name == "kustomization.yaml" || name == "kustomization.yml" {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (b *builder) ignoreMatcher() gitignore.Matcher {
	if strings.TrimSpace(b.opts.Ignore) == "" {
		return nil
	}
	var ps []gitignore.Pattern
	for _, line := range strings.Split(b.opts.Ignore, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, nil))
	}
	return gitignore.NewMatcher(ps)
}
