package policy

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// libraryFS holds the built-in rules and their tests.
//
//go:embed library/*.rego
var libraryFS embed.FS

// LibraryAll selects every rule of the built-in library.
const LibraryAll = "*"

// libraryHelpers are modules every library rule imports.
var libraryHelpers = []string{"util"}

// LibraryFS returns the built-in library's Rego files, tests included.
func LibraryFS() fs.FS {
	sub, err := fs.Sub(libraryFS, "library")
	if err != nil {
		// Only possible if the embed pattern above changes.
		return libraryFS
	}
	return sub
}

// LibraryRules returns the names of the built-in rules, such as
// protected-namespaces, sorted.
func LibraryRules() []string {
	entries, _ := fs.ReadDir(libraryFS, "library")
	var out []string
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".rego")
		if base == e.Name() || strings.HasSuffix(base, "_test") || slices.Contains(libraryHelpers, base) {
			continue
		}
		out = append(out, strings.ReplaceAll(base, "_", "-"))
	}
	slices.Sort(out)
	return out
}

// LibraryModules returns the modules of the named built-in rules ("*" for
// all of them) and the helpers they import, without tests. An unknown name is
// an error listing the known ones.
func LibraryModules(names []string) ([]Module, error) {
	if len(names) == 0 {
		return nil, nil
	}
	known := LibraryRules()
	var want []string
	for _, n := range names {
		switch {
		case n == LibraryAll:
			want = append(want, known...)
		case slices.Contains(known, n):
			want = append(want, n)
		default:
			return nil, fmt.Errorf("no library rule %q; known rules: %s", n, strings.Join(known, ", "))
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	files := append(slices.Clone(libraryHelpers), want...)
	out := make([]Module, 0, len(files))
	for _, f := range files {
		file := strings.ReplaceAll(f, "-", "_") + ".rego"
		src, err := fs.ReadFile(libraryFS, path.Join("library", file))
		if err != nil {
			return nil, fmt.Errorf("reading library rule %s: %w", f, err)
		}
		out = append(out, Module{Name: "library/" + file, Source: string(src)})
	}
	return out, nil
}
