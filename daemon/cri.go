package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// CRIResolver is the production Resolver: it asks the node's container
// runtime (containerd, CRI-O) over its CRI socket for the pod sandbox of a
// target pod UID, takes the sandbox's pid from the verbose status, and
// derives the network namespace (/proc/PID/ns/net), the pod's cgroup (the
// parent of the sandbox's cgroup), the running containers by name (their
// init pids and cgroups) and, from the first container, the root
// filesystem (/proc/PID/root). The daemon needs hostPID and the host's
// /sys/fs/cgroup for these paths to mean what they say.
//
// Not exercised by the tests of this repository (there is no container
// runtime on the test machine); StaticResolver is the test binding.
type CRIResolver struct {
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
	// CgroupRoot is where the cgroup filesystem is mounted.
	CgroupRoot string
}

// NewCRIResolver connects to a runtime endpoint such as
// unix:///run/containerd/containerd.sock.
func NewCRIResolver(endpoint string) (*CRIResolver, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return &CRIResolver{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), CgroupRoot: "/sys/fs/cgroup"}, nil
}

// Close closes the connection.
func (r *CRIResolver) Close() error { return r.conn.Close() }

// Resolve implements Resolver.
func (r *CRIResolver) Resolve(ctx context.Context, t v1alpha1.InjectionTarget) (faults.Target, error) {
	if t.Kind == v1alpha1.TargetHost {
		return hostTarget(t), nil
	}
	if t.UID == "" {
		return faults.Target{}, fmt.Errorf("pod %s: target has no uid", t.Key)
	}
	list, err := r.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": t.UID},
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if err != nil {
		return faults.Target{}, fmt.Errorf("pod %s: list sandboxes: %w", t.Key, err)
	}
	if len(list.Items) == 0 {
		return faults.Target{}, fmt.Errorf("pod %s (uid %s): %w", t.Key, t.UID, ErrPodNotFound)
	}
	st, err := r.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: list.Items[0].Id, Verbose: true})
	if err != nil {
		return faults.Target{}, fmt.Errorf("pod %s: sandbox status: %w", t.Key, err)
	}
	pid, err := infoPid(st.GetInfo())
	if err != nil {
		return faults.Target{}, fmt.Errorf("pod %s: sandbox: %w", t.Key, err)
	}
	out := faults.Target{Key: t.Key, Pod: podRef(t), NetnsPath: fmt.Sprintf("/proc/%d/ns/net", pid)}
	if cg, err := r.cgroupOf(pid); err == nil {
		out.CgroupPath = filepath.Dir(cg) // the pod's cgroup holds the sandbox's
	}
	if out.Containers, err = r.containers(ctx, list.Items[0].Id); err != nil {
		return faults.Target{}, fmt.Errorf("pod %s: %w", t.Key, err)
	}
	if len(t.ContainerIDs) > 0 {
		id := t.ContainerIDs[0]
		if i := strings.Index(id, "://"); i >= 0 {
			id = id[i+3:]
		}
		cs, err := r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
		if err == nil {
			if cpid, err := infoPid(cs.GetInfo()); err == nil {
				out.RootPath = fmt.Sprintf("/proc/%d/root", cpid)
			}
		}
	}
	return out, nil
}

// containers lists the running containers of a sandbox by name, each with
// its init process and, on cgroup v2, its own cgroup (pod/failure freezes
// the processes of either). A container that stops between the list and
// its status is left out: it has no processes to freeze.
func (r *CRIResolver) containers(ctx context.Context, sandboxID string) ([]faults.Container, error) {
	list, err := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		PodSandboxId: sandboxID,
		State:        &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []faults.Container
	for _, c := range list.GetContainers() {
		cs, err := r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.GetId(), Verbose: true})
		if err != nil {
			continue
		}
		pid, err := infoPid(cs.GetInfo())
		if err != nil {
			continue
		}
		fc := faults.Container{Name: c.GetMetadata().GetName(), Pids: []int{pid}}
		if cg, err := r.cgroupOf(pid); err == nil {
			fc.CgroupPath = cg
		}
		out = append(out, fc)
	}
	// Stable order: the target is part of the fault's spec hash.
	slices.SortFunc(out, func(a, b faults.Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// infoPid reads the pid from the verbose "info" JSON containerd and CRI-O
// return.
func infoPid(info map[string]string) (int, error) {
	var v struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(info["info"]), &v); err != nil || v.Pid <= 0 {
		return 0, fmt.Errorf("no pid in verbose info")
	}
	return v.Pid, nil
}

// cgroupOf returns the cgroup v2 directory of pid (the "0::" line).
func (r *CRIResolver) cgroupOf(pid int) (string, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(r.CgroupRoot, rest), nil
		}
	}
	return "", fmt.Errorf("pid %d has no cgroup v2 path", pid)
}
