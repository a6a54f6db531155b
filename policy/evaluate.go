package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Value converts an input to the form OPA evaluates, once, so that several
// policies can judge it without converting it again.
func (in *Input) Value() (ast.Value, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encoding policy input: %w", err)
	}
	v, err := jsonToValue(raw)
	if err != nil {
		return nil, fmt.Errorf("converting policy input: %w", err)
	}
	return v, nil
}

// Evaluate judges one input. The decision's Allowed is settled as if this
// were the only policy.
func (p *Policy) Evaluate(ctx context.Context, in *Input) (Decision, error) {
	v, err := in.Value()
	if err != nil {
		return Decision{}, err
	}
	d, err := p.EvaluateValue(ctx, v)
	if err != nil {
		return Decision{}, err
	}
	d.settle()
	return d, nil
}

// EvaluateValue judges an input already converted with Input.Value. Allowed
// is left false; Set.Decide settles it across policies.
func (p *Policy) EvaluateValue(ctx context.Context, input ast.Value) (Decision, error) {
	if p.broken != nil {
		return p.evaluateBroken(ctx, input)
	}
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return Decision{}, fmt.Errorf("evaluating policy %s: %w", p.name, err)
	}
	if len(rs) != 1 {
		// Every bound rule is a multi-value rule, defined (perhaps empty)
		// whenever its package compiles; anything else is a bug to surface.
		return Decision{}, fmt.Errorf("evaluating policy %s: %d results, want 1", p.name, len(rs))
	}
	if len(rs[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("evaluating policy %s: %d expressions, want 1", p.name, len(rs[0].Expressions))
	}
	result, _ := rs[0].Expressions[0].Value.(map[string]any)
	var d Decision
	for _, b := range p.bindings {
		items, _ := result[b.variable].([]any)
		for _, item := range items {
			switch b.kind {
			case ruleDeny:
				d.addDenial(p, b, item)
			case ruleApproval:
				d.addApproval(p, b, item)
			case ruleWarn:
				d.addWarning(p, b, item)
			}
		}
	}
	sortDecision(&d)
	return d, nil
}

func (d *Decision) addDenial(p *Policy, b binding, item any) {
	rule, field, msg := finding(b, item)
	x := Denial{Policy: p.name, Rule: rule, Field: field, Message: msg, Enforcement: p.enforcement}
	d.Denials = append(d.Denials, x)
	if p.enforcement != v1alpha1.EnforcementEnforce {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s (%s, not enforced)", x, p.enforcement))
	}
}

func (d *Decision) addApproval(p *Policy, b binding, item any) {
	obj, _ := item.(map[string]any)
	a := ApprovalRequirement{
		Policy: p.name,
		Rule:   str(obj, "rule", b.pkgRule),
		Group:  str(obj, "group", ""),
		Count:  int(num(obj, "count", 1)),
		Reason: str(obj, "reason", ""),
	}
	if p.enforcement != v1alpha1.EnforcementEnforce {
		d.Warnings = append(d.Warnings, fmt.Sprintf("would wait for approval: %s (%s, not enforced)", a, p.enforcement))
		return
	}
	d.ApprovalsRequired = append(d.ApprovalsRequired, a)
}

func (d *Decision) addWarning(p *Policy, b binding, item any) {
	rule, field, msg := finding(b, item)
	if field != "" {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s/%s: %s: %s", p.name, rule, field, msg))
		return
	}
	d.Warnings = append(d.Warnings, fmt.Sprintf("%s/%s: %s", p.name, rule, msg))
}

// finding reads a deny or warn item: an object with rule, field and
// message, or a bare message string.
func finding(b binding, item any) (rule, field, message string) {
	if s, ok := item.(string); ok {
		return b.pkgRule, "", s
	}
	obj, _ := item.(map[string]any)
	msg := str(obj, "message", "")
	if msg == "" && obj == nil {
		msg = fmt.Sprint(item)
	}
	return str(obj, "rule", b.pkgRule), str(obj, "field", ""), msg
}

func str(obj map[string]any, key, def string) string {
	if s, ok := obj[key].(string); ok && s != "" {
		return s
	}
	return def
}

func num(obj map[string]any, key string, def float64) float64 {
	switch v := obj[key].(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return math.Max(f, 0)
		}
	case float64:
		return math.Max(v, 0)
	case int:
		return float64(max(v, 0))
	}
	return def
}

func sortDecision(d *Decision) {
	sort.Slice(d.Denials, func(i, j int) bool {
		a, b := d.Denials[i], d.Denials[j]
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	sort.Slice(d.ApprovalsRequired, func(i, j int) bool {
		a, b := d.ApprovalsRequired[i], d.ApprovalsRequired[j]
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		return a.Group < b.Group
	})
	sort.Strings(d.Warnings)
}
