package policy

import (
	"context"
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"
)

// SetInputValue exposes the conversion Set.Decide uses to the external
// tests and benchmarks.
func SetInputValue(s *Set, in *Input) (ast.Value, error) { return s.convert(in, nil) }

// DecideFull decides as Set.Decide does, without its cache, but on the
// whole input converted through JSON: the reference projected decisions
// must equal, independent of the converters under test.
func DecideFull(ctx context.Context, s *Set, in *Input) (Decision, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return Decision{}, err
	}
	value, err := jsonToValue(raw)
	if err != nil {
		return Decision{}, err
	}
	var d Decision
	for _, p := range s.policies {
		if !p.Applies(in) {
			continue
		}
		pd, err := p.EvaluateValue(ctx, value)
		if err != nil {
			return Decision{}, err
		}
		d.merge(pd)
	}
	sortDecision(&d)
	d.settle()
	return d, nil
}

// ReadsAll reports whether the set converts the whole input.
func ReadsAll(s *Set) bool { return s.reads == nil }

// BatchInputValue is the conversion Batch.Decide uses.
func BatchInputValue(b *Batch, in *Input) (ast.Value, error) { return b.set.convert(in, &b.shared) }
