package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// markerEnv is set in the demo's own environment, so every process it
// starts, and everything those start (etcd, kube-apiserver, gitea, stress
// helpers), inherits it: down finds them all by it, even those whose PID
// was never written down because the demo died between start and record.
const markerEnv = "FAULTLINE_DEMO_RUN"

// state is what one run of `demo up` created, written to disk before each
// thing is created (processes: right after start; they also carry
// markerEnv), so that `demo down` removes exactly that, even after a crash.
type state struct {
	// Run identifies the run; it is markerEnv's value.
	Run string `json:"run"`
	// PID is the process of `demo up`; namespaces made through the test
	// ground's netns package carry it in their names.
	PID int `json:"pid"`
	// Start is its start time, so that down never signals a recycled PID.
	Start uint64 `json:"start"`
	// Dir holds the run's data: kubeconfigs, journals, Gitea, Prometheus.
	Dir string `json:"dir"`
	// Procs are the processes started, with their start time so that a
	// recycled PID is never killed.
	Procs []proc `json:"procs,omitempty"`
	// Netns are network namespace names (/run/netns/NAME).
	Netns []string `json:"netns,omitempty"`
	// Links are links in the root namespace.
	Links []string `json:"links,omitempty"`
	// NetnsOwner is the PID in the names of namespaces the netns package
	// makes (flt<id>-<pid>-<host>), recorded before it makes any.
	NetnsOwner int `json:"netnsOwner,omitempty"`
	// Dirs are directories to remove.
	Dirs []string `json:"dirs,omitempty"`

	path string
	mu   sync.Mutex
}

type proc struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // /proc/PID/stat field 22, clock ticks since boot
	Log   string `json:"log,omitempty"`
}

func loadState(path string) (*state, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &state{path: path}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// update changes the state and writes it at once (atomically: a crash
// leaves either the old or the new file).
func (s *state) update(change func(*state)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(s)
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

func (s *state) addProc(name string, pid int, log string) error {
	start, _ := procStart(pid)
	return s.update(func(s *state) { s.Procs = append(s.Procs, proc{Name: name, PID: pid, Start: start, Log: log}) })
}

func (s *state) addNetns(names ...string) error {
	return s.update(func(s *state) {
		for _, n := range names {
			if !slices.Contains(s.Netns, n) {
				s.Netns = append(s.Netns, n)
			}
		}
	})
}

func (s *state) addDir(dir string) error {
	return s.update(func(s *state) { s.Dirs = append(s.Dirs, dir) })
}

// procStart reads a process's start time, which with its PID identifies
// it for good.
func procStart(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; starttime is field 22.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether the process recorded as p still runs (not a
// zombie, and not another process that got its PID).
func (p proc) alive() bool {
	start, err := procStart(p.PID)
	if err != nil || (p.Start != 0 && start != p.Start) {
		return false
	}
	return processRunning(p.PID)
}

func processRunning(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(raw), ')')
	return i > 0 && i+2 < len(raw) && raw[i+2] != 'Z' && raw[i+2] != 'X'
}

// markedProcesses lists the running processes whose environment carries
// markerEnv=run (any run when run is empty), except this one.
func markedProcesses(run string) []int {
	entries, _ := os.ReadDir("/proc")
	want := "\x00" + markerEnv + "=" + run + "\x00"
	if run == "" {
		want = "\x00" + markerEnv + "="
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !strings.Contains("\x00"+string(env), want) {
			continue
		}
		if processRunning(pid) {
			out = append(out, pid)
		}
	}
	return out
}
