package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// handWritten are the types input_value.go converts by hand, with their
// field counts when the converters were written. A new field must get a
// line in the converter; TestInputConvertersAgreeWithJSON then checks it.
var handWritten = map[reflect.Type]int{
	reflect.TypeFor[Input]():                 7,
	reflect.TypeFor[ExperimentInput]():       3,
	reflect.TypeFor[MetadataInput]():         4,
	reflect.TypeFor[SourceInput]():           7,
	reflect.TypeFor[PlacementInput]():        1,
	reflect.TypeFor[TargetInput]():           4,
	reflect.TypeFor[BlastRadius]():           5,
	reflect.TypeFor[NowInput]():              3,
	reflect.TypeFor[ApprovalInput]():         4,
	reflect.TypeFor[v1alpha1.UserIdentity](): 3,
	reflect.TypeFor[ActiveExperiments]():     2,
}

func TestHandWrittenConvertersCoverEveryField(t *testing.T) {
	for typ, n := range handWritten {
		if typ.NumField() != n {
			t.Errorf("%s has %d fields, its converter in input_value.go was written for %d: convert the new field there and update this count",
				typ, typ.NumField(), n)
		}
	}
}

// The hand-written converters must give what the JSON route gives, for
// inputs with every field of the hand-written types filled at random (so a
// field the converters miss shows), empty, nil, or holding invalid UTF-8,
// tiny and huge numbers.
func TestInputConvertersAgreeWithJSON(t *testing.T) {
	specs := testSpecs()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		in := &Input{}
		fill(t, rng, reflect.ValueOf(in).Elem())
		in.Experiment.Spec = specs[i%len(specs)]
		if msg := valueDiffersFromJSON(t, in); msg != "" {
			t.Fatalf("input %d:\n%s", i, msg)
		}
	}
}

// fill sets v to random content. Structs of the input's own types are
// filled field by field, whatever fields they have; the spec is left to the
// caller (a CRD type, converted by the reflective encoder, tested in
// value_test.go).
func fill(t *testing.T, rng *rand.Rand, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[v1alpha1.ExperimentSpec]() {
			return
		}
		if _, ok := handWritten[v.Type()]; !ok {
			t.Fatalf("fill does not know %s: is it a new type in the input? Convert it in input_value.go and list it in handWritten", v.Type())
		}
		for i := range v.NumField() {
			fill(t, rng, v.Field(i))
		}
	case reflect.String:
		v.SetString(randomString(rng))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int64:
		ints := []int64{0, 1, 255, 256, -1, -300, math.MaxInt32, rng.Int64(), -rng.Int64()}
		v.SetInt(ints[rng.IntN(len(ints))])
	case reflect.Float64:
		floats := []float64{0, 25, 100.0 / 3, 1e-7, 1e22, -0.5, rng.Float64() * 100, math.SmallestNonzeroFloat64}
		v.SetFloat(floats[rng.IntN(len(floats))])
	case reflect.Slice:
		switch n := rng.IntN(4); n {
		case 0: // nil
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for i := range s.Len() {
				fill(t, rng, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Map:
		switch n := rng.IntN(4); n {
		case 0: // nil
		default:
			m := reflect.MakeMap(v.Type())
			for range n - 1 {
				k, x := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fill(t, rng, k)
				fill(t, rng, x)
				m.SetMapIndex(k, x)
			}
			v.Set(m)
		}
	default:
		t.Fatalf("fill does not know %s: convert it in input_value.go and teach fill", v.Type())
	}
}

func randomString(rng *rand.Rand) string {
	pool := []string{"", "prod-eu", "MemberCluster", "a<b>&\"c\"", "é ü \u2028", "x\xffy", "\xc3", "kube-system", "sre"}
	if rng.IntN(3) == 0 {
		return fmt.Sprintf("s-%d", rng.IntN(1000))
	}
	return pool[rng.IntN(len(pool))]
}

func testSpecs() []v1alpha1.ExperimentSpec {
	pid := int32(42)
	size := resource.MustParse("256Mi")
	return []v1alpha1.ExperimentSpec{
		{},
		{
			Placement: &v1alpha1.Placement{
				Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod", "bad\xff": "x"}},
				Agents:   &metav1.LabelSelector{},
				Waves:    []v1alpha1.Wave{{Name: "w1"}},
			},
			Selector: v1alpha1.PodSelector{Namespaces: []string{"a", "b"}, LabelSelectors: map[string]string{"app": "x\xff"}},
			Mode:     v1alpha1.ModeFixedPercent, Value: "25",
			Duration: &metav1.Duration{Duration: 90 * time.Second},
			Fault: v1alpha1.FaultSpec{
				Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: time.Millisecond}},
				Stress:  &v1alpha1.StressFault{Action: v1alpha1.StressMemory, Size: &size},
				Process: &v1alpha1.ProcessFault{Action: v1alpha1.ProcessKill, Pid: &pid},
				Plugin:  &v1alpha1.PluginFault{Config: &apiextensionsv1.JSON{Raw: []byte(`{"a":[1,2.5e-9]}`)}},
			},
			Probes:        []v1alpha1.Probe{{Name: "p", Mode: v1alpha1.ProbeDuring}},
			AbortOnBreach: true,
		},
	}
}
