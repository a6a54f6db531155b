package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// maxDocuments bounds one apply.
const maxDocuments = 64

// Manifest is one document of an apply: the attack (and, for a scheduled
// Experiment, the schedule) it means on this host.
type Manifest struct {
	// Kind is Injection or Experiment; Name its metadata.name.
	Kind, Name string
	Attack     AttackRequest
	// Cron is the Experiment's spec.schedule, if any.
	Cron string
}

// DecodeManifests reads YAML or JSON documents holding faultline.dev
// Injections or Experiments, exactly as a hub sends or a repository
// declares them, strictly: an unknown field is an error naming document
// and field. An Experiment's placement and selector choose targets on a
// hub and mean nothing here, and its probes are not run; its fault runs
// on this host for its duration. An Injection runs until its deadline and
// must target hosts.
func DecodeManifests(data []byte, now time.Time) ([]Manifest, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []Manifest
	for i := 1; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, &FieldError{Msg: fmt.Sprintf("document %d: not YAML or JSON: %v", i, err)}
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		if len(out) == maxDocuments {
			return nil, &FieldError{Msg: fmt.Sprintf("more than %d documents", maxDocuments)}
		}
		m, fe := decodeManifest(raw, now)
		if fe != nil {
			if fe.Field != "" {
				fe.Field = fmt.Sprintf("document %d: %s", i, fe.Field)
			} else {
				fe.Msg = fmt.Sprintf("document %d: %s", i, fe.Msg)
			}
			return nil, fe
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, &FieldError{Msg: "no Injection or Experiment in the body"}
	}
	return out, nil
}

func decodeManifest(raw []byte, now time.Time) (Manifest, *FieldError) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return Manifest{}, &FieldError{Msg: "not an object: " + err.Error()}
	}
	if tm.APIVersion != v1alpha1.GroupVersion.String() {
		return Manifest{}, fieldErr("apiVersion", "%q: want %s", tm.APIVersion, v1alpha1.GroupVersion.String())
	}
	switch tm.Kind {
	case "Injection":
		var inj v1alpha1.Injection
		if fe := strictDecode(raw, &inj); fe != nil {
			return Manifest{}, fe
		}
		return fromInjection(&inj, now)
	case "Experiment":
		var exp v1alpha1.Experiment
		if fe := strictDecode(raw, &exp); fe != nil {
			return Manifest{}, fe
		}
		return fromExperiment(&exp)
	}
	return Manifest{}, fieldErr("kind", "%q: want Injection or Experiment", tm.Kind)
}

// strictDecode decodes raw into v; unknown fields and wrong types are
// errors naming the field.
func strictDecode(raw []byte, v any) *FieldError {
	strict, err := sigsjson.UnmarshalStrict(raw, v)
	if err != nil {
		return decodeError(err)
	}
	if len(strict) > 0 {
		return decodeError(strict[0])
	}
	return nil
}

func fromInjection(inj *v1alpha1.Injection, now time.Time) (Manifest, *FieldError) {
	m := Manifest{Kind: "Injection", Name: inj.Name}
	if len(inj.Spec.Targets) == 0 {
		return m, fieldErr("spec.targets", "required: a Host target")
	}
	for i, t := range inj.Spec.Targets {
		if t.Kind != v1alpha1.TargetHost {
			return m, fieldErr(fmt.Sprintf("spec.targets[%d].kind", i), "%q: a host agent runs Host targets only", t.Kind)
		}
	}
	m.Attack = AttackRequest{Name: inj.Name, Fault: inj.Spec.Fault, Peers: inj.Spec.Peers}
	if !inj.Spec.Deadline.IsZero() {
		left := inj.Spec.Deadline.Sub(now).Round(time.Second)
		if left <= 0 {
			return m, fieldErr("spec.deadline", "%s has passed", inj.Spec.Deadline.UTC().Format(time.RFC3339))
		}
		m.Attack.Duration = left.String()
	}
	return m, nil
}

func fromExperiment(exp *v1alpha1.Experiment) (Manifest, *FieldError) {
	m := Manifest{Kind: "Experiment", Name: exp.Name, Cron: exp.Spec.Schedule}
	m.Attack = AttackRequest{Name: exp.Name, Fault: exp.Spec.Fault}
	if exp.Spec.Duration != nil {
		m.Attack.Duration = exp.Spec.Duration.Duration.String()
	}
	return m, nil
}

// apply validates every document, then starts them: nothing starts unless
// all are valid, and if one fails to apply the ones started by this
// request are recovered again.
func (s *Server) apply(ctx context.Context, data []byte) (ApplyResult, error) {
	res := ApplyResult{Attacks: []Attack{}, Schedules: []Schedule{}}
	ms, err := DecodeManifests(data, time.Now())
	if err != nil {
		return res, err
	}
	durations := make([]time.Duration, len(ms))
	for i := range ms {
		m := &ms[i]
		label := fmt.Sprintf("document %d (%s %s): ", i+1, m.Kind, m.Name)
		durField := "spec.duration"
		if m.Kind == "Injection" {
			durField = "spec.deadline"
		}
		if m.Cron != "" {
			if _, err := cronParser.Parse(m.Cron); err != nil {
				return res, fieldErr(label+"spec.schedule", "%v", err)
			}
		}
		d, fe := s.validateAttack(ctx, "spec.", &m.Attack, durField)
		if fe != nil {
			fe.Field = label + fe.Field
			return res, fe
		}
		durations[i] = d
	}
	var started []*Attack
	var schedules []string
	undo := func(cause error) error {
		errs := []error{cause}
		s.mu.Lock()
		for _, a := range started {
			errs = append(errs, s.recoverLocked(ctx, a, "another document of the same apply failed"))
		}
		s.mu.Unlock()
		for _, id := range schedules {
			_, err := s.deleteSchedule(ctx, id)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	for i := range ms {
		m := &ms[i]
		if m.Cron != "" {
			sc, err := s.putSchedule("", &ScheduleRequest{Cron: m.Cron, Attack: m.Attack})
			if err != nil {
				return res, undo(err)
			}
			schedules = append(schedules, sc.ID)
			res.Schedules = append(res.Schedules, *sc)
			continue
		}
		s.mu.Lock()
		a, err := s.startAttackLocked(ctx, &m.Attack, durations[i], "")
		if a != nil {
			if err == nil {
				started = append(started, a)
			}
			res.Attacks = append(res.Attacks, *s.viewLocked(a))
		}
		s.mu.Unlock()
		if err != nil {
			return res, undo(err)
		}
	}
	return res, nil
}
