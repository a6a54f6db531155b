package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/policy/plan"
)

// loadPolicies reads a policy directory as the hub would hold it:
//   - every ChaosPolicy manifest (*.yaml, *.yml, *.json) is one policy, its
//     configMapRef modules read from ConfigMap manifests of the same directory,
//     or, failing that, from the .rego file named like the key (the file the
//     ConfigMap is generated from, as with kubectl create configmap --from-file);
//   - the loose *.rego files (tests aside) form one more policy, named after
//     the directory, with params as its data and library as its library rules.
func loadPolicies(dir string, params []byte, library []string) ([]policy.Spec, error) {
	var (
		specs   []policy.Spec
		loose   []policy.Module
		objects []*v1alpha1.ChaosPolicy
		cms     = map[string]*corev1.ConfigMap{}
	)
	err := filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, file)
		rel = filepath.ToSlash(rel)
		switch ext := filepath.Ext(file); {
		case ext == ".rego" && !strings.HasSuffix(file, "_test.rego"):
			src, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			loose = append(loose, policy.Module{Name: rel, Source: string(src)})
		case ext == ".yaml" || ext == ".yml" || ext == ".json":
			pols, maps, err := decodePolicyManifests(file)
			if err != nil {
				return err
			}
			objects = append(objects, pols...)
			for _, cm := range maps {
				cms[cm.Namespace+"/"+cm.Name] = cm
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	consumed := map[string]bool{}
	for _, obj := range objects {
		spec := policy.Spec{Name: obj.Name, Library: obj.Spec.Library, Enforcement: obj.Spec.Enforcement, Scope: obj.Spec.Scope}
		if obj.Spec.Data != nil {
			spec.Parameters = obj.Spec.Data.Raw
		}
		for _, m := range obj.Spec.Modules {
			src := m.Rego
			if ref := m.ConfigMapRef; ref != nil {
				cm := findConfigMap(cms, ref)
				switch {
				case cm != nil:
					var ok bool
					if src, ok = cm.Data[ref.Key]; !ok {
						return nil, fmt.Errorf("ChaosPolicy %s: module %s: ConfigMap %s has no key %q", obj.Name, m.Name, ref.Name, ref.Key)
					}
				default:
					i := slices.IndexFunc(loose, func(l policy.Module) bool { return path.Base(l.Name) == ref.Key })
					if i < 0 {
						return nil, fmt.Errorf("ChaosPolicy %s: module %s: no ConfigMap %s and no file %s in %s", obj.Name, m.Name, ref.Name, ref.Key, dir)
					}
					src = loose[i].Source
					consumed[loose[i].Name] = true
				}
			}
			spec.Modules = append(spec.Modules, policy.Module{Name: m.Name, Source: src})
		}
		specs = append(specs, spec)
	}
	loose = slices.DeleteFunc(loose, func(m policy.Module) bool { return consumed[m.Name] })
	if len(loose) > 0 || len(library) > 0 {
		abs, _ := filepath.Abs(dir)
		specs = append(specs, policy.Spec{Name: filepath.Base(abs), Modules: loose, Library: library, Parameters: params})
	} else if len(params) > 0 {
		return nil, fmt.Errorf("--data is for loose .rego modules and --library rules, and %s has neither: ChaosPolicy manifests carry their own data", dir)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no policy in %s: no ChaosPolicy manifest, no .rego file and no --library", dir)
	}
	return specs, nil
}

func findConfigMap(cms map[string]*corev1.ConfigMap, ref *v1alpha1.ConfigMapKeyReference) *corev1.ConfigMap {
	if ref.Namespace != "" {
		return cms[ref.Namespace+"/"+ref.Name]
	}
	// Without a namespace the hub reads its own; offline, any namespace will do.
	keys := make([]string, 0, len(cms))
	for k := range cms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if cms[k].Name == ref.Name {
			return cms[k]
		}
	}
	return nil
}

// decodePolicyManifests returns the ChaosPolicies and ConfigMaps of one
// file, strictly decoded; other kinds are ignored.
func decodePolicyManifests(path string) ([]*v1alpha1.ChaosPolicy, []*corev1.ConfigMap, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, nil, err
	}
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	var (
		pols []*v1alpha1.ChaosPolicy
		cms  []*corev1.ConfigMap
	)
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for doc := 1; ; doc++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(chunk, &meta); err != nil {
			// Not a manifest (a clusters list, say): not ours to judge.
			continue
		}
		if (meta.Kind != "ChaosPolicy" || meta.APIVersion != v1alpha1.GroupVersion.String()) && (meta.Kind != "ConfigMap" || meta.APIVersion != "v1") {
			continue
		}
		obj, _, err := codecs.UniversalDeserializer().Decode(chunk, nil, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		switch o := obj.(type) {
		case *v1alpha1.ChaosPolicy:
			pols = append(pols, o)
		case *corev1.ConfigMap:
			cms = append(cms, o)
		}
	}
	return pols, cms, nil
}

// readData reads a JSON or YAML object of policy parameters.
func readData(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%s: policy data must be an object", path)
	}
	return js, nil
}

// readMembers reads a clusters file: a list of {name, kind, labels, targets}.
func readMembers(path string) ([]plan.Member, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ms []plan.Member
	if err := yaml.UnmarshalStrict(raw, &ms); err != nil {
		return nil, fmt.Errorf("%s: want a list of {name, kind, labels, targets}: %w", path, err)
	}
	for i, m := range ms {
		if m.Name == "" {
			return nil, fmt.Errorf("%s: entry %d: name is required", path, i+1)
		}
	}
	return ms, nil
}

// gitSource describes the Git work tree holding dir: HEAD's revision in the
// hub's form (branch@sha1:<hash>), its author and the origin URL.
func gitSource(dir string) (policy.SourceInput, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return policy.SourceInput{}, err
	}
	head, err := repo.Head()
	if err != nil {
		return policy.SourceInput{}, err
	}
	src := policy.SourceInput{Revision: "sha1:" + head.Hash().String()}
	if head.Name().IsBranch() {
		src.Revision = head.Name().Short() + "@" + src.Revision
	}
	if c, err := repo.CommitObject(head.Hash()); err == nil {
		src.Author = fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email)
	}
	if r, err := repo.Remote("origin"); err == nil && len(r.Config().URLs) > 0 {
		src.URL = r.Config().URLs[0]
	}
	return src, nil
}
