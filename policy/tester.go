package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule.
type TestResult struct {
	// Package and Name identify the test, such as data.x_test and test_y.
	Package string
	Name    string
	// File and Line locate it.
	File string
	Line int
	// Fail is true when the rule was undefined or false; Err when it errored.
	Fail bool
	Err  error
}

// Passed reports whether the test passed.
func (r TestResult) Passed() bool { return !r.Fail && r.Err == nil }

func (r TestResult) String() string {
	status := "PASS"
	switch {
	case r.Err != nil:
		status = "ERROR: " + r.Err.Error()
	case r.Fail:
		status = "FAIL"
	}
	return fmt.Sprintf("%s:%d: %s.%s: %s", r.File, r.Line, r.Package, r.Name, status)
}

// ErrNoTests is returned when a directory holds no Rego test rules.
var ErrNoTests = errors.New("no Rego tests found (rules named test_* in *_test.rego files)")

// RunTests runs every Rego test (rules named test_*) found in the .rego files
// of fsys with OPA's tester, Rego v1. With no test at all it returns
// ErrNoTests, so that a test suite that silently lost its tests fails.
func RunTests(ctx context.Context, fsys fs.FS) ([]TestResult, error) {
	modules := map[string]*ast.Module{}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return nil
		}
		src, err := fs.ReadFile(fsys, path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		modules[path] = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetModules(modules).
		RaiseBuiltinErrors(true).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("compiling tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Package: r.Package, Name: r.Name, Fail: r.Fail, Err: r.Error}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		return nil, ErrNoTests
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out, nil
}
