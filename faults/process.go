package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// processState is the plan and undo record of a process fault: the exact
// processes (pid and start time) it signals.
type processState struct {
	Action string     `json:"action"` // kill | stop
	Signal int        `json:"signal,omitempty"`
	Procs  []Instance `json:"procs"`
}

// processFault kills (any signal) or stops processes by pid or name. The
// name matches the process's comm exactly or, failing that, is a regular
// expression on its command line. For a pod target only processes in the
// pod's network namespace are candidates, so a fault never reaches outside
// its pod; the executor and its helpers are never candidates. Stop is
// recovered with SIGCONT to the same processes (same pid and start time);
// kill has nothing to recover.
func processFault() Handler {
	return Pair[processState]{
		Prep: func(_ context.Context, _ *Env, req *Request) (string, processState, error) {
			pf := req.Fault.Process
			if pf == nil {
				return "", processState{}, errors.New("spec.fault.process: missing")
			}
			s := processState{Action: string(pf.Action), Signal: int(pf.Signal)}
			switch pf.Action {
			case "kill":
				if s.Signal == 0 {
					s.Signal = int(unix.SIGKILL)
				}
				if s.Signal < 1 || s.Signal > 64 {
					return "", s, fmt.Errorf("spec.fault.process.signal: %d is not a signal", s.Signal)
				}
			case "stop":
				s.Signal = int(unix.SIGSTOP)
			default:
				return "", s, fmt.Errorf("spec.fault.process.action: %q: %w", pf.Action, ErrUnsupported)
			}
			procs, err := findProcesses(req.Target, pf.Process, pf.Pid)
			if err != nil {
				return "", s, err
			}
			s.Procs = procs
			return "signal", s, nil
		},
		Do: func(_ context.Context, _ *Env, s *processState) (Live, error) {
			var errs []error
			n := 0
			for _, p := range s.Procs {
				if !p.Alive() {
					continue
				}
				if err := unix.Kill(p.Pid, unix.Signal(s.Signal)); err != nil && !errors.Is(err, unix.ESRCH) {
					errs = append(errs, fmt.Errorf("signal %d to %s: %w", s.Signal, p, err))
					continue
				}
				n++
			}
			if err := errors.Join(errs...); err != nil {
				return nil, err
			}
			m := []Measurement{{Name: MeasuredStoppedProcs, Value: float64(n), Time: time.Now()}}
			return staticLive(m), nil
		},
		Undo: func(_ context.Context, _ *Env, s *processState) error {
			if s.Action != "stop" {
				return nil
			}
			var errs []error
			for _, p := range s.Procs {
				if !p.Alive() {
					continue
				}
				if err := unix.Kill(p.Pid, unix.SIGCONT); err != nil && !errors.Is(err, unix.ESRCH) {
					errs = append(errs, fmt.Errorf("SIGCONT to %s: %w", p, err))
				}
			}
			return errors.Join(errs...)
		},
	}
}

// findProcesses returns the processes a process fault takes.
func findProcesses(t Target, name string, pid *int32) ([]Instance, error) {
	var netnsIno uint64
	if t.NetnsPath != "" {
		var st unix.Stat_t
		if err := unix.Stat(t.NetnsPath, &st); err != nil {
			return nil, fmt.Errorf("target network namespace %s: %w", t.NetnsPath, ErrTargetGone)
		}
		netnsIno = st.Ino
	}
	inScope := func(p int) bool {
		if p == os.Getpid() || p == 1 && t.NetnsPath == "" {
			return false
		}
		if netnsIno == 0 {
			return true
		}
		var st unix.Stat_t
		return unix.Stat("/proc/"+strconv.Itoa(p)+"/ns/net", &st) == nil && st.Ino == netnsIno
	}
	if pid != nil {
		p := int(*pid)
		if !inScope(p) {
			return nil, fmt.Errorf("spec.fault.process.pid: %d is not a process of target %s", p, t.Key)
		}
		inst, err := InstanceOf(p)
		if err != nil {
			return nil, fmt.Errorf("spec.fault.process.pid: %d: %w", p, err)
		}
		return []Instance{inst}, nil
	}
	var re *regexp.Regexp
	if r, err := regexp.Compile(name); err == nil {
		re = r
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Instance
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || !inScope(p) {
			continue
		}
		st, err := readProcStat(p)
		if err != nil || st.state == 'Z' {
			continue
		}
		raw, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cmdline := strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ")
		if cmdline == "" || strings.HasPrefix(cmdline, HelperArg0+" ") {
			continue // kernel threads and our own helpers
		}
		if st.comm == name || re != nil && re.MatchString(cmdline) {
			out = append(out, Instance{Pid: p, Start: st.start})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("spec.fault.process.process: no process of target %s matches %q", t.Key, name)
	}
	return out, nil
}

// staticLive reports fixed measurements.
type staticLive []Measurement

func (s staticLive) Measure(context.Context) []Measurement { return s }
func (s staticLive) Stop()                                 {}
