package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// Plan is what Prepare decides before anything changes: the path the fault
// will take and the undo record the journal stores before Apply runs.
type Plan struct {
	// Path names how the fault is applied: "nftables", "nfqueue", "netem",
	// "tbf", "helper", "signal", "file", "api".
	Path string
	// Undo is everything Recover needs, as JSON; it must not depend on
	// anything that only exists in this process.
	Undo json.RawMessage
}

// Live is the in-process side of an applied fault: it measures what the
// fault really does and stops whatever the executor itself runs for it (an
// NFQUEUE server). It must not undo kernel state; Recover does that.
type Live interface {
	Measure(ctx context.Context) []Measurement
	Stop()
}

// Checked is a Live that can tell whether its in-process part still works
// (a queue server, a helper process). Apply re-applies a fault whose Live
// reports false instead of only renewing it.
type Checked interface {
	Healthy() bool
}

// Handler is one fault kind's idempotent Apply/Recover pair.
//
// Prepare must have no side effects. Apply must be idempotent and, when it
// fails, leave nothing behind that Recover(plan.Undo) would not remove.
// Recover must be idempotent and works from the journaled undo record alone
// (it runs after a crash too); a target that no longer exists counts as
// recovered.
type Handler interface {
	Prepare(ctx context.Context, env *Env, req *Request) (Plan, error)
	Apply(ctx context.Context, env *Env, plan Plan) (Live, error)
	Recover(ctx context.Context, env *Env, undo json.RawMessage) error
}

// ContainerReader is implemented by the handlers of faults whose effect
// depends on the target's containers (Target.Containers). Only for them
// are the containers part of the spec hash: a container the kubelet
// restarts changes them, which must re-apply a fault on that container and
// must not re-apply one on the pod's network.
type ContainerReader interface {
	ReadsContainers() bool
}

// Pair adapts three typed functions (prepare, apply, recover) to a Handler;
// S is the fault's plan and undo record, stored in the journal as JSON.
type Pair[S any] struct {
	Prep func(ctx context.Context, env *Env, req *Request) (path string, undo S, err error)
	Do   func(ctx context.Context, env *Env, undo *S) (Live, error)
	Undo func(ctx context.Context, env *Env, undo *S) error
	// Containers is set when Prep reads Target.Containers (see
	// ContainerReader).
	Containers bool
}

// ReadsContainers implements ContainerReader.
func (p Pair[S]) ReadsContainers() bool { return p.Containers }

// Prepare implements Handler.
func (p Pair[S]) Prepare(ctx context.Context, env *Env, req *Request) (Plan, error) {
	path, s, err := p.Prep(ctx, env, req)
	if err != nil {
		return Plan{}, err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return Plan{}, fmt.Errorf("encode undo record: %w", err)
	}
	return Plan{Path: path, Undo: raw}, nil
}

// Apply implements Handler.
func (p Pair[S]) Apply(ctx context.Context, env *Env, plan Plan) (Live, error) {
	var s S
	if err := json.Unmarshal(plan.Undo, &s); err != nil {
		return nil, fmt.Errorf("decode undo record: %w", err)
	}
	return p.Do(ctx, env, &s)
}

// Recover implements Handler.
func (p Pair[S]) Recover(ctx context.Context, env *Env, undo json.RawMessage) error {
	var s S
	if err := json.Unmarshal(undo, &s); err != nil {
		return fmt.Errorf("decode undo record: %w", err)
	}
	return p.Undo(ctx, env, &s)
}

// Registry maps fault kinds ("network/delay", as FaultSpec.Kind returns
// them) to handlers. It is filled explicitly; nothing registers itself.
type Registry struct {
	handlers map[string]Handler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{handlers: map[string]Handler{}} }

// Register adds a handler; registering a kind twice is an error.
func (r *Registry) Register(kind string, h Handler) error {
	if kind == "" || h == nil {
		return fmt.Errorf("register fault: empty kind or nil handler")
	}
	if _, dup := r.handlers[kind]; dup {
		return fmt.Errorf("register fault %q: already registered", kind)
	}
	r.handlers[kind] = h
	return nil
}

// Lookup returns the handler of kind.
func (r *Registry) Lookup(kind string) (Handler, bool) {
	h, ok := r.handlers[kind]
	return h, ok
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Has reports whether kind is registered.
func (r *Registry) Has(kind string) bool { return slices.Contains(r.Kinds(), kind) }

// Builtin returns a registry with every fault this package implements. API
// side faults (pod/kill) need a Kubernetes client and are registered by the
// daemon.
func Builtin() *Registry {
	r := NewRegistry()
	for kind, h := range map[string]Handler{
		"network/delay":     delayFault(),
		"network/loss":      lossFault(),
		"network/duplicate": netemOnlyFault("duplicate"),
		"network/corrupt":   netemOnlyFault("corrupt"),
		"network/partition": partitionFault(),
		"network/bandwidth": bandwidthFault(),
		"stress/cpu":        stressFault(),
		"stress/memory":     stressFault(),
		"process/kill":      processFault(),
		"process/stop":      processFault(),
		"disk/fill":         diskFillFault(),
	} {
		// Kinds are distinct literals; Register cannot fail here.
		_ = r.Register(kind, h)
	}
	return r
}
