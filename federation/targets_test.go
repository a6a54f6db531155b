package federation

import (
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func TestApplyMode(t *testing.T) {
	cases := []struct {
		n       int
		mode    v1alpha1.SelectorMode
		value   string
		want    int // exact count; -1 for "between 0 and max"
		max     int
		wantErr bool
	}{
		{10, v1alpha1.ModeOne, "", 1, 0, false},
		{10, v1alpha1.ModeAll, "", 10, 0, false},
		{10, v1alpha1.ModeFixed, "3", 3, 0, false},
		{2, v1alpha1.ModeFixed, "3", 2, 0, false},
		{10, v1alpha1.ModeFixedPercent, "50", 5, 0, false},
		{10, v1alpha1.ModeFixedPercent, "33", 3, 0, false},
		{3, v1alpha1.ModeFixedPercent, "10", 1, 0, false}, // never rounds a positive share to zero
		{10, v1alpha1.ModeFixedPercent, "100", 10, 0, false},
		{10, v1alpha1.ModeRandomMaxPercent, "30", -1, 3, false},
		{0, v1alpha1.ModeAll, "", 0, 0, false},
		{10, v1alpha1.ModeFixedPercent, "150", 0, 0, true},
		{10, v1alpha1.ModeFixed, "x", 0, 0, true},
		{10, "some", "", 0, 0, true},
	}
	for _, tc := range cases {
		for seed := range uint64(20) {
			idx, err := ApplyMode(tc.n, tc.mode, tc.value, rand.New(rand.NewPCG(seed, 1)))
			if (err != nil) != tc.wantErr {
				t.Fatalf("%d %s %q: err = %v", tc.n, tc.mode, tc.value, err)
			}
			if tc.wantErr {
				continue
			}
			if tc.want >= 0 && len(idx) != tc.want {
				t.Errorf("%d %s %q: picked %d, want %d", tc.n, tc.mode, tc.value, len(idx), tc.want)
			}
			if tc.want < 0 && len(idx) > tc.max {
				t.Errorf("%d %s %q: picked %d, want at most %d", tc.n, tc.mode, tc.value, len(idx), tc.max)
			}
			seen := map[int]bool{}
			for i, v := range idx {
				if v < 0 || v >= tc.n || seen[v] || (i > 0 && idx[i-1] > v) {
					t.Fatalf("%d %s %q: bad indexes %v", tc.n, tc.mode, tc.value, idx)
				}
				seen[v] = true
			}
		}
	}
}

func TestMatchesRest(t *testing.T) {
	pod := func(ns, name, node string, phase corev1.PodPhase, ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		sel  v1alpha1.PodSelector
		want bool
	}{
		{"running pod, empty selector", pod("shop", "a", "n1", corev1.PodRunning, nil), v1alpha1.PodSelector{}, true},
		{"pending pod is never a target", pod("shop", "a", "n1", corev1.PodPending, nil), v1alpha1.PodSelector{}, false},
		{"kube-system is never a target", pod("kube-system", "dns", "n1", corev1.PodRunning, nil), v1alpha1.PodSelector{}, false},
		{"annotation matches", pod("shop", "a", "n1", corev1.PodRunning, map[string]string{"chaos": "yes"}),
			v1alpha1.PodSelector{AnnotationSelectors: map[string]string{"chaos": "yes"}}, true},
		{"annotation differs", pod("shop", "a", "n1", corev1.PodRunning, map[string]string{"chaos": "no"}),
			v1alpha1.PodSelector{AnnotationSelectors: map[string]string{"chaos": "yes"}}, false},
		{"field selector on node", pod("shop", "a", "n2", corev1.PodRunning, nil),
			v1alpha1.PodSelector{FieldSelectors: map[string]string{"spec.nodeName": "n1"}}, false},
		{"nodes list", pod("shop", "a", "n2", corev1.PodRunning, nil), v1alpha1.PodSelector{Nodes: []string{"n2"}}, true},
		{"explicit pods", pod("shop", "b", "n1", corev1.PodRunning, nil), v1alpha1.PodSelector{Pods: map[string][]string{"shop": {"a"}}}, false},
	}
	for _, tc := range cases {
		if got := matchesRest(tc.pod, &tc.sel); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := CheckProtected(&v1alpha1.PodSelector{Namespaces: []string{"shop", "kube-system"}}); err == nil ||
		err.Error() != "spec.selector.namespaces[1]: namespace kube-system is protected and never a target" {
		t.Errorf("CheckProtected = %v", err)
	}
}
