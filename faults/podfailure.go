package faults

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// podFailureState is the plan and undo record of a pod failure: where the
// pod's chosen containers live (Apply looks again for processes they start
// while being frozen) and the exact processes it stopped, the only ones
// recovery continues.
type podFailureState struct {
	Pod   string     `json:"pod"`
	Scope podScope   `json:"scope"`
	Procs []Instance `json:"procs"`
}

// podScope says which processes belong to the chosen containers of a pod:
// those in its network namespace (when known) that are in one of Cgroups
// or descend from one of Roots, or, when All, every one of them.
type podScope struct {
	NetnsPath string     `json:"netnsPath,omitempty"`
	All       bool       `json:"all,omitempty"`
	Cgroups   []string   `json:"cgroups,omitempty"`
	Roots     []Instance `json:"roots,omitempty"`
}

// podFailureRounds bounds how often Apply looks for processes the frozen
// containers started between one look and the SIGSTOPs that followed it.
const podFailureRounds = 5

// PodFailure is the pod/failure fault: it freezes the pod's containers by
// sending SIGSTOP to every process of the containers named in
// spec.fault.pod.containerNames (all containers when empty), so the
// service stops answering and its liveness probes fail, and recovers by
// sending SIGCONT to exactly the processes it stopped (pid and start time
// journaled, so a recycled pid is never signalled; a process that is gone
// counts as recovered). Processes someone else had already stopped are
// left alone, at Apply and at recovery.
//
// The containers come from the target (see Target.Containers); when the
// resolver knows none, the pod's processes are those in its network
// namespace. The executor and its helpers are never candidates. When the
// kubelet restarts a frozen container, the resolver reports the new one,
// the target (and so the spec hash) changes, and the next Apply freezes
// that one too: the pod stays failed for the duration.
//
// It needs pod targets, which only the node daemon has, so it is not in
// Builtin; the daemon registers it.
func PodFailure() Handler {
	return Pair[podFailureState]{Prep: preparePodFailure, Do: applyPodFailure, Undo: recoverPodFailure, Containers: true}
}

func preparePodFailure(_ context.Context, _ *Env, req *Request) (string, podFailureState, error) {
	t := req.Target
	s := podFailureState{Pod: t.Key}
	if t.Pod == nil {
		return "", s, errors.New("pod failure needs a pod target")
	}
	var names []string
	if req.Fault.Pod != nil {
		names = req.Fault.Pod.ContainerNames
	}
	chosen, err := chooseContainers(t, names)
	if err != nil {
		return "", s, err
	}
	if s.Scope, err = scopeOf(t, chosen); err != nil {
		return "", s, err
	}
	members, err := s.Scope.members()
	if err != nil {
		return "", s, err
	}
	for _, p := range members {
		if !stopped(p.stat.state) {
			s.Procs = append(s.Procs, p.Instance)
		}
	}
	if len(s.Procs) == 0 {
		return "", s, fmt.Errorf("pod %s: no running process in %s", t.Key, describeContainers(chosen))
	}
	return "signal", s, nil
}

// chooseContainers returns the target's containers named in names (all
// when names is empty). A name the pod does not have is an error naming
// the field, before anything happens.
func chooseContainers(t Target, names []string) ([]Container, error) {
	if len(names) == 0 {
		return t.Containers, nil
	}
	have := make([]string, 0, len(t.Containers))
	for _, c := range t.Containers {
		have = append(have, c.Name)
	}
	var out []Container
	for i, n := range names {
		j := slices.Index(have, n)
		switch {
		case len(have) == 0:
			return nil, fmt.Errorf("spec.fault.pod.containerNames[%d]: %q: the containers of pod %s are not known on this node", i, n, t.Key)
		case j < 0:
			return nil, fmt.Errorf("spec.fault.pod.containerNames[%d]: pod %s has no container %q (it has %s)", i, t.Key, n, strings.Join(have, ", "))
		}
		if !slices.ContainsFunc(out, func(c Container) bool { return c.Name == n }) {
			out = append(out, t.Containers[j])
		}
	}
	return out, nil
}

// scopeOf pins the chosen containers: root pids become Instances (so a
// root that exits and whose pid is reused is not followed), and a pod
// whose containers are unknown is its network namespace, which must then
// be its own and not the node's.
func scopeOf(t Target, chosen []Container) (podScope, error) {
	sc := podScope{NetnsPath: t.NetnsPath}
	if sc.NetnsPath != "" {
		if _, err := netnsInode(sc.NetnsPath); err != nil {
			return sc, err
		}
	}
	if len(chosen) == 0 {
		if t.NetnsPath == "" {
			return sc, fmt.Errorf("pod %s: neither its containers nor its network namespace are known on this node", t.Key)
		}
		theirs, _ := netnsInode(t.NetnsPath)
		if own, err := netnsInode("/proc/self/ns/net"); err == nil && own == theirs {
			return sc, fmt.Errorf("pod %s shares the node's network namespace and its containers are not known: its processes cannot be told from the node's", t.Key)
		}
		sc.All = true
		return sc, nil
	}
	for _, c := range chosen {
		if c.CgroupPath != "" {
			sc.Cgroups = append(sc.Cgroups, c.CgroupPath)
		}
		for _, pid := range c.Pids {
			if inst, err := InstanceOf(pid); err == nil {
				sc.Roots = append(sc.Roots, inst)
			}
		}
	}
	return sc, nil
}

// members lists the processes in scope now.
func (sc podScope) members() ([]userProc, error) {
	var ino uint64
	if sc.NetnsPath != "" {
		var err error
		if ino, err = netnsInode(sc.NetnsPath); err != nil {
			return nil, err
		}
	}
	procs, err := scanProcesses(func(p int) bool { return ino == 0 || inNetns(p, ino) })
	if err != nil || sc.All {
		return procs, err
	}
	in := map[int]bool{}
	for _, cg := range sc.Cgroups {
		pids, err := cgroupProcs(cg)
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			in[p] = true
		}
	}
	// Roots and their descendants: walk down from each live root.
	children := map[int][]int{}
	byPid := map[int]userProc{}
	for _, p := range procs {
		children[p.stat.ppid] = append(children[p.stat.ppid], p.Pid)
		byPid[p.Pid] = p
	}
	var queue []int
	for _, r := range sc.Roots {
		if p, ok := byPid[r.Pid]; ok && p.Start == r.Start {
			queue = append(queue, r.Pid)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		in[p] = true
		queue = append(queue, children[p]...)
	}
	out := procs[:0]
	for _, p := range procs {
		if in[p.Pid] {
			out = append(out, p)
		}
	}
	return out, nil
}

// cgroupProcs lists the processes of a cgroup and of the cgroups below
// it. A cgroup that is gone has none.
func cgroupProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("container cgroup: %w", err)
		}
		for _, f := range strings.Fields(string(raw)) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		return nil
	})
	return pids, err
}

func applyPodFailure(_ context.Context, env *Env, s *podFailureState) (Live, error) {
	known := map[Instance]bool{}
	for _, p := range s.Procs {
		known[p] = true
	}
	next := s.Procs
	for round := 0; len(next) > 0; round++ {
		if _, err := signalEach(next, unix.SIGSTOP); err != nil {
			return nil, err
		}
		if round == podFailureRounds {
			break
		}
		// A process forked between the last look and its parent's stop
		// runs on; look again until a look finds nothing new.
		members, err := s.Scope.members()
		if err != nil {
			return nil, err
		}
		next = nil
		for _, p := range members {
			if !known[p.Instance] && !stopped(p.stat.state) {
				known[p.Instance] = true
				next = append(next, p.Instance)
			}
		}
		if len(next) > 0 && env.Rejournal != nil {
			// Journaled before they are stopped, like the first ones.
			grown := *s
			grown.Procs = append(slices.Clone(s.Procs), next...)
			if err := env.Rejournal(grown); err != nil {
				return nil, err
			}
			*s = grown
		}
	}
	waitStopped(s.Procs, time.Second)
	return podFailureLive(s.Procs), nil
}

// waitStopped waits until every process of procs that still runs is
// stopped (a signal takes effect when the process next runs), so Apply
// returns with the pod frozen, or until timeout: a process in
// uninterruptible sleep stops when it wakes.
func waitStopped(procs []Instance, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(procs, running) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running reports whether the process p still runs and is not stopped.
func running(p Instance) bool {
	st, err := readProcStat(p.Pid)
	return err == nil && st.start == p.Start && st.state != 'Z' && st.state != 'X' && !stopped(st.state)
}

func recoverPodFailure(_ context.Context, _ *Env, s *podFailureState) error {
	_, err := signalEach(s.Procs, unix.SIGCONT)
	return err
}

// stopped tells a process state of a stopped (or trace-stopped) process.
func stopped(state byte) bool { return state == 'T' || state == 't' }

// podFailureLive measures how many of the stopped processes still are.
type podFailureLive []Instance

func (l podFailureLive) Measure(context.Context) []Measurement {
	n := 0
	for _, p := range l {
		if st, err := readProcStat(p.Pid); err == nil && st.start == p.Start && stopped(st.state) {
			n++
		}
	}
	return []Measurement{{Name: MeasuredStoppedProcs, Value: float64(n), Time: time.Now()}}
}

func (podFailureLive) Stop() {}

// Healthy is false when a process it stopped runs again (someone sent it
// SIGCONT): the next Apply then freezes the pod anew. A process in
// uninterruptible sleep has not had the chance to stop yet.
func (l podFailureLive) Healthy() bool {
	return !slices.ContainsFunc(l, func(p Instance) bool {
		st, err := readProcStat(p.Pid)
		return err == nil && st.state != 'D' && running(p)
	})
}

func describeContainers(cs []Container) string {
	if len(cs) == 0 {
		return "its network namespace"
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return "container(s) " + strings.Join(names, ", ")
}
