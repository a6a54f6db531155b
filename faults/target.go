package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	vnetns "github.com/vishvananda/netns"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Target is where one fault runs: a pod (its network namespace, cgroup and
// root filesystem as the executor sees them) or the executor's own host
// (every path empty).
type Target struct {
	// Key identifies the target within its injection (namespace/name of a
	// pod, or the host name).
	Key string `json:"key"`
	// NetnsPath is a network namespace file (/proc/PID/ns/net or a bind
	// mount under /run/netns). Empty: the executor's own namespace.
	NetnsPath string `json:"netnsPath,omitempty"`
	// CgroupPath is a cgroup directory (holding cgroup.procs) helper
	// processes join. Empty: they stay in the executor's cgroup.
	CgroupPath string `json:"cgroupPath,omitempty"`
	// RootPath prefixes filesystem paths of the target (/proc/PID/root for a
	// container). Empty: the executor's own root.
	RootPath string `json:"rootPath,omitempty"`
	// Pod is set for pod targets; API-side faults (pod/kill) need it.
	Pod *PodRef `json:"pod,omitempty"`
	// Containers of a pod target, as the resolver knows them (pod/failure
	// selects among them by name). Empty: unknown; the pod's processes are
	// then those in its network namespace.
	Containers []Container `json:"containers,omitempty"`
}

// Container is one container of a pod target. Its processes are those in
// its cgroup (and the cgroups below it) and the listed processes with
// their descendants; a resolver sets either or both.
type Container struct {
	Name string `json:"name"`
	// CgroupPath is the container's own cgroup directory.
	CgroupPath string `json:"cgroupPath,omitempty"`
	// Pids are the container's root processes as this executor sees them
	// (the container's init, or whatever a test binding started).
	Pids []int `json:"pids,omitempty"`
}

// PodRef names a pod and pins its UID.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// Request asks the engine to put one fault on one target.
type Request struct {
	// ID is stable across retries and restarts for the same injection and
	// target (for example the Injection's UID and the target key). Apply
	// with a known ID is idempotent.
	ID string
	// Injection names the owning injection for logs and metric labels.
	Injection string
	Fault     v1alpha1.FaultSpec
	Target    Target
	// Peers narrow network faults to these addresses or CIDRs (resolved by
	// the hub), in addition to Fault.Network.ExternalTargets.
	Peers []string
	// Deadline after which the engine recovers the fault on its own.
	Deadline time.Time
}

// Measurement is one value measured on an active fault.
type Measurement struct {
	Name  string    `json:"name"`
	Value float64   `json:"value"`
	Time  time.Time `json:"time"`
}

// Known measurement names.
const (
	MeasuredDelaySeconds  = "delay_seconds"
	MeasuredLossRatio     = "loss_ratio"
	MeasuredDroppedPkts   = "dropped_packets"
	MeasuredCPULoadRatio  = "cpu_load_ratio"
	MeasuredMemoryBytes   = "memory_bytes"
	MeasuredFilledBytes   = "filled_bytes"
	MeasuredRateBytes     = "rate_bytes_per_second"
	MeasuredStoppedProcs  = "stopped_processes"
	MeasuredQueuedPackets = "queued_packets"
)

// ErrTargetGone reports that a target no longer exists. Recover treats it as
// success: a fault on something that is gone is recovered.
var ErrTargetGone = errors.New("target is gone")

// ErrUnsupported reports a fault kind or option this executor cannot run.
var ErrUnsupported = errors.New("unsupported")

// openNetns opens the target's network namespace, or the executor's own
// when path is empty. A missing namespace file is ErrTargetGone.
func openNetns(path string) (vnetns.NsHandle, error) {
	if path == "" {
		return vnetns.Get()
	}
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return -1, fmt.Errorf("network namespace %s: %w", path, ErrTargetGone)
		}
		return -1, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return h, nil
}

// ctxDone returns ctx's error if it is done.
func ctxDone(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}
