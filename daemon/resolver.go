package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// ErrPodNotFound reports a target pod that is not on this node (anymore).
var ErrPodNotFound = errors.New("pod not found on this node")

// Resolver finds where a target lives on this node.
type Resolver interface {
	// Resolve returns the target's network namespace, cgroup and root
	// filesystem as this process sees them.
	Resolve(ctx context.Context, t v1alpha1.InjectionTarget) (faults.Target, error)
}

// hostTarget is the node itself: the daemon's own namespaces (it runs with
// hostNetwork and hostPID).
func hostTarget(t v1alpha1.InjectionTarget) faults.Target {
	return faults.Target{Key: t.Key}
}

func podRef(t v1alpha1.InjectionTarget) *faults.PodRef {
	return &faults.PodRef{Namespace: t.Namespace, Name: t.Name, UID: t.UID}
}

// StaticResolver is the test binding of Resolver: pods are registered by
// key (namespace/name) with the namespace paths a test made for them, for
// example with internal/testground/netns (Host.Path()). It is also usable
// on a node without a container runtime.
type StaticResolver struct {
	mu   sync.RWMutex
	pods map[string]faults.Target
}

// NewStaticResolver returns an empty StaticResolver.
func NewStaticResolver() *StaticResolver {
	return &StaticResolver{pods: map[string]faults.Target{}}
}

// Register binds a pod key to a target; Key and Pod are filled in by
// Resolve.
func (r *StaticResolver) Register(key string, t faults.Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods[key] = t
}

// Unregister forgets a pod, as if it were deleted.
func (r *StaticResolver) Unregister(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, key)
}

// Resolve implements Resolver.
func (r *StaticResolver) Resolve(_ context.Context, t v1alpha1.InjectionTarget) (faults.Target, error) {
	if t.Kind == v1alpha1.TargetHost {
		return hostTarget(t), nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ft, ok := r.pods[t.Key]
	if !ok {
		return faults.Target{}, fmt.Errorf("pod %s: %w", t.Key, ErrPodNotFound)
	}
	ft.Key = t.Key
	ft.Pod = podRef(t)
	return ft, nil
}

// LoadStaticResolver reads a StaticResolver from a JSON file mapping pod
// keys (namespace/name) to targets:
//
//	{"default/web-0": {"netnsPath": "/run/netns/web-0", "cgroupPath": "/sys/fs/cgroup/web-0",
//	  "containers": [{"name": "app", "pids": [4242]}, {"name": "sidecar", "cgroupPath": "/sys/fs/cgroup/web-0/sidecar"}]}}
//
// containers is optional: it names the pod's containers by their root
// processes (each with its descendants) and/or cgroups, for pod/failure's
// containerNames; without it a pod's processes are those in its network
// namespace.
//
// This is the test binding of the daemon binary (and a way to run it on a
// node without a CRI runtime).
func LoadStaticResolver(path string) (*StaticResolver, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("static targets: %w", err)
	}
	var pods map[string]faults.Target
	if err := json.Unmarshal(raw, &pods); err != nil {
		return nil, fmt.Errorf("static targets %s: %w", path, err)
	}
	r := NewStaticResolver()
	for k, t := range pods {
		if err := checkContainers(t.Containers); err != nil {
			return nil, fmt.Errorf("static targets %s: %q: %w", path, k, err)
		}
		r.Register(k, t)
	}
	return r, nil
}

// checkContainers refuses containers a pod/failure could not select or
// find: unnamed, named twice, or with neither pids nor a cgroup.
func checkContainers(cs []faults.Container) error {
	seen := map[string]bool{}
	for i, c := range cs {
		switch {
		case c.Name == "":
			return fmt.Errorf("containers[%d].name: empty", i)
		case seen[c.Name]:
			return fmt.Errorf("containers[%d].name: %q appears twice", i, c.Name)
		case len(c.Pids) == 0 && c.CgroupPath == "":
			return fmt.Errorf("containers[%d]: %q has neither pids nor cgroupPath", i, c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}
