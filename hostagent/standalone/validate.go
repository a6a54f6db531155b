package standalone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// FieldError is a request the agent refuses as it stands: the API answers
// 400 and nothing is applied.
type FieldError struct {
	// Field such as fault.network.latency; empty when the whole body is bad.
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// leadingField finds the field an engine message starts with, such as
// "spec.fault.network.latency: must be positive".
var leadingField = regexp.MustCompile(`^((?:spec\.)?(?:fault|peers)[A-Za-z0-9_.\[\]]*): (.*)$`)

// asFieldError turns an engine Prepare error into a FieldError relative to
// the request body: prefix is "spec." for manifests, "" for attacks.
func asFieldError(prefix string, err error) *FieldError {
	msg := err.Error()
	if m := leadingField.FindStringSubmatch(msg); m != nil {
		return &FieldError{Field: prefix + strings.TrimPrefix(m[1], "spec."), Msg: m[2]}
	}
	return &FieldError{Field: prefix + "fault", Msg: msg}
}

// hostFamilies are the fault families that make sense on a host.
var hostFamilies = map[string]bool{"network": true, "stress": true, "process": true, "disk": true}

// validateAttack checks req completely (its own fields, then the engine's
// Prepare, which has no side effects) and returns its duration. prefix is
// "spec." when the fields come from a manifest.
func (s *Server) validateAttack(ctx context.Context, prefix string, req *AttackRequest, durationField string) (time.Duration, *FieldError) {
	d := s.o.DefaultDuration
	if req.Duration != "" {
		var err error
		if d, err = time.ParseDuration(req.Duration); err != nil {
			return 0, fieldErr(durationField, "%q is not a duration such as 30s or 5m", req.Duration)
		}
	}
	if d <= 0 {
		return 0, fieldErr(durationField, "must be positive")
	}
	if d > s.o.MaxDuration {
		return 0, fieldErr(durationField, "%s is longer than this agent's maximum of %s (--max-duration)", d, s.o.MaxDuration)
	}
	if fe := validateFault(prefix+"fault", &req.Fault); fe != nil {
		return 0, fe
	}
	kind := req.Fault.Kind()
	if !s.engine.Registry().Has(kind) {
		return 0, fieldErr(prefix+"fault."+family(kind)+".action", "%q is not a fault this agent runs (it runs %s)", action(kind), strings.Join(s.engine.Registry().Kinds(), ", "))
	}
	if err := s.engine.Validate(ctx, &faults.Request{
		ID: engineID("validate"), Fault: req.Fault, Target: s.target(), Peers: req.Peers, Deadline: time.Now().Add(d),
	}); err != nil {
		return 0, asFieldError(prefix, err)
	}
	return d, nil
}

// validateFault checks what the engine does not: exactly one host fault,
// an action, and host-side limits.
func validateFault(field string, f *v1alpha1.FaultSpec) *FieldError {
	var set []string
	for name, ok := range map[string]bool{
		"pod": f.Pod != nil, "network": f.Network != nil, "stress": f.Stress != nil, "process": f.Process != nil,
		"disk": f.Disk != nil, "http": f.HTTP != nil, "dns": f.DNS != nil, "host": f.Host != nil, "plugin": f.Plugin != nil,
	} {
		if ok {
			set = append(set, name)
		}
	}
	if len(set) != 1 {
		return fieldErr(field, "exactly one of network, stress, process or disk must be set (got %d)", len(set))
	}
	if !hostFamilies[set[0]] {
		return fieldErr(field+"."+set[0], "a standalone host agent runs network, stress, process and disk faults only")
	}
	if action(f.Kind()) == "" {
		return fieldErr(field+"."+set[0]+".action", "required")
	}
	if nf := f.Network; nf != nil {
		if nf.Target != nil {
			return fieldErr(field+".network.target", "peer pods cannot be resolved on a host; use externalTargets (addresses or CIDRs)")
		}
		if nf.Device != "" {
			if _, err := net.InterfaceByName(nf.Device); err != nil {
				return fieldErr(field+".network.device", "no interface %q on this host", nf.Device)
			}
		}
	}
	if pf := f.Process; pf != nil && (pf.Process == "") == (pf.Pid == nil) {
		return fieldErr(field+".process", "set exactly one of process (a name) or pid")
	}
	return nil
}

func family(kind string) string { f, _, _ := strings.Cut(kind, "/"); return f }
func action(kind string) string { _, a, _ := strings.Cut(kind, "/"); return a }

// decodeError names the field of a JSON decoding error where it can.
func decodeError(err error) *FieldError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if m := regexp.MustCompile(`unknown field "([^"]+)"`).FindStringSubmatch(msg); m != nil {
		return fieldErr(m[1], "unknown field")
	}
	if m := regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.\[\]]+) of type (.*)$`).FindStringSubmatch(msg); m != nil {
		return fieldErr(m[1], "wrong type (want %s): %s", m[2], msg)
	}
	return &FieldError{Msg: "malformed body: " + msg}
}
