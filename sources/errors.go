package sources

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem in a revision, located as precisely as the input
// allows: the file (slash-separated, relative to the build root), the 1-based
// line of the offending YAML node, and the field path such as
// spec.fault.network.latency or spec.probes[0].name.
//
// Line is 0 when the problem has no line (an unreadable file, a kustomize
// failure that names no node); Field is empty for syntax errors and for
// problems of a whole file. Error() leaves empty parts out.
type FieldError struct {
	File    string
	Line    int
	Field   string
	Message string
}

// Error formats the error as file:line: field: message.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// BuildErrors is every error found in one build. Build returns it instead of
// stopping at the first problem, so one CI run shows everything to fix.
type BuildErrors struct {
	Errors []FieldError
}

// Error joins the errors one per line.
func (e *BuildErrors) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// add records one error.
func (e *BuildErrors) add(file string, line int, field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{File: file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// empty reports whether nothing was recorded.
func (e *BuildErrors) empty() bool { return len(e.Errors) == 0 }

// sorted orders the errors by file, line and field and drops exact
// duplicates (kustomize may surface the same base through two overlays).
func (e *BuildErrors) sorted() *BuildErrors {
	slices.SortStableFunc(e.Errors, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Field, b.Field))
	})
	e.Errors = slices.Compact(e.Errors)
	return e
}
