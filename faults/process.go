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
			n, err := signalEach(s.Procs, unix.Signal(s.Signal))
			if err != nil {
				return nil, err
			}
			m := []Measurement{{Name: MeasuredStoppedProcs, Value: float64(n), Time: time.Now()}}
			return staticLive(m), nil
		},
		Undo: func(_ context.Context, _ *Env, s *processState) error {
			if s.Action != "stop" {
				return nil
			}
			_, err := signalEach(s.Procs, unix.SIGCONT)
			return err
		},
	}
}

// signalEach sends sig to every process of procs that still runs (same pid
// and start time), so a pid the kernel gave to another process since is
// never hit. A process that is gone counts as done. It returns how many
// processes it signalled.
func signalEach(procs []Instance, sig unix.Signal) (int, error) {
	var errs []error
	n := 0
	for _, p := range procs {
		if !p.Alive() {
			continue
		}
		if err := unix.Kill(p.Pid, sig); err != nil {
			if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("signal %s to %s: %w", unix.SignalName(sig), p, err))
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// userProc is a user process as /proc shows it.
type userProc struct {
	Instance
	stat    procStat
	cmdline string
}

// scanProcesses lists the user processes for which keep (nil: all) is
// true, leaving out zombies, kernel threads, the executor itself and its
// helpers: no fault ever signals those.
func scanProcesses(keep func(pid int) bool) ([]userProc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []userProc
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == self || keep != nil && !keep(p) {
			continue
		}
		st, err := readProcStat(p)
		if err != nil || st.state == 'Z' || st.state == 'X' {
			continue
		}
		raw, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cmdline := strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ")
		if cmdline == "" || cmdline == HelperArg0 || strings.HasPrefix(cmdline, HelperArg0+" ") {
			continue // kernel threads and our own helpers
		}
		out = append(out, userProc{Instance: Instance{Pid: p, Start: st.start}, stat: st, cmdline: cmdline})
	}
	return out, nil
}

// findProcesses returns the processes a process fault takes.
func findProcesses(t Target, name string, pid *int32) ([]Instance, error) {
	var netnsIno uint64
	if t.NetnsPath != "" {
		ino, err := netnsInode(t.NetnsPath)
		if err != nil {
			return nil, err
		}
		netnsIno = ino
	}
	inScope := func(p int) bool {
		if p == os.Getpid() || p == 1 && t.NetnsPath == "" {
			return false
		}
		return netnsIno == 0 || inNetns(p, netnsIno)
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
	procs, err := scanProcesses(inScope)
	if err != nil {
		return nil, err
	}
	var out []Instance
	for _, p := range procs {
		if p.stat.comm == name || re != nil && re.MatchString(p.cmdline) {
			out = append(out, p.Instance)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("spec.fault.process.process: no process of target %s matches %q", t.Key, name)
	}
	return out, nil
}

// netnsInode identifies the network namespace file at path; a missing one
// is ErrTargetGone.
func netnsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("target network namespace %s: %w", path, ErrTargetGone)
	}
	return st.Ino, nil
}

// inNetns reports whether pid lives in the network namespace of inode ino.
func inNetns(pid int, ino uint64) bool {
	var st unix.Stat_t
	return unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &st) == nil && st.Ino == ino
}

// staticLive reports fixed measurements.
type staticLive []Measurement

func (s staticLive) Measure(context.Context) []Measurement { return s }
func (s staticLive) Stop()                                 {}
