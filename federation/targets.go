package federation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// ProtectedNamespaces are never targets, whatever a selector says and whether
// or not a policy is installed: breaking them breaks the cluster, not the
// service under test.
var ProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// ProtectedNamespaceError is returned when a selector names a protected
// namespace explicitly.
type ProtectedNamespaceError struct{ Namespace, Field string }

func (e *ProtectedNamespaceError) Error() string {
	return fmt.Sprintf("%s: namespace %s is protected and never a target", e.Field, e.Namespace)
}

// CheckProtected refuses selectors that name a protected namespace.
func CheckProtected(sel *v1alpha1.PodSelector) error {
	for i, ns := range sel.Namespaces {
		if slices.Contains(ProtectedNamespaces, ns) {
			return &ProtectedNamespaceError{Namespace: ns, Field: fmt.Sprintf("spec.selector.namespaces[%d]", i)}
		}
	}
	for ns := range sel.Pods {
		if slices.Contains(ProtectedNamespaces, ns) {
			return &ProtectedNamespaceError{Namespace: ns, Field: "spec.selector.pods." + ns}
		}
	}
	return nil
}

// SelectPods lists the Running pods of a member cluster that sel chooses,
// sorted by namespace/name. Protected namespaces are left out.
func SelectPods(ctx context.Context, c client.Reader, sel *v1alpha1.PodSelector) ([]corev1.Pod, error) {
	if err := CheckProtected(sel); err != nil {
		return nil, err
	}
	ls, err := podLabelSelector(sel)
	if err != nil {
		return nil, err
	}
	namespaces := sel.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""} // all namespaces
	}
	var out []corev1.Pod
	for _, ns := range namespaces {
		list := &corev1.PodList{}
		opts := []client.ListOption{client.MatchingLabelsSelector{Selector: ls}}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := c.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("listing pods in %q: %w", ns, err)
		}
		for i := range list.Items {
			if p := &list.Items[i]; matchesRest(p, sel) {
				out = append(out, *p)
			}
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

func podLabelSelector(sel *v1alpha1.PodSelector) (labels.Selector, error) {
	ls := labels.SelectorFromSet(sel.LabelSelectors)
	for i, e := range sel.ExpressionSelectors {
		var op selection.Operator
		switch e.Operator {
		case "In":
			op = selection.In
		case "NotIn":
			op = selection.NotIn
		case "Exists":
			op = selection.Exists
		case "DoesNotExist":
			op = selection.DoesNotExist
		default:
			return nil, fmt.Errorf("spec.selector.expressionSelectors[%d].operator: unknown operator %q", i, e.Operator)
		}
		req, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return nil, fmt.Errorf("spec.selector.expressionSelectors[%d]: %w", i, err)
		}
		ls = ls.Add(*req)
	}
	return ls, nil
}

// matchesRest applies what a label selector cannot: phase, protected
// namespaces, annotations, fields, nodes and explicit pod names.
func matchesRest(p *corev1.Pod, sel *v1alpha1.PodSelector) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || slices.Contains(ProtectedNamespaces, p.Namespace) {
		return false
	}
	if len(sel.PodPhaseSelectors) > 0 && !slices.Contains(sel.PodPhaseSelectors, string(p.Status.Phase)) {
		return false
	}
	for k, v := range sel.AnnotationSelectors {
		if p.Annotations[k] != v {
			return false
		}
	}
	if len(sel.FieldSelectors) > 0 && !fields.SelectorFromSet(sel.FieldSelectors).Matches(podFields(p)) {
		return false
	}
	if len(sel.Nodes) > 0 && !slices.Contains(sel.Nodes, p.Spec.NodeName) {
		return false
	}
	if len(sel.Pods) > 0 && !slices.Contains(sel.Pods[p.Namespace], p.Name) {
		return false
	}
	return true
}

// podFields are the fields a pod field selector may name.
func podFields(p *corev1.Pod) fields.Set {
	return fields.Set{
		"metadata.name":           p.Name,
		"metadata.namespace":      p.Namespace,
		"spec.nodeName":           p.Spec.NodeName,
		"spec.serviceAccountName": p.Spec.ServiceAccountName,
		"status.phase":            string(p.Status.Phase),
		"status.podIP":            p.Status.PodIP,
	}
}

// ApplyMode picks the targets that mode and value ask for out of n
// candidates and returns their indexes in ascending order. It is pure but
// for rnd, which tests seed.
func ApplyMode(n int, mode v1alpha1.SelectorMode, value string, rnd *rand.Rand) ([]int, error) {
	if n == 0 {
		return nil, nil
	}
	count := 0
	switch mode {
	case v1alpha1.ModeOne, "":
		count = 1
	case v1alpha1.ModeAll:
		count = n
	case v1alpha1.ModeFixed:
		v, err := parseValue(value, 1, 1<<31-1)
		if err != nil {
			return nil, err
		}
		count = min(v, n)
	case v1alpha1.ModeFixedPercent:
		v, err := parseValue(value, 0, 100)
		if err != nil {
			return nil, err
		}
		// Round down, as Chaos Mesh does, but never to zero when there
		// are candidates and the percentage is positive.
		count = max(n*v/100, min(v, 1))
	case v1alpha1.ModeRandomMaxPercent:
		v, err := parseValue(value, 0, 100)
		if err != nil {
			return nil, err
		}
		count = rnd.IntN(n*v/100 + 1)
	default:
		return nil, fmt.Errorf("spec.mode: unknown mode %q", mode)
	}
	idx := rnd.Perm(n)[:count]
	slices.Sort(idx)
	return idx, nil
}

func parseValue(value string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(value)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("spec.value: %q is not an integer from %d to %d", value, lo, hi)
	}
	return v, nil
}
