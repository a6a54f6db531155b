package sources

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/faultline-dev/faultline/crds"
	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// crdSchema applies the Experiment CRD's own OpenAPI schema and CEL rules,
// exactly as the API server does on create, so that an offline
// `faultline build` accepts and rejects what the hub's API server would:
// there is one copy of the rules (the kubebuilder markers), not two.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	experimentSchemaOnce sync.Once
	experimentSchema     *crdSchema
	experimentSchemaErr  error
)

// loadExperimentSchema compiles the embedded Experiment CRD once.
func loadExperimentSchema() (*crdSchema, error) {
	experimentSchemaOnce.Do(func() {
		experimentSchema, experimentSchemaErr = compileSchema("experiments." + v1alpha1.GroupVersion.Group)
	})
	return experimentSchema, experimentSchemaErr
}

func compileSchema(crdName string) (*crdSchema, error) {
	all, err := crds.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	for _, crd := range all {
		if crd.Name != crdName {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != v1alpha1.GroupVersion.Version || v.Schema == nil {
				continue
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, fmt.Errorf("converting the schema of %s: %w", crdName, err)
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("structural schema of %s: %w", crdName, err)
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				return nil, fmt.Errorf("schema validator of %s: %w", crdName, err)
			}
			return &crdSchema{
				structural: s,
				validator:  validator,
				cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
			}, nil
		}
	}
	return nil, fmt.Errorf("CRD %s version %s is not embedded", crdName, v1alpha1.GroupVersion.Version)
}

// defaultAndValidate applies the schema's defaults to obj in place, then
// validates it with the OpenAPI schema (types, enums, patterns, bounds,
// required) and the CEL rules, returning the errors of each apart.
func (s *crdSchema) defaultAndValidate(ctx context.Context, obj map[string]any) (schemaErrs, celErrs field.ErrorList) {
	structuraldefaulting.Default(obj, s.structural)
	schemaErrs = apiservervalidation.ValidateCustomResource(nil, obj, s.validator)
	if s.cel != nil {
		celErrs, _ = s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	}
	return schemaErrs, celErrs
}
