package irvm

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// builtin is one of OPA's builtin functions, resolved once at load time.
type builtin struct {
	name string
	f    topdown.BuiltinFunc
	// readsTime is set for builtins that read the evaluation's clock.
	readsTime bool
	// native, when set, computes the common cases without f (see native);
	// arity is the number of arguments it takes.
	native native
	arity  int
	// readsLazy is set for natives that read Lazy arguments through their
	// Doc (see lazyNatives); every other call gets them converted.
	readsLazy bool
}

// unsupportedBuiltins need evaluator state a Program does not provide (a
// random seed, a print hook, tracers, inter-query caches) or sign with
// randomness. Plans calling them are not loaded; their policy stays on
// topdown.
var unsupportedBuiltins = map[string]bool{
	"print":                  true,
	"internal.print":         true,
	"trace":                  true,
	"internal.test_case":     true,
	"io.jwt.encode_sign":     true,
	"io.jwt.encode_sign_raw": true,
}

// clockBuiltins read BuiltinContext.Time.
var clockBuiltins = map[string]bool{
	"time.now_ns":          true,
	"io.jwt.decode_verify": true,
}

func resolveBuiltin(name string) (*builtin, error) {
	decl, ok := ast.BuiltinMap[name]
	if !ok {
		return nil, fmt.Errorf("%w: builtin %s is not one of OPA's", ErrUnsupported, name)
	}
	switch {
	case unsupportedBuiltins[name]:
		return nil, fmt.Errorf("%w builtin %s", ErrUnsupported, name)
	case decl.Relation:
		// Relations (walk) yield many results; the planner collects them
		// in a way this package does not implement.
		return nil, fmt.Errorf("%w relation %s", ErrUnsupported, name)
	case decl.Nondeterministic && !clockBuiltins[name]:
		// http.send, rand.intn, uuid.rfc4122, net.lookup_ip_addr, ...:
		// their caches and seeds belong to topdown.
		return nil, fmt.Errorf("%w non-deterministic builtin %s", ErrUnsupported, name)
	case decl.Decl == nil || decl.Decl.Result() == nil:
		return nil, fmt.Errorf("%w void builtin %s", ErrUnsupported, name)
	}
	f := topdown.GetBuiltin(name)
	if f == nil {
		return nil, fmt.Errorf("%w: builtin %s has no implementation", ErrUnsupported, name)
	}
	return &builtin{name: name, f: f, readsTime: clockBuiltins[name], native: natives[name], arity: nativeArity(name), readsLazy: lazyNatives[name]}, nil
}

// callBuiltin runs a builtin with the arguments in f.args (which release
// clears, not every call). A native implementation, when the builtin has
// one, answers the cases it is sure of; OPA's answers the rest. Errors are
// topdown's own (the function from topdown.GetBuiltin wraps them with the
// call's location), so a decision fails with the message topdown would
// give: evaluation is strict, a builtin error is never an undefined value.
//
// called is false when an argument is undefined: the call is undefined
// without the builtin running.
func (f *frame) callBuiltin(in *instr, l []*ast.Term) (r *ast.Term, called bool, err error) {
	args := f.args[:len(in.args)]
	for i, a := range in.args {
		t := a.c
		if a.local >= 0 {
			t = l[a.local]
			if t == nil {
				return nil, false, nil
			}
		}
		args[i] = t
	}
	nf := in.bi.native
	if nf != nil && len(args) == in.bi.arity && in.bi.readsLazy {
		if r = nf(args); r != nil {
			return r, true, nil
		}
		nf = nil
	}
	for i, t := range args {
		if args[i] = materialize(t); args[i] == nil {
			// The host failed to convert it, and fails the decision.
			return nil, false, nil
		}
	}
	if nf != nil && len(args) == in.bi.arity {
		if r = nf(args); r != nil {
			return r, true, nil
		}
	}
	f.bctx.Location = in.loc
	if in.bi.readsTime && f.bctx.Time == nil {
		f.bctx.Time = ast.NumberTerm(jsonInt(f.start.UnixNano()))
	}
	f.result = nil
	err = in.bi.f(f.bctx, args, f.iter)
	r = f.result
	f.result = nil
	if err != nil {
		if h, ok := err.(topdown.Halt); ok {
			err = h.Err
		}
		return nil, true, err
	}
	return r, true, nil
}

// onResult keeps a builtin's first result; builtins other than relations
// yield at most one.
func (f *frame) onResult(t *ast.Term) error {
	if f.result == nil {
		f.result = t
	}
	return nil
}
