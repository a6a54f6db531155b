package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Module is one Rego source file.
type Module struct {
	// Name identifies the module in errors, such as team.rego.
	Name   string
	Source string
}

// Spec is everything a policy is compiled from.
type Spec struct {
	// Name of the policy, reported in every denial.
	Name    string
	Modules []Module
	// Library names built-in rules to add (see LibraryRules), or "*".
	Library []string
	// Parameters is a JSON object available to the modules as data.parameters.
	Parameters []byte
	// Enforcement defaults to enforce.
	Enforcement v1alpha1.Enforcement
	// Scope limits which experiments the policy judges; nil: all.
	Scope *v1alpha1.PolicyScope
}

// CompileError locates one problem in one module.
type CompileError struct {
	Module  string
	Line    int
	Message string
}

func (e CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("module %s line %d: %s", e.Module, e.Line, e.Message)
	}
	if e.Module != "" {
		return fmt.Sprintf("module %s: %s", e.Module, e.Message)
	}
	return e.Message
}

// CompileErrors is every problem found compiling a policy.
type CompileErrors []CompileError

func (e CompileErrors) Error() string {
	parts := make([]string, len(e))
	for i, x := range e {
		parts[i] = x.Error()
	}
	return strings.Join(parts, "; ")
}

// decision rule names a module may define, in any package.
const (
	ruleDeny     = "deny"
	ruleApproval = "approval"
	ruleWarn     = "warn"
)

// binding ties an element of the decision array to the rule it collects.
type binding struct {
	// index is the rule's place in the decision array (see aggregator).
	index int
	kind  string
	// ref is the rule's path, such as data.team.deny.
	ref string
	// pkgRule is the last segment of the package, the default rule name.
	pkgRule string
}

// Policy is a compiled policy: its query is prepared once and Evaluate is
// safe for concurrent use.
type Policy struct {
	name        string
	enforcement v1alpha1.Enforcement
	scope       *v1alpha1.PolicyScope
	digest      string
	query       *prepared
	bindings    []binding
	// broken is set on a stand-in for a policy that does not compile.
	broken error
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Enforcement returns what the policy's denials do.
func (p *Policy) Enforcement() v1alpha1.Enforcement { return p.enforcement }

// Digest identifies the modules, library rules, parameters and enforcement
// the policy was compiled from, as sha256:<hex>.
func (p *Policy) Digest() string { return p.digest }

// Compile parses and compiles a policy's modules (Rego v1) and prepares the
// one query that collects its decision. Errors in modules are CompileErrors
// naming module and line; a policy without any deny, approval or warn rule is
// an error too, since it could never say anything.
func Compile(ctx context.Context, spec Spec) (*Policy, error) {
	lib, err := LibraryModules(spec.Library)
	if err != nil {
		return nil, CompileErrors{{Message: err.Error()}}
	}
	all := append(slices.Clone(spec.Modules), lib...)
	if len(all) == 0 {
		return nil, CompileErrors{{Message: "policy has no modules and no library rules"}}
	}

	parsed := make(map[string]*ast.Module, len(all))
	var errs CompileErrors
	for _, m := range all {
		if _, dup := parsed[m.Name]; dup {
			errs = append(errs, CompileError{Module: m.Name, Message: "module name used twice"})
			continue
		}
		mod, err := ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, astErrors(m.Name, err)...)
			continue
		}
		parsed[m.Name] = mod
	}
	if len(errs) > 0 {
		return nil, errs
	}

	bindings := decisionRules(parsed)
	if len(bindings) == 0 {
		return nil, CompileErrors{{Message: "no module defines a deny, approval or warn rule"}}
	}
	agg, err := aggregator(bindings)
	if err != nil {
		return nil, CompileErrors{{Message: err.Error()}}
	}
	parsed[agg.Package.Location.File] = agg

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(parsed); compiler.Failed() {
		return nil, astErrors("", compiler.Errors)
	}

	params := map[string]any{}
	if len(spec.Parameters) > 0 {
		if err := util.UnmarshalJSON(spec.Parameters, &params); err != nil {
			return nil, CompileErrors{{Module: "data", Message: fmt.Sprintf("parameters are not a JSON object: %v", err)}}
		}
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"parameters": params}, inmem.OptRoundTripOnWrite(false))

	// Partial evaluation folds what does not depend on the input into the
	// prepared query once per generation, so that a decision only does the
	// rest. A builtin error here (a malformed duration in the parameters,
	// say) fails the compile instead of making a rule silently undefined.
	pq, err := prepare(ctx, compiler, store)
	if err != nil {
		return nil, astErrors("", err)
	}

	enforcement := spec.Enforcement
	if enforcement == "" {
		enforcement = v1alpha1.EnforcementEnforce
	}
	return &Policy{
		name:        spec.Name,
		enforcement: enforcement,
		scope:       spec.Scope,
		digest:      digest(all, spec.Parameters, enforcement),
		query:       pq,
		bindings:    bindings,
	}, nil
}

// decisionRules finds every deny, approval and warn rule of every package.
func decisionRules(modules map[string]*ast.Module) []binding {
	type key struct{ pkg, rule string }
	seen := map[key]bool{}
	var keys []key
	for _, m := range modules {
		pkg := m.Package.Path.String()
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 {
				continue
			}
			name := string(r.Head.Name)
			if name == "" {
				if v, ok := ref[0].Value.(ast.Var); ok {
					name = string(v)
				}
			}
			if name != ruleDeny && name != ruleApproval && name != ruleWarn {
				continue
			}
			k := key{pkg, name}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.pkg, b.pkg); c != 0 {
			return c
		}
		return strings.Compare(a.rule, b.rule)
	})
	bindings := make([]binding, len(keys))
	for i, k := range keys {
		segs := strings.Split(k.pkg, ".")
		bindings[i] = binding{
			index:   i,
			kind:    k.rule,
			ref:     k.pkg + "." + k.rule,
			pkgRule: strings.ReplaceAll(strings.Trim(segs[len(segs)-1], `"[]`), "_", "-"),
		}
	}
	return bindings
}

// noInline lists library rules partial evaluation must not inline.
var noInline = []string{"data.faultline.library.change_window.local"}

// aggregatorPackage holds the generated rule that collects every decision
// rule into one array, in the bindings' order, so that one query (a single
// ref, as partial evaluation requires) yields the whole decision. An array
// rather than an object keyed by rule: building and reading it costs no
// hashing, which was a tenth of a decision.
const aggregatorPackage = "faultline_generated.decision"

var aggregatorRef = ast.MustParseRef("data." + aggregatorPackage + ".result")

func aggregator(bindings []binding) (*ast.Module, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nresult := [\n", aggregatorPackage)
	for _, x := range bindings {
		fmt.Fprintf(&b, "\t%s,\n", x.ref)
	}
	b.WriteString("]\n")
	m, err := ast.ParseModuleWithOpts("faultline-generated-decision.rego", b.String(), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("generating the decision rule: %w", err)
	}
	return m, nil
}

// astErrors turns OPA's errors into CompileErrors naming module and line.
func astErrors(module string, err error) CompileErrors {
	var list ast.Errors
	if !errors.As(err, &list) {
		var one *ast.Error
		if !errors.As(err, &one) {
			return CompileErrors{{Module: module, Message: err.Error()}}
		}
		list = ast.Errors{one}
	}
	out := make(CompileErrors, 0, len(list))
	for _, e := range list {
		ce := CompileError{Module: module, Message: e.Message}
		if e.Location != nil {
			if e.Location.File != "" {
				ce.Module = e.Location.File
			}
			ce.Line = e.Location.Row
		}
		out = append(out, ce)
	}
	return out
}

func digest(modules []Module, params []byte, enforcement v1alpha1.Enforcement) string {
	h := sha256.New()
	for _, m := range modules {
		fmt.Fprintf(h, "%d:%s%d:%s", len(m.Name), m.Name, len(m.Source), m.Source)
	}
	fmt.Fprintf(h, "%d:%s%s", len(params), params, enforcement)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
