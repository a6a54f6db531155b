package sources

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// kustomizationNames are the file names kustomize recognises.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// hasKustomization reports whether dir holds a kustomization file.
func hasKustomization(dir string) bool {
	return kustomizationFile(dir) != ""
}

func kustomizationFile(dir string) string {
	for _, n := range kustomizationNames {
		p := filepath.Join(dir, n)
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// realPath is the absolute path with every symlink resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// within reports whether path is root or below it; both must be clean and
// absolute.
func within(root, path string) bool {
	if path == root {
		return true
	}
	return strings.HasPrefix(path, strings.TrimSuffix(root, string(filepath.Separator))+string(filepath.Separator))
}

// confine resolves path (absolute or relative to the process's directory)
// with its symlinks, as far as it exists, and fails unless the result is
// inside root. A path that does not exist yet resolves its existing parent.
func confine(root, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if !os.IsNotExist(err) {
			return "", err
		}
		parent, perr := filepath.EvalSymlinks(filepath.Dir(abs))
		if perr != nil {
			parent = filepath.Dir(abs)
		}
		resolved = filepath.Join(parent, filepath.Base(abs))
	}
	if !within(root, resolved) {
		return "", errEscape
	}
	return resolved, nil
}

var errEscape = fmt.Errorf("path escapes the checkout")

// readLimited reads a regular file of at most max bytes without trusting
// its size as reported before the read.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if fi.Size() > max {
		return nil, errTooLarge{max}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errTooLarge{max}
	}
	return data, nil
}

type errTooLarge struct{ max int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("file is larger than the limit of %d bytes; refused", e.max)
}

// splitFileLine splits "path:line".
func splitFileLine(s string) (string, int) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return s, 0
	}
	return s[:i], n
}
