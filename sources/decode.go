package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// SourceFileAnnotation records on each built Experiment the file and line
// of the document it came from, as "path:line".
const SourceFileAnnotation = "faultline.dev/source-file"

// TranslatedFromAnnotation records the Chaos Mesh kind an Experiment was
// translated from, such as chaos-mesh.org/v1alpha1/NetworkChaos.
const TranslatedFromAnnotation = "faultline.dev/translated-from"

// locator maps a field path of the decoded object to the file and line
// that declared it. For a plain file that is the document itself; for
// kustomize output it is the document the resource originally came from.
type locator func(p fieldPath) (file string, line int)

func nodeLocator(d document) locator {
	return func(p fieldPath) (string, int) { return d.file, lookupLine(d.root, p) }
}

// decoder decodes documents into Experiments, collecting every error.
type decoder struct {
	ctx       context.Context
	schema    *crdSchema
	errs      *BuildErrors
	namespace string // for objects that name none
}

// decode turns one document into an Experiment, or records why it cannot.
func (d *decoder) decode(obj map[string]any, loc locator) (*v1alpha1.Experiment, bool) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	switch {
	case apiVersion == "" || kind == "":
		d.fail(loc, fieldPath{}, "apiVersion and kind are required")
		return nil, false
	case apiVersion == v1alpha1.GroupVersion.String() && kind == "Experiment":
		return d.decodeExperiment(obj, loc, "")
	case apiVersion == chaosMeshAPIVersion:
		return d.decodeChaosMesh(obj, kind, loc)
	}
	d.fail(loc, fieldPath{}.key("kind"), "unsupported kind %s %s: a chaos repository holds %s Experiments and %s PodChaos, NetworkChaos, StressChaos or Schedule",
		apiVersion, kind, v1alpha1.GroupVersion.String(), chaosMeshAPIVersion)
	return nil, false
}

// decodeExperiment decodes strictly, applies the CRD's defaults and
// validates with the CRD's schema and CEL rules, as the API server would.
func (d *decoder) decodeExperiment(obj map[string]any, loc locator, translatedFrom string) (*v1alpha1.Experiment, bool) {
	before := len(d.errs.Errors)
	if _, ok := obj["status"]; ok && translatedFrom == "" {
		d.fail(loc, fieldPath{}.key("status"), "status is written by the hub and must not be set in Git")
		delete(obj, "status")
	}

	// Defaults, OpenAPI schema (types, enums, patterns, bounds, required)
	// and CEL, as the API server applies them.
	schemaErrs, celErrs := d.schema.defaultAndValidate(d.ctx, obj)
	reported := map[string]bool{}
	for _, fe := range schemaErrs {
		p := parseFieldPath(fe.Field)
		reported[p.String()] = true
		d.fail(loc, p, "%s", fieldErrorMessage(fe))
	}
	for _, fe := range celErrs {
		p := parseFieldPath(fe.Field)
		if reported[p.String()] {
			continue // a rule on a malformed value only repeats the schema's error
		}
		d.fail(loc, p, "%s", celErrorMessage(fe))
	}

	// Unknown fields (which the schema would silently prune) and any type
	// mismatch the schema did not name, without the fields already reported.
	unlocated := d.strictDecode(withoutPaths(obj, reported), &v1alpha1.Experiment{}, loc)
	d.validateMeta(obj, loc)
	if unlocated != "" && len(d.errs.Errors) == before {
		d.fail(loc, fieldPath{}, "%s", unlocated)
	}
	if len(d.errs.Errors) > before {
		return nil, false
	}

	exp := &v1alpha1.Experiment{}
	raw, err := json.Marshal(obj)
	if err == nil {
		err = sigsjson.UnmarshalCaseSensitivePreserveInts(raw, exp)
	}
	if err != nil {
		d.fail(loc, fieldPath{}, "%v", err)
		return nil, false
	}
	if exp.Namespace == "" {
		exp.Namespace = d.namespace
	}
	file, line := loc(nil)
	if exp.Annotations == nil {
		exp.Annotations = map[string]string{}
	}
	exp.Annotations[SourceFileAnnotation] = fmt.Sprintf("%s:%d", file, line)
	if translatedFrom != "" {
		exp.Annotations[TranslatedFromAnnotation] = translatedFrom
	}
	return exp, true
}

var typeErrRe = regexp.MustCompile(`cannot unmarshal (.+) into Go struct field [^.]+\.(\S+) of type (\S+)`)

// strictDecode reports unknown fields and type mismatches of obj against
// the Go type of out. encoding/json stops at the first type mismatch and
// drops the strict errors with it, so each mismatch is reported and removed
// and the decode runs again. It returns an error it could not locate (of a
// custom unmarshaler, such as a malformed duration) for the caller to
// report when nothing more precise was found.
func (d *decoder) strictDecode(obj map[string]any, out any, loc locator) (unlocated string) {
	target := out // decoded into while nothing was removed; callers read it
	for range 32 {
		raw, err := json.Marshal(obj)
		if err != nil {
			d.fail(loc, fieldPath{}, "%v", err)
			return ""
		}
		strict, err := sigsjson.UnmarshalStrict(raw, target)
		if err == nil {
			for _, se := range strict {
				if fe, ok := se.(sigsjson.FieldError); ok {
					msg := "unknown field"
					if strings.Contains(se.Error(), "duplicate field") {
						msg = "duplicate field"
					}
					d.fail(loc, parseFieldPath(fe.FieldPath()), "%s", msg)
					continue
				}
				d.fail(loc, fieldPath{}, "%v", se)
			}
			return ""
		}
		m := typeErrRe.FindStringSubmatch(err.Error())
		if m == nil {
			return err.Error()
		}
		p := parseFieldPath(m[2])
		d.fail(loc, p, "wrong type: got %s, want %s", m[1], goTypeName(m[3]))
		obj = withoutPaths(obj, map[string]bool{p.String(): true})
		target = reflect.New(reflect.TypeOf(out).Elem()).Interface()
	}
	return ""
}

// withoutPaths returns a copy of obj without the fields at paths (keys
// only; a path through a list removes nothing).
func withoutPaths(obj map[string]any, paths map[string]bool) map[string]any {
	var walk func(v any, p fieldPath) any
	walk = func(v any, p fieldPath) any {
		switch t := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(t))
			for k, c := range t {
				cp := p.key(k)
				if paths[cp.String()] {
					continue
				}
				out[k] = walk(c, cp)
			}
			return out
		case []any:
			out := make([]any, len(t))
			for i, c := range t {
				out[i] = walk(c, p.index(i))
			}
			return out
		}
		return v
	}
	return walk(obj, nil).(map[string]any)
}

// goTypeName turns Go type names into the words of a manifest's author.
func goTypeName(t string) string {
	t = strings.TrimLeft(t, "*[]")
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "integer"
	case strings.HasPrefix(t, "float"):
		return "number"
	case t == "string", strings.HasSuffix(t, "Mode"), strings.HasSuffix(t, "Action"):
		return "string"
	case t == "bool":
		return "boolean"
	case strings.HasPrefix(t, "map"):
		return "mapping"
	}
	return "mapping"
}

// validateMeta checks what the API server checks of metadata.
func (d *decoder) validateMeta(obj map[string]any, loc locator) {
	md, _ := obj["metadata"].(map[string]any)
	meta := fieldPath{}.key("metadata")
	name, _ := md["name"].(string)
	if name == "" {
		d.fail(loc, meta.key("name"), "required")
	} else {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
			d.fail(loc, meta.key("name"), "%q: %s", name, msg)
		}
	}
	if ns, _ := md["namespace"].(string); ns != "" {
		for _, msg := range apimachineryvalidation.ValidateNamespaceName(ns, false) {
			d.fail(loc, meta.key("namespace"), "%q: %s", ns, msg)
		}
	}
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, fe := range metav1validation.ValidateLabels(stringMap(labels), field.NewPath("metadata", "labels")) {
			d.fail(loc, parseFieldPath(fe.Field), "%s", fieldErrorMessage(fe))
		}
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		for _, fe := range apimachineryvalidation.ValidateAnnotations(stringMap(ann), field.NewPath("metadata", "annotations")) {
			d.fail(loc, parseFieldPath(fe.Field), "%s", fieldErrorMessage(fe))
		}
	}
}

func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

// fieldErrorMessage is the body of an apiserver field error, without the
// field (we print that separately) and without the noise of an object value.
func fieldErrorMessage(fe *field.Error) string {
	if fe.Type == field.ErrorTypeInvalid || fe.Type == field.ErrorTypeTypeInvalid {
		// The OpenAPI validator repeats the field ("spec.x in body should").
		fe.Detail = strings.Replace(fe.Detail, fe.Field+" in body ", "", 1)
		if m := schemaTypeRe.FindStringSubmatch(fe.Detail); m != nil {
			return fmt.Sprintf("wrong type: got %s, want %s", m[2], m[1])
		}
	}
	switch fe.Type {
	case field.ErrorTypeRequired:
		return "required"
	case field.ErrorTypeInvalid:
		switch fe.BadValue.(type) {
		case map[string]any, []any, nil:
			return fe.Detail
		}
	}
	return strings.TrimSuffix(fe.ErrorBody(), ".")
}

var schemaTypeRe = regexp.MustCompile(`^must be of type (\w+): "(\w+)"$`)

// celErrorMessage is a CEL rule's own message.
func celErrorMessage(fe *field.Error) string {
	if fe.Detail != "" {
		return fe.Detail
	}
	return fieldErrorMessage(fe)
}

// fail records an error at path.
func (d *decoder) fail(loc locator, p fieldPath, format string, args ...any) {
	file, line := loc(p)
	d.errs.add(file, line, p.String(), format, args...)
}
