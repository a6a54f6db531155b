package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stressState is the plan and undo record of a stress fault.
type stressState struct {
	ID       string     `json:"id"` // short id, on the helper's command line
	Mode     string     `json:"mode"`
	Workers  int        `json:"workers,omitempty"`
	Load     int        `json:"load,omitempty"`
	Bytes    int64      `json:"bytes,omitempty"`
	Cgroup   string     `json:"cgroup,omitempty"`
	Deadline time.Time  `json:"deadline"`
	Helpers  []Instance `json:"helpers,omitempty"`
}

// stressFault consumes CPU or memory in a helper process: the executor's
// own binary re-executed as "faultline-helper", placed in the target's
// cgroup when it has one. A helper is a separate process so that it keeps
// working while the executor restarts, can be killed by pid and start time
// from the journal, and exits on its own at the deadline even if nobody
// kills it.
func stressFault() Handler {
	return Pair[stressState]{
		Prep: func(_ context.Context, _ *Env, req *Request) (string, stressState, error) {
			sf := req.Fault.Stress
			if sf == nil {
				return "", stressState{}, errors.New("spec.fault.stress: missing")
			}
			s := stressState{ID: shortID(req.ID), Cgroup: req.Target.CgroupPath, Deadline: req.Deadline}
			if s.Cgroup != "" {
				if _, err := os.Stat(s.Cgroup); err != nil {
					return "", s, fmt.Errorf("target cgroup %s: %w", s.Cgroup, ErrTargetGone)
				}
			}
			switch sf.Action {
			case "cpu":
				s.Mode, s.Workers, s.Load = "stress-cpu", int(sf.Workers), int(sf.Load)
				if s.Workers == 0 {
					s.Workers = 1
				}
				if s.Load == 0 {
					s.Load = 100
				}
				if s.Workers < 1 || s.Workers > 256 || s.Load < 1 || s.Load > 100 {
					return "", s, fmt.Errorf("spec.fault.stress: workers %d (1..256), load %d (1..100)", s.Workers, s.Load)
				}
			case "memory":
				if sf.Size == nil || sf.Size.Value() <= 0 {
					return "", s, errors.New("spec.fault.stress.size: must be positive")
				}
				s.Mode, s.Bytes = "stress-memory", sf.Size.Value()
			default:
				return "", s, fmt.Errorf("spec.fault.stress.action: %q: %w", sf.Action, ErrUnsupported)
			}
			return "helper", s, nil
		},
		Do: func(_ context.Context, env *Env, s *stressState) (Live, error) {
			// Idempotent: a helper of this fault that still runs is reused.
			if hs := findHelpers(s.ID); len(hs) > 0 {
				s.Helpers = hs
				return &stressLive{s: *s}, nil
			}
			var extra []string
			if s.Mode == "stress-cpu" {
				extra = []string{"--workers=" + strconv.Itoa(s.Workers), "--load=" + strconv.Itoa(s.Load)}
			} else {
				extra = []string{"--bytes=" + strconv.FormatInt(s.Bytes, 10)}
			}
			inst, err := startHelper(env, s.Mode, s.ID, s.Deadline, s.Cgroup, extra...)
			if err != nil {
				return nil, err
			}
			s.Helpers = []Instance{inst}
			if env.Rejournal != nil {
				if err := env.Rejournal(s); err != nil {
					return nil, errors.Join(err, killHelpers(s.ID, s.Helpers))
				}
			}
			return &stressLive{s: *s}, nil
		},
		Undo: func(_ context.Context, _ *Env, s *stressState) error { return killHelpers(s.ID, s.Helpers) },
	}
}

// stressLive measures what the helpers really consume.
type stressLive struct {
	s    stressState
	mu   sync.Mutex
	t0   time.Time
	cpu0 uint64
	last []Measurement
}

func (l *stressLive) Measure(context.Context) []Measurement {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var cpu uint64
	var rss int64
	alive := 0
	for _, h := range l.s.Helpers {
		st, err := readProcStat(h.Pid)
		if err != nil || st.start != h.Start {
			continue
		}
		alive++
		cpu += st.utime + st.stime
		rss += vmRSS(h.Pid)
	}
	if alive == 0 {
		return l.last
	}
	if l.s.Mode == "stress-memory" {
		l.last = []Measurement{{Name: MeasuredMemoryBytes, Value: float64(rss), Time: now}}
		return l.last
	}
	if !l.t0.IsZero() && now.Sub(l.t0) >= 200*time.Millisecond {
		used := float64(cpu-l.cpu0) / clockTicks
		l.last = []Measurement{{Name: MeasuredCPULoadRatio, Value: used / now.Sub(l.t0).Seconds() / float64(l.s.Workers), Time: now}}
	}
	l.t0, l.cpu0 = now, cpu
	return l.last
}

func (l *stressLive) Stop() {}

// Healthy reports whether every helper still runs (it may have been
// OOM-killed, or killed by someone else).
func (l *stressLive) Healthy() bool {
	for _, h := range l.s.Helpers {
		if !h.Alive() {
			return false
		}
	}
	return true
}

// vmRSS reads a process's resident set in bytes.
func vmRSS(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
