package policy

import (
	"context"
	"encoding/json"
)

// DecideFull decides as Set.Decide does, but on the whole input converted
// through JSON: the reference Set.Decide's decisions must equal,
// independent of the converters and documents under test.
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
