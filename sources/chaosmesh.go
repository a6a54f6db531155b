package sources

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Chaos Mesh manifests are accepted unchanged and translated field for field
// into Experiments. Only what faultline can honour is accepted: a field
// without an equivalent is an error naming it, never silently dropped, so a
// translated experiment does exactly what its author asked for or nothing.
//
// One difference is deliberate: Chaos Mesh runs a chaos without duration
// until it is deleted; faultline never injects without a deadline, so such
// an experiment takes the Experiment default (5m).

const chaosMeshAPIVersion = "chaos-mesh.org/v1alpha1"

// cmSelector is Chaos Mesh's PodSelector (selector, mode, value). Its
// selector vocabulary is ours by design.
type cmSelector struct {
	Selector v1alpha1.PodSelector `json:"selector"`
	Mode     string               `json:"mode"`
	Value    string               `json:"value,omitempty"`
}

type cmPodChaosSpec struct {
	cmSelector     `json:",inline"`
	ContainerNames []string `json:"containerNames,omitempty"`
	Action         string   `json:"action"`
	Duration       *string  `json:"duration,omitempty"`
	GracePeriod    int64    `json:"gracePeriod,omitempty"`
}

type cmDelay struct {
	Latency     string `json:"latency"`
	Correlation string `json:"correlation,omitempty"`
	Jitter      string `json:"jitter,omitempty"`
}

type cmLoss struct {
	Loss        string `json:"loss"`
	Correlation string `json:"correlation,omitempty"`
}

type cmDuplicate struct {
	Duplicate   string `json:"duplicate"`
	Correlation string `json:"correlation,omitempty"`
}

type cmCorrupt struct {
	Corrupt     string `json:"corrupt"`
	Correlation string `json:"correlation,omitempty"`
}

type cmBandwidth struct {
	Rate   string `json:"rate"`
	Limit  uint32 `json:"limit"`
	Buffer uint32 `json:"buffer"`
}

type cmNetworkChaosSpec struct {
	cmSelector      `json:",inline"`
	Action          string       `json:"action"`
	Duration        *string      `json:"duration,omitempty"`
	Direction       string       `json:"direction,omitempty"`
	Target          *cmSelector  `json:"target,omitempty"`
	ExternalTargets []string     `json:"externalTargets,omitempty"`
	Device          string       `json:"device,omitempty"`
	Delay           *cmDelay     `json:"delay,omitempty"`
	Loss            *cmLoss      `json:"loss,omitempty"`
	Duplicate       *cmDuplicate `json:"duplicate,omitempty"`
	Corrupt         *cmCorrupt   `json:"corrupt,omitempty"`
	Bandwidth       *cmBandwidth `json:"bandwidth,omitempty"`
}

type cmCPUStressor struct {
	Workers int32  `json:"workers"`
	Load    *int32 `json:"load,omitempty"`
}

type cmMemoryStressor struct {
	Workers int32  `json:"workers,omitempty"`
	Size    string `json:"size,omitempty"`
}

type cmStressors struct {
	CPU    *cmCPUStressor    `json:"cpu,omitempty"`
	Memory *cmMemoryStressor `json:"memory,omitempty"`
}

type cmStressChaosSpec struct {
	cmSelector `json:",inline"`
	Stressors  *cmStressors `json:"stressors,omitempty"`
	Duration   *string      `json:"duration,omitempty"`
}

type cmScheduleSpec struct {
	Schedule          string              `json:"schedule"`
	HistoryLimit      int32               `json:"historyLimit,omitempty"`
	ConcurrencyPolicy string              `json:"concurrencyPolicy,omitempty"`
	Type              string              `json:"type"`
	PodChaos          *cmPodChaosSpec     `json:"podChaos,omitempty"`
	NetworkChaos      *cmNetworkChaosSpec `json:"networkChaos,omitempty"`
	StressChaos       *cmStressChaosSpec  `json:"stressChaos,omitempty"`
}

// cmObject is any of the accepted kinds; Spec is decoded per kind.
type cmObject[S any] struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              S `json:"spec"`
}

// translation maps Experiment field paths back to the Chaos Mesh fields
// they came from, so validation errors point at the author's line.
type translation []struct{ from, to string }

func (t translation) locator(loc locator) locator {
	return func(p fieldPath) (string, int) {
		s := p.String()
		best, bestTo := "", ""
		for _, r := range t {
			if (s == r.from || strings.HasPrefix(s, r.from+".") || strings.HasPrefix(s, r.from+"[")) && len(r.from) > len(best) {
				best, bestTo = r.from, r.to
			}
		}
		if best != "" {
			s = bestTo + strings.TrimPrefix(s, best)
		}
		return loc(parseFieldPath(s))
	}
}

// decodeChaosMesh decodes a Chaos Mesh object strictly and translates it.
func (d *decoder) decodeChaosMesh(obj map[string]any, kind string, loc locator) (*v1alpha1.Experiment, bool) {
	before := len(d.errs.Errors)
	var (
		exp   = &v1alpha1.Experiment{}
		trans translation
	)
	ok := false
	switch kind {
	case "PodChaos":
		trans, ok = decodeChaosMeshSpec(d, obj, loc, exp, func(s *cmPodChaosSpec) translation { return d.translatePod(&exp.Spec, s, "spec", loc) })
	case "NetworkChaos":
		trans, ok = decodeChaosMeshSpec(d, obj, loc, exp, func(s *cmNetworkChaosSpec) translation { return d.translateNetwork(&exp.Spec, s, "spec", loc) })
	case "StressChaos":
		trans, ok = decodeChaosMeshSpec(d, obj, loc, exp, func(s *cmStressChaosSpec) translation { return d.translateStress(&exp.Spec, s, "spec", loc) })
	case "Schedule":
		trans, ok = decodeChaosMeshSpec(d, obj, loc, exp, func(s *cmScheduleSpec) translation { return d.translateSchedule(&exp.Spec, s, loc) })
	default:
		d.fail(loc, fieldPath{}.key("kind"), "unsupported Chaos Mesh kind %s: faultline translates PodChaos, NetworkChaos, StressChaos and Schedule", kind)
		return nil, false
	}
	if !ok || len(d.errs.Errors) > before {
		return nil, false
	}
	trans = append(trans, struct{ from, to string }{"metadata", "metadata"})
	exp.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Experiment"}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(exp)
	if err != nil {
		d.fail(loc, fieldPath{}, "translating %s: %v", kind, err)
		return nil, false
	}
	delete(u, "status")
	if md, ok := u["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return d.decodeExperiment(u, trans.locator(loc), chaosMeshAPIVersion+"/"+kind)
}

// decodeChaosMeshSpec decodes one Chaos Mesh kind strictly into exp's
// metadata and translates its spec; false when the object does not decode.
func decodeChaosMeshSpec[S any](d *decoder, obj map[string]any, loc locator, exp *v1alpha1.Experiment, translate func(*S) translation) (translation, bool) {
	var o cmObject[S]
	if !d.strictChaosMesh(obj, &o, loc) {
		return nil, false
	}
	exp.ObjectMeta = o.ObjectMeta
	return translate(&o.Spec), true
}

func (d *decoder) strictChaosMesh(obj map[string]any, out any, loc locator) bool {
	before := len(d.errs.Errors)
	delete(obj, "status") // exported from a cluster: the state is not the intent
	unlocated := d.strictDecode(obj, out, loc)
	if unlocated != "" && len(d.errs.Errors) == before {
		d.fail(loc, fieldPath{}, "%s", unlocated)
	}
	return len(d.errs.Errors) == before
}

// translateCommon carries selector, mode, value and duration over.
func (d *decoder) translateCommon(spec *v1alpha1.ExperimentSpec, sel cmSelector, duration *string, at string, loc locator) translation {
	spec.Selector = sel.Selector
	spec.Mode = v1alpha1.SelectorMode(sel.Mode)
	spec.Value = sel.Value
	if duration != nil && *duration != "" {
		dur, err := time.ParseDuration(*duration)
		if err != nil {
			d.fail(loc, parseFieldPath(at+".duration"), "invalid duration %q", *duration)
		} else {
			spec.Duration = &metav1.Duration{Duration: dur}
		}
	}
	return translation{
		{"spec.selector", at + ".selector"},
		{"spec.mode", at + ".mode"},
		{"spec.value", at + ".value"},
		{"spec.duration", at + ".duration"},
		{"spec", at},
	}
}

func (d *decoder) translatePod(spec *v1alpha1.ExperimentSpec, in *cmPodChaosSpec, at string, loc locator) translation {
	t := d.translateCommon(spec, in.cmSelector, in.Duration, at, loc)
	pod := &v1alpha1.PodFault{}
	switch in.Action {
	case "pod-kill":
		pod.Action = v1alpha1.PodKill
		if in.GracePeriod > 0 {
			pod.GracePeriodSeconds = &in.GracePeriod
		}
		if len(in.ContainerNames) > 0 {
			d.fail(loc, parseFieldPath(at+".containerNames"), "pod-kill kills whole pods; containerNames has no meaning")
		}
	case "pod-failure":
		pod.Action = v1alpha1.PodFailure
		pod.ContainerNames = in.ContainerNames
	case "container-kill":
		d.fail(loc, parseFieldPath(at+".action"), "container-kill has no faultline equivalent; use pod-failure with containerNames")
	default:
		d.fail(loc, parseFieldPath(at+".action"), "unsupported value %q: supported values: \"pod-kill\", \"pod-failure\"", in.Action)
	}
	spec.Fault.Pod = pod
	return append(t, struct{ from, to string }{"spec.fault", at + ".action"})
}

func (d *decoder) translateNetwork(spec *v1alpha1.ExperimentSpec, in *cmNetworkChaosSpec, at string, loc locator) translation {
	t := d.translateCommon(spec, in.cmSelector, in.Duration, at, loc)
	nf := &v1alpha1.NetworkFault{
		Direction:       v1alpha1.Direction(in.Direction),
		Device:          in.Device,
		ExternalTargets: in.ExternalTargets,
	}
	if in.Target != nil {
		nf.Target = &v1alpha1.PeerSelector{Selector: in.Target.Selector, Mode: v1alpha1.SelectorMode(in.Target.Mode), Value: in.Target.Value}
	}
	// Each action reads its own block; any other block would be ignored by
	// Chaos Mesh too, but here it is most likely a mistake, so refuse it.
	blocks := map[string]bool{"delay": in.Delay != nil, "loss": in.Loss != nil, "duplicate": in.Duplicate != nil, "corrupt": in.Corrupt != nil, "bandwidth": in.Bandwidth != nil}
	for name, set := range blocks {
		if set && name != in.Action {
			d.fail(loc, parseFieldPath(at+"."+name), "set, but action is %q", in.Action)
		}
	}
	action := in.Action
	if action == "netem" {
		d.fail(loc, parseFieldPath(at+".action"), "netem combines several faults; faultline runs one fault per experiment: use delay, loss, duplicate or corrupt")
	}
	need := func(set bool) bool {
		if !set {
			d.fail(loc, parseFieldPath(at+"."+action), "required by action %s", action)
		}
		return set
	}
	parseDur := func(s, field string) *metav1.Duration {
		if s == "" {
			return nil
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(loc, parseFieldPath(at+"."+field), "invalid duration %q", s)
			return nil
		}
		return &metav1.Duration{Duration: dur}
	}
	switch action {
	case "delay":
		nf.Action = v1alpha1.NetworkDelay
		if need(in.Delay != nil) {
			nf.Latency = parseDur(in.Delay.Latency, "delay.latency")
			nf.Jitter = parseDur(in.Delay.Jitter, "delay.jitter")
			nf.Correlation = in.Delay.Correlation
		}
	case "loss":
		nf.Action = v1alpha1.NetworkLoss
		if need(in.Loss != nil) {
			nf.Percent, nf.Correlation = in.Loss.Loss, in.Loss.Correlation
		}
	case "duplicate":
		nf.Action = v1alpha1.NetworkDuplicate
		if need(in.Duplicate != nil) {
			nf.Percent, nf.Correlation = in.Duplicate.Duplicate, in.Duplicate.Correlation
		}
	case "corrupt":
		nf.Action = v1alpha1.NetworkCorrupt
		if need(in.Corrupt != nil) {
			nf.Percent, nf.Correlation = in.Corrupt.Corrupt, in.Corrupt.Correlation
		}
	case "partition":
		nf.Action = v1alpha1.NetworkPartition
	case "bandwidth":
		nf.Action = v1alpha1.NetworkBandwidth
		if need(in.Bandwidth != nil) {
			bw := &v1alpha1.BandwidthSpec{Rate: in.Bandwidth.Rate}
			if in.Bandwidth.Limit > 0 {
				l := int64(in.Bandwidth.Limit)
				bw.Limit = &l
			}
			if in.Bandwidth.Buffer > 0 {
				b := int64(in.Bandwidth.Buffer)
				bw.Buffer = &b
			}
			nf.Bandwidth = bw
		}
	case "netem":
	default:
		d.fail(loc, parseFieldPath(at+".action"), "unsupported value %q: supported values: \"delay\", \"loss\", \"duplicate\", \"corrupt\", \"partition\", \"bandwidth\"", in.Action)
	}
	spec.Fault.Network = nf
	block := at + "." + action
	return append(t, translation{
		{"spec.fault.network.latency", block + ".latency"},
		{"spec.fault.network.jitter", block + ".jitter"},
		{"spec.fault.network.correlation", block + ".correlation"},
		{"spec.fault.network.percent", block + "." + action},
		{"spec.fault.network.bandwidth", block},
		{"spec.fault.network.direction", at + ".direction"},
		{"spec.fault.network.target", at + ".target"},
		{"spec.fault.network.externalTargets", at + ".externalTargets"},
		{"spec.fault.network.device", at + ".device"},
		{"spec.fault", at + ".action"},
	}...)
}

func (d *decoder) translateStress(spec *v1alpha1.ExperimentSpec, in *cmStressChaosSpec, at string, loc locator) translation {
	t := d.translateCommon(spec, in.cmSelector, in.Duration, at, loc)
	sf := &v1alpha1.StressFault{}
	switch {
	case in.Stressors == nil || (in.Stressors.CPU == nil && in.Stressors.Memory == nil):
		d.fail(loc, parseFieldPath(at+".stressors"), "required: a cpu or memory stressor")
	case in.Stressors.CPU != nil && in.Stressors.Memory != nil:
		d.fail(loc, parseFieldPath(at+".stressors"), "cpu and memory together are two faults; faultline runs one fault per experiment: split them into two")
	case in.Stressors.CPU != nil:
		sf.Action = v1alpha1.StressCPU
		sf.Workers = in.Stressors.CPU.Workers
		if in.Stressors.CPU.Load != nil {
			sf.Load = *in.Stressors.CPU.Load
		}
	default:
		sf.Action = v1alpha1.StressMemory
		if in.Stressors.Memory.Size != "" {
			// Chaos Mesh sizes are stress-ng's (256MB, 1GB); ours are quantities.
			s := strings.TrimSuffix(strings.TrimSuffix(in.Stressors.Memory.Size, "B"), "b")
			q, err := resource.ParseQuantity(s)
			if err != nil {
				d.fail(loc, parseFieldPath(at+".stressors.memory.size"), "invalid size %q: want a byte size such as 256MB (percentages of memory are not supported)", in.Stressors.Memory.Size)
			} else {
				sf.Size = &q
			}
		}
	}
	spec.Fault.Stress = sf
	return append(t, translation{
		{"spec.fault.stress.workers", at + ".stressors.cpu.workers"},
		{"spec.fault.stress.load", at + ".stressors.cpu.load"},
		{"spec.fault.stress.size", at + ".stressors.memory"},
		{"spec.fault", at + ".stressors"},
	}...)
}

func (d *decoder) translateSchedule(spec *v1alpha1.ExperimentSpec, in *cmScheduleSpec, loc locator) translation {
	var t translation
	blocks := map[string]bool{"PodChaos": in.PodChaos != nil, "NetworkChaos": in.NetworkChaos != nil, "StressChaos": in.StressChaos != nil}
	set, ok := blocks[in.Type]
	switch {
	case !ok:
		d.fail(loc, parseFieldPath("spec.type"), "unsupported value %q: supported values: \"PodChaos\", \"NetworkChaos\", \"StressChaos\"", in.Type)
		return nil
	case !set:
		d.fail(loc, parseFieldPath("spec."+lowerFirst(in.Type)), "required by type %s", in.Type)
		return nil
	}
	for k, v := range blocks {
		if v && k != in.Type {
			d.fail(loc, parseFieldPath("spec."+lowerFirst(k)), "set, but type is %s", in.Type)
		}
	}
	if in.ConcurrencyPolicy != "" && in.ConcurrencyPolicy != "Forbid" {
		d.fail(loc, parseFieldPath("spec.concurrencyPolicy"), "unsupported value %q: faultline never overlaps runs of one experiment (Forbid)", in.ConcurrencyPolicy)
	}
	at := "spec." + lowerFirst(in.Type)
	switch in.Type {
	case "PodChaos":
		t = d.translatePod(spec, in.PodChaos, at, loc)
	case "NetworkChaos":
		t = d.translateNetwork(spec, in.NetworkChaos, at, loc)
	case "StressChaos":
		t = d.translateStress(spec, in.StressChaos, at, loc)
	}
	spec.Schedule = in.Schedule
	spec.HistoryLimit = in.HistoryLimit
	return append(t, translation{
		{"spec.schedule", "spec.schedule"},
		{"spec.historyLimit", "spec.historyLimit"},
	}...)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
