package policy

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Value converts an input to the form OPA evaluates, once, so that several
// policies can judge it without converting it again. The value is built
// straight from the Go types, equal to what decoding the input's JSON would
// give.
func (in *Input) Value() (ast.Value, error) {
	v, err := toValue(in)
	if err != nil {
		return nil, fmt.Errorf("converting policy input: %w", err)
	}
	return v, nil
}

// Evaluate judges one input. The decision's Allowed is settled as if this
// were the only policy.
func (p *Policy) Evaluate(ctx context.Context, in *Input) (Decision, error) {
	var d Decision
	var err error
	if p.readsLazily() {
		li := newLazyInput(in)
		d, err = p.evaluateLazy(ctx, li)
		li.release()
	} else {
		var v ast.Value
		if v, err = in.Value(); err != nil {
			return Decision{}, err
		}
		d, err = p.EvaluateValue(ctx, v)
	}
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
	result, err := p.query.eval(ctx, input)
	if err != nil {
		return Decision{}, fmt.Errorf("evaluating policy %s: %w", p.name, err)
	}
	return p.decision(result), nil
}

// readsLazily reports whether the policy runs on irvm, which reads a
// lazyInput: no conversion of the input up front (see irvm.Doc).
func (p *Policy) readsLazily() bool {
	return p.broken == nil && p.query != nil && p.query.program != nil
}

// evaluateLazy judges an input the plan reads on demand. A part of the
// input that fails to convert fails the decision, as converting it up
// front would have, when the plan reached it.
func (p *Policy) evaluateLazy(ctx context.Context, in *lazyInput) (Decision, error) {
	result, err := p.query.evalProgram(ctx, in.value())
	if in.err != nil {
		return Decision{}, fmt.Errorf("converting policy input: %w", in.err)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("evaluating policy %s: %w", p.name, err)
	}
	return p.decision(result), nil
}

// decision reads the query's result object.
func (p *Policy) decision(result *ast.Array) Decision {
	var d Decision
	for _, b := range p.bindings {
		var items ast.Set
		if b.index < result.Len() {
			items, _ = result.Elem(b.index).Value.(ast.Set)
		}
		if items == nil {
			continue
		}
		// Slice is the set's own sorted elements: no closure per binding.
		for _, item := range items.Slice() {
			switch b.kind {
			case ruleDeny:
				d.addDenial(p, b, item.Value)
			case ruleApproval:
				d.addApproval(p, b, item.Value)
			case ruleWarn:
				d.addWarning(p, b, item.Value)
			}
		}
	}
	sortDecision(&d)
	return d
}

func (d *Decision) addDenial(p *Policy, b binding, item ast.Value) {
	rule, field, msg := finding(b, item)
	x := Denial{Policy: p.name, Rule: rule, Field: field, Message: msg, Enforcement: p.enforcement}
	d.Denials = append(d.Denials, x)
	if p.enforcement != v1alpha1.EnforcementEnforce {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s (%s, not enforced)", x, p.enforcement))
	}
}

func (d *Decision) addApproval(p *Policy, b binding, item ast.Value) {
	obj, _ := item.(ast.Object)
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

func (d *Decision) addWarning(p *Policy, b binding, item ast.Value) {
	rule, field, msg := finding(b, item)
	if field != "" {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s/%s: %s: %s", p.name, rule, field, msg))
		return
	}
	d.Warnings = append(d.Warnings, fmt.Sprintf("%s/%s: %s", p.name, rule, msg))
}

// finding reads a deny or warn item: an object with rule, field and
// message, or a bare message string.
func finding(b binding, item ast.Value) (rule, field, message string) {
	if s, ok := item.(ast.String); ok {
		return b.pkgRule, "", string(s)
	}
	obj, _ := item.(ast.Object)
	msg := str(obj, "message", "")
	if msg == "" && obj == nil {
		// Any other value, printed as its JSON form would be in Go.
		if v, err := ast.JSON(item); err == nil {
			msg = fmt.Sprint(v)
		} else {
			msg = item.String()
		}
	}
	return str(obj, "rule", b.pkgRule), str(obj, "field", ""), msg
}

func get(obj ast.Object, key string) ast.Value {
	if obj == nil {
		return nil
	}
	k, ok := keyTerms[key]
	if !ok {
		k = ast.StringTerm(key)
	}
	if t := obj.Get(k); t != nil {
		return t.Value
	}
	return nil
}

// keyTerms are the keys a decision is read by, made once: a decision reads
// a dozen of them.
var keyTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, k := range []string{"rule", "field", "message", "group", "count", "reason", string(resultVar)} {
		m[k] = ast.StringTerm(k)
	}
	return m
}()

func str(obj ast.Object, key, def string) string {
	if s, ok := get(obj, key).(ast.String); ok && s != "" {
		return string(s)
	}
	return def
}

func num(obj ast.Object, key string, def float64) float64 {
	if n, ok := get(obj, key).(ast.Number); ok {
		if f, ok := n.Float64(); ok {
			return math.Max(f, 0)
		}
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
