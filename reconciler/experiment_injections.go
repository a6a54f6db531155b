package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// hubFieldOwner is the server-side-apply manager of what the hub writes.
const hubFieldOwner = "faultline-hub"

// experimentKey is the experiment as namespace/name.
func experimentKey(exp *v1alpha1.Experiment) string { return exp.Namespace + "/" + exp.Name }

// experimentLabelValue is the value of ExperimentLabel: namespace.name, or
// a hash of it when that is not a valid label value.
func experimentLabelValue(exp *v1alpha1.Experiment) string {
	return labelSafe(exp.Namespace + "." + exp.Name)
}

func labelSafe(s string) string {
	if len(s) <= 63 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:46] + "-" + hex.EncodeToString(sum[:8])
}

// injectionName is unique per experiment and node within a member's
// injection namespace, and a valid object name whatever its parts' lengths.
func injectionName(exp *v1alpha1.Experiment, node string) string {
	name := exp.Namespace + "." + exp.Name + "." + node
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:236] + "-" + hex.EncodeToString(sum[:8])
}

// buildInjections groups the chosen pods by node: one Injection per node, so
// each node's daemon watches only its own.
func buildInjections(exp *v1alpha1.Experiment, member, wave, namespace string, pods []corev1.Pod, peers []string, deadline time.Time) []*v1alpha1.Injection {
	byNode := map[string][]corev1.Pod{}
	var nodes []string
	for _, p := range pods {
		if _, ok := byNode[p.Spec.NodeName]; !ok {
			nodes = append(nodes, p.Spec.NodeName)
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
	}
	out := make([]*v1alpha1.Injection, 0, len(nodes))
	for _, node := range nodes {
		inj := &v1alpha1.Injection{
			TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Injection"},
			ObjectMeta: metav1.ObjectMeta{
				Namespace: namespace,
				Name:      injectionName(exp, node),
				Labels: map[string]string{
					v1alpha1.ExperimentLabel: experimentLabelValue(exp),
					v1alpha1.RunLabel:        exp.Status.Run,
					v1alpha1.NodeLabel:       labelSafe(node),
				},
			},
			Spec: v1alpha1.InjectionSpec{
				Fault:    exp.Spec.Fault,
				NodeName: node,
				Peers:    peers,
				Deadline: metav1.NewTime(deadline),
				Owner: v1alpha1.InjectionOwner{
					Source:        exp.Labels[v1alpha1.SourceLabel],
					Revision:      exp.Status.Revision,
					Experiment:    experimentKey(exp),
					ExperimentUID: string(exp.UID),
					Run:           exp.Status.Run,
					Member:        member,
					Wave:          wave,
				},
			},
		}
		for _, p := range byNode[node] {
			t := v1alpha1.InjectionTarget{Key: p.Namespace + "/" + p.Name, Kind: v1alpha1.TargetPod,
				Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.ContainerID != "" {
					t.ContainerIDs = append(t.ContainerIDs, cs.ContainerID)
				}
			}
			inj.Spec.Targets = append(inj.Spec.Targets, t)
		}
		out = append(out, inj)
	}
	return out
}

// applyInjection writes an Injection with server-side apply, so re-applying
// the same spec (to renew the deadline, or after a hub restart) is a no-op
// apart from what changed, and fields the daemon owns are left alone.
func applyInjection(ctx context.Context, c client.Client, inj *v1alpha1.Injection) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(inj)
	if err != nil {
		return fmt.Errorf("converting injection %s: %w", inj.Name, err)
	}
	delete(u, "status")
	if md, ok := u["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	if err := c.Apply(ctx, ac, client.FieldOwner(hubFieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying injection %s/%s: %w", inj.Namespace, inj.Name, err)
	}
	return nil
}

// ensureNamespace creates the member's injection namespace when missing.
func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, ns); err == nil {
		return nil
	}
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// injectionCounts sums the targets an executor reported injected, recovered
// and failed.
func injectionCounts(injs []v1alpha1.Injection) (injected, failed int32, messages []string) {
	for _, inj := range injs {
		for _, t := range inj.Status.Targets {
			switch t.Phase {
			case v1alpha1.InjectionInjected, v1alpha1.InjectionRecovering, v1alpha1.InjectionRecovered:
				injected++
			case v1alpha1.InjectionFailed:
				failed++
				if t.Message != "" {
					messages = append(messages, t.Key+": "+t.Message)
				}
			}
		}
	}
	return injected, failed, messages
}
