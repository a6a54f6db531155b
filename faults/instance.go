package faults

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Instance identifies one running process across pid reuse: its pid and its
// start time in clock ticks since boot (field 22 of /proc/PID/stat).
type Instance struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Self returns the calling process's Instance.
func Self() (Instance, error) { return InstanceOf(os.Getpid()) }

// InstanceOf reads pid's start time; a missing process is os.ErrNotExist.
func InstanceOf(pid int) (Instance, error) {
	start, err := procStartTime(pid)
	if err != nil {
		return Instance{}, err
	}
	return Instance{Pid: pid, Start: start}, nil
}

// Alive reports whether this very process still runs (same pid and start
// time, and not a zombie).
func (i Instance) Alive() bool {
	st, err := readProcStat(i.Pid)
	if err != nil {
		return false
	}
	return st.start == i.Start && st.state != 'Z' && st.state != 'X'
}

func (i Instance) String() string { return fmt.Sprintf("pid %d (start %d)", i.Pid, i.Start) }

type procStat struct {
	state      byte
	ppid       int
	utime      uint64
	stime      uint64
	start      uint64
	comm       string
	numThreads int
}

// readProcStat parses /proc/PID/stat; comm may hold spaces and parentheses,
// so fields are counted from the last ')'.
func readProcStat(pid int) (procStat, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	open := bytes.IndexByte(raw, '(')
	end := bytes.LastIndexByte(raw, ')')
	if open < 0 || end < 0 || end+2 >= len(raw) {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(raw[end+2:]))
	// f[0] is field 3 (state); field N is f[N-3].
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	st := procStat{state: f[0][0], comm: string(raw[open+1 : end])}
	if st.ppid, err = strconv.Atoi(f[4-3]); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat ppid: %w", pid, err)
	}
	if st.utime, err = strconv.ParseUint(f[14-3], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat utime: %w", pid, err)
	}
	if st.stime, err = strconv.ParseUint(f[15-3], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat stime: %w", pid, err)
	}
	if st.numThreads, err = strconv.Atoi(f[20-3]); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat threads: %w", pid, err)
	}
	if st.start, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	return st, nil
}

func procStartTime(pid int) (uint64, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return st.start, nil
}

// clockTicks is USER_HZ; Linux reports /proc times in it and it is 100 on
// every architecture Go supports.
const clockTicks = 100
