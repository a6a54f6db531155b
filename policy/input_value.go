package policy

import (
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Hand-written converters of the input's own types (everything but the
// experiment's spec, a CRD type left to the reflective encoder). They give
// exactly what the JSON route gives, which input_value_test.go checks over
// every field, so a field added to these types without a line here fails
// the tests. Topdown takes the input this way (Input.Value); irvm reads it
// on demand instead (input_lazy.go).

// Keys of the input document, built once: every conversion shares them.
var (
	kExperiment        = ast.StringTerm("experiment")
	kSource            = ast.StringTerm("source")
	kPlacement         = ast.StringTerm("placement")
	kBlastRadius       = ast.StringTerm("blastRadius")
	kNow               = ast.StringTerm("now")
	kApprovals         = ast.StringTerm("approvals")
	kActiveExperiments = ast.StringTerm("activeExperiments")
	kMetadata          = ast.StringTerm("metadata")
	kSpec              = ast.StringTerm("spec")
	kFaultKind         = ast.StringTerm("faultKind")
	kName              = ast.StringTerm("name")
	kNamespace         = ast.StringTerm("namespace")
	kLabels            = ast.StringTerm("labels")
	kAnnotations       = ast.StringTerm("annotations")
	kURL               = ast.StringTerm("url")
	kRevision          = ast.StringTerm("revision")
	kAuthor            = ast.StringTerm("author")
	kSigner            = ast.StringTerm("signer")
	kTargets           = ast.StringTerm("targets")
	kKind              = ast.StringTerm("kind")
	kWave              = ast.StringTerm("wave")
	kSelected          = ast.StringTerm("selected")
	kMatching          = ast.StringTerm("matching")
	kPercent           = ast.StringTerm("percent")
	kTime              = ast.StringTerm("time")
	kNS                = ast.StringTerm("ns")
	kTimeZone          = ast.StringTerm("timeZone")
	kApprover          = ast.StringTerm("approver")
	kCurrent           = ast.StringTerm("current")
	kUsername          = ast.StringTerm("username")
	kUID               = ast.StringTerm("uid")
	kGroups            = ast.StringTerm("groups")
	kClusters          = ast.StringTerm("clusters")
	kAgents            = ast.StringTerm("agents")
)

func (e *encoder) input(in *Input) (ast.Value, error) {
	exp, err := e.experiment(&in.Experiment)
	if err != nil {
		return nil, err
	}
	radii, err := e.blastRadii(in.BlastRadius)
	if err != nil {
		return nil, err
	}
	var o objectBuilder
	o.add(kExperiment, e.term(exp))
	o.add(kSource, e.term(e.source(&in.Source)))
	o.add(kPlacement, e.term(e.placement(&in.Placement)))
	o.add(kBlastRadius, e.term(radii))
	o.add(kNow, e.term(e.now(&in.Now)))
	o.add(kApprovals, e.term(e.approvals(in.Approvals)))
	o.add(kActiveExperiments, e.term(e.active(&in.ActiveExperiments)))
	return o.object(), nil
}

func (e *encoder) experiment(x *ExperimentInput) (ast.Value, error) {
	// Addressable, as in json.Marshal(&input): pointer-receiver marshalers
	// apply.
	v := reflect.ValueOf(&x.Spec).Elem()
	spec, err := typeEncoder(v.Type())(e, v)
	if err != nil {
		return nil, err
	}
	var o objectBuilder
	o.add(kMetadata, e.term(e.metadata(&x.Metadata)))
	o.add(kSpec, e.term(spec))
	o.add(kFaultKind, e.str(x.FaultKind))
	return o.object(), nil
}

func (e *encoder) metadata(m *MetadataInput) ast.Value {
	var o objectBuilder
	o.add(kName, e.str(m.Name))
	o.add(kNamespace, e.str(m.Namespace))
	if len(m.Labels) > 0 {
		o.add(kLabels, e.term(e.stringMap(m.Labels)))
	}
	if len(m.Annotations) > 0 {
		o.add(kAnnotations, e.term(e.stringMap(m.Annotations)))
	}
	return o.object()
}

func (e *encoder) source(s *SourceInput) ast.Value {
	var o objectBuilder
	if s.Namespace != "" {
		o.add(kNamespace, e.str(s.Namespace))
	}
	if s.Name != "" {
		o.add(kName, e.str(s.Name))
	}
	if len(s.Labels) > 0 {
		o.add(kLabels, e.term(e.stringMap(s.Labels)))
	}
	o.add(kURL, e.str(s.URL))
	o.add(kRevision, e.str(s.Revision))
	if s.Author != "" {
		o.add(kAuthor, e.str(s.Author))
	}
	if s.Signer != "" {
		o.add(kSigner, e.str(s.Signer))
	}
	return o.object()
}

func (e *encoder) placement(pl *PlacementInput) ast.Value {
	var o objectBuilder
	o.add(kTargets, e.term(e.targets(pl.Targets)))
	return o.object()
}

func (e *encoder) targets(ts []TargetInput) ast.Value {
	if ts == nil {
		return ast.Null{}
	}
	elems := e.terms(len(ts))
	for i := range ts {
		elems[i] = e.term(e.target(&ts[i]))
	}
	return ast.NewArray(elems...)
}

func (e *encoder) target(t *TargetInput) ast.Value {
	var o objectBuilder
	o.add(kKind, e.str(t.Kind))
	o.add(kName, e.str(t.Name))
	o.add(kLabels, e.term(e.stringMap(t.Labels)))
	if t.Wave != "" {
		o.add(kWave, e.str(t.Wave))
	}
	return o.object()
}

func (e *encoder) blastRadii(bs []BlastRadius) (ast.Value, error) {
	if bs == nil {
		return ast.Null{}, nil
	}
	elems := e.terms(len(bs))
	for i := range bs {
		b := &bs[i]
		percent, err := encodeFloat(b.Percent, 64)
		if err != nil {
			return nil, err
		}
		var o objectBuilder
		o.add(kKind, e.str(b.Kind))
		o.add(kName, e.str(b.Name))
		o.add(kSelected, e.term(intValue(int64(b.Selected))))
		o.add(kMatching, e.term(intValue(int64(b.Matching))))
		o.add(kPercent, e.term(percent))
		elems[i] = e.term(o.object())
	}
	return ast.NewArray(elems...), nil
}

func (e *encoder) now(n *NowInput) ast.Value {
	var o objectBuilder
	o.add(kTime, e.str(n.Time))
	o.add(kNS, e.term(intValue(n.NS)))
	o.add(kTimeZone, e.str(n.TimeZone))
	return o.object()
}

func (e *encoder) approvals(as []ApprovalInput) ast.Value {
	if as == nil {
		return ast.Null{}
	}
	elems := e.terms(len(as))
	for i := range as {
		a := &as[i]
		var o objectBuilder
		o.add(kName, e.str(a.Name))
		o.add(kApprover, e.term(e.userIdentity(&a.Approver)))
		o.add(kRevision, e.str(a.Revision))
		o.add(kCurrent, ast.InternedTerm(a.Current))
		elems[i] = e.term(o.object())
	}
	return ast.NewArray(elems...)
}

func (e *encoder) userIdentity(u *v1alpha1.UserIdentity) ast.Value {
	var o objectBuilder
	o.add(kUsername, e.str(u.Username))
	if u.UID != "" {
		o.add(kUID, e.str(u.UID))
	}
	if len(u.Groups) > 0 {
		groups := e.terms(len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = e.str(g)
		}
		o.add(kGroups, e.term(ast.NewArray(groups...)))
	}
	return o.object()
}

func (e *encoder) active(a *ActiveExperiments) ast.Value {
	var o objectBuilder
	if len(a.Clusters) > 0 {
		o.add(kClusters, e.term(e.countMap(a.Clusters)))
	}
	if len(a.Agents) > 0 {
		o.add(kAgents, e.term(e.countMap(a.Agents)))
	}
	return o.object()
}

// stringMap converts labels.
func (e *encoder) stringMap(m map[string]string) ast.Value {
	return convertMap(e, m, e.str)
}

func (e *encoder) countMap(m map[string]int) ast.Value {
	return convertMap(e, m, func(v int) *ast.Term { return e.term(intValue(int64(v))) })
}

// convertMap converts a map keyed by strings, its values with value. Keys
// with invalid UTF-8 are left to encoding/json, which may collapse two of
// them into one.
func convertMap[V any](e *encoder, m map[string]V, value func(V) *ast.Term) ast.Value {
	if m == nil {
		return ast.Null{}
	}
	var o objectBuilder
	o.init(len(m))
	for k, v := range m {
		if !utf8.ValidString(k) {
			return e.mapViaJSON(m)
		}
		o.add(e.term(ast.String(k)), value(v))
	}
	return o.object()
}

// mapViaJSON converts a map whose keys are not valid UTF-8 as encoding/json
// would; a failure, which cannot happen for these maps, gives null.
func (e *encoder) mapViaJSON(m any) ast.Value {
	v, err := viaJSON(e, reflect.ValueOf(m))
	if err != nil {
		return ast.Null{}
	}
	return v
}

// str is a string's term.
func (e *encoder) str(s string) *ast.Term {
	if s == "" {
		return emptyString
	}
	return e.term(jsonString(s))
}

var emptyString = ast.StringTerm("")

// jsonString is s as encoding/json writes it: each byte of an invalid
// UTF-8 sequence becomes U+FFFD.
func jsonString(s string) ast.Value {
	if utf8.ValidString(s) {
		return ast.String(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return ast.String(b.String())
}

// intValue is an integer's number; small ones are OPA's interned values.
func intValue(i int64) ast.Value {
	if 0 <= i && i < 256 {
		return ast.InternedTerm(int(i)).Value
	}
	return ast.Number(strconv.FormatInt(i, 10))
}
