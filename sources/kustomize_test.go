package sources

import (
	"slices"
	"strings"
	"testing"
)

// overlayRepo is a checkout with a base and two overlays that differ in
// percentage and placement.
func overlayRepo(t *testing.T, extra map[string]string) string {
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n  - delay.yaml\n",
		"base/delay.yaml":         validExperiment,
		"overlays/staging/kustomization.yaml": `namespace: staging
resources:
  - ../../base
patches:
  - path: percent.yaml
`,
		"overlays/staging/percent.yaml": `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: checkout-delay
spec:
  value: "100"
`,
		"overlays/prod/kustomization.yaml": `namespace: prod
namePrefix: prod-
resources:
  - ../../base
patches:
  - path: placement.yaml
`,
		"overlays/prod/placement.yaml": `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: checkout-delay
spec:
  value: "5"
  placement:
    clusters:
      matchLabels:
        env: prod
    waves:
      - name: canary
        clusters:
          matchLabels:
            canary: "true"
`,
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeTree(t, files)
}

func TestOverlaysBuildDifferentExperiments(t *testing.T) {
	root := overlayRepo(t, nil)
	staging, err := Build(t.Context(), root+"/overlays/staging", BuildOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := Build(t.Context(), root+"/overlays/prod", BuildOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(staging.Experiments) != 1 || len(prod.Experiments) != 1 {
		t.Fatalf("staging %d, prod %d experiments; want 1 each", len(staging.Experiments), len(prod.Experiments))
	}
	s, p := staging.Experiments[0], prod.Experiments[0]
	if s.Namespace+"/"+s.Name != "staging/checkout-delay" || s.Spec.Value != "100" || s.Spec.Placement != nil {
		t.Errorf("staging: %s/%s value %q placement %v", s.Namespace, s.Name, s.Spec.Value, s.Spec.Placement)
	}
	if p.Namespace+"/"+p.Name != "prod/prod-checkout-delay" || p.Spec.Value != "5" || p.Spec.Placement == nil || len(p.Spec.Placement.Waves) != 1 {
		t.Errorf("prod: %s/%s value %q placement %+v", p.Namespace, p.Name, p.Spec.Value, p.Spec.Placement)
	}
	// Both name the base file they came from, not the overlay.
	for _, e := range []string{s.Annotations[SourceFileAnnotation], p.Annotations[SourceFileAnnotation]} {
		if e != "base/delay.yaml:1" {
			t.Errorf("source file %q, want base/delay.yaml:1", e)
		}
	}
	if _, ok := p.Annotations[originAnnotation]; ok {
		t.Errorf("kustomize's origin annotation leaked into the experiment")
	}
	if staging.Digest == prod.Digest {
		t.Errorf("different overlays share a digest")
	}
}

func TestKustomizeErrorsNameTheAuthorsFile(t *testing.T) {
	root := overlayRepo(t, map[string]string{
		// The prod patch sets an invalid percentage and a misspelt field:
		// the errors name the patch, where the author wrote them, not the
		// base that the patch changed.
		"overlays/prod/placement.yaml": "apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata:\n  name: checkout-delay\nspec:\n  value: \"500\"\n  durration: 1m\n",
	})
	got := buildErrors(t, root+"/overlays/prod", BuildOptions{Root: root})
	want := []string{
		"overlays/prod/placement.yaml:6: spec.value: with mode fixed-percent or random-max-percent, value must be a percentage from 1 to 100",
		"overlays/prod/placement.yaml:7: spec.durration: unknown field",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}

	root = overlayRepo(t, map[string]string{"base/delay.yaml": strings.Replace(validExperiment, "latency: 100ms", "latency: 100ms\n      lag: 1s", 1)})
	got = buildErrors(t, root+"/overlays/staging", BuildOptions{Root: root})
	want = []string{"base/delay.yaml:16: spec.fault.network.lag: unknown field"}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}

func TestKustomizeRefusesWhatLeavesTheCheckout(t *testing.T) {
	cases := []struct {
		name  string
		kust  string
		extra map[string]string
		want  string
		also  string // further text the error must hold
	}{{
		name: "remote base over https",
		kust: "resources:\n  - https://github.com/example/chaos//base?ref=main\n",
		want: `overlays/evil/kustomization.yaml:2: resources[0]: remote base "https://github.com/example/chaos//base?ref=main" is not allowed: everything must come from this repository`,
	}, {
		name: "remote base shorthand",
		kust: "resources:\n  - ../../base\n  - github.com/example/chaos/base?ref=v1\n",
		want: `overlays/evil/kustomization.yaml:3: resources[1]: remote base "github.com/example/chaos/base?ref=v1" is not allowed: everything must come from this repository`,
	}, {
		name: "../ escape",
		kust: "resources:\n  - ../../../outside\n",
		want: `overlays/evil/kustomization.yaml:2: resources[0]: "../../../outside": path escapes the checkout`,
	}, {
		name:  "escape through a symlink",
		kust:  "resources:\n  - link\n",
		extra: map[string]string{},
		want:  `overlays/evil/kustomization.yaml:2: resources[0]: "link": path escapes the checkout`,
	}, {
		name: "helm",
		kust: "helmCharts:\n  - name: podinfo\n    repo: https://stefanprodan.github.io/podinfo\n",
		want: "overlays/evil/kustomization.yaml:1: helmCharts: Helm chart inflation is not allowed in a chaos repository",
	}, {
		name: "exec plugin",
		kust: "resources:\n  - ../../base\ngenerators:\n  - gen.yaml\n",
		extra: map[string]string{"overlays/evil/gen.yaml": `apiVersion: example.com/v1
kind: Evil
metadata:
  name: evil
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: /bin/sh
`},
		want: "overlays/evil/kustomization.yaml: kustomize: loading generator plugins: failed to load generator: external plugins disabled",
	}, {
		name:  "patch outside the checkout",
		kust:  "resources:\n  - ../../base\npatches:\n  - path: ../../../etc/passwd\n",
		extra: map[string]string{},
		want:  "overlays/evil/kustomization.yaml: kustomize: trouble configuring builtin PatchTransformer",
		also:  "../etc/passwd: path escapes the checkout",
	}, {
		name:  "alias bomb in a resource",
		kust:  "resources:\n  - bomb.yaml\n",
		extra: map[string]string{"overlays/evil/bomb.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"},
		want:  "overlays/evil/bomb.yaml:",
		also:  "through YAML aliases; refused",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]string{"overlays/evil/kustomization.yaml": tc.kust}
			for k, v := range tc.extra {
				extra[k] = v
			}
			parent := t.TempDir()
			root := parent + "/repo"
			writeInto(t, root, overlayRepo(t, extra))
			writeInto(t, parent+"/outside", writeTree(t, map[string]string{"kustomization.yaml": "resources: [x.yaml]\n", "x.yaml": validExperiment}))
			if tc.name == "escape through a symlink" {
				symlink(t, parent+"/outside", root+"/overlays/evil/link")
			}
			got := buildErrors(t, root+"/overlays/evil", BuildOptions{Root: root})
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("errors %q\nwant one starting with %q", got, tc.want)
			}
			if len(got) == 1 && !strings.Contains(got[0], tc.also) {
				t.Errorf("error %q does not say %q", got[0], tc.also)
			}
			if strings.Contains(strings.Join(got, ""), parent) {
				t.Errorf("errors leak the checkout's absolute path: %q", got)
			}
		})
	}
}
