package policy

import "errors"

// OnTopdown returns a copy of p whose decisions run on OPA's evaluator
// (topdown) instead of the policy's plan, so that tests and benchmarks can
// compare the two engines on one compiled policy.
func OnTopdown(p *Policy) *Policy {
	cp := *p
	if p.query != nil {
		q := *p.query
		q.program, q.data, q.fallback = nil, nil, errors.New("forced by OnTopdown")
		cp.query = &q
	}
	return &cp
}

// Engine names the engine p's decisions run on, "irvm" or "topdown", and
// why it is topdown when it is.
func Engine(p *Policy) (string, error) {
	if p.query != nil && p.query.program != nil {
		return "irvm", nil
	}
	if p.query == nil {
		return "topdown", nil
	}
	return "topdown", p.query.fallback
}
