package standalone

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground"
)

// A process kill by pid reaches the process; a CPU stress runs a helper
// whose load the engine measures, and ends at the deadline.
func TestProcessKillAndStress(t *testing.T) {
	a := startTestAgent(t)
	sleep := exec.Command("sleep", "300")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleep.Wait() }()
	t.Cleanup(func() { _ = sleep.Process.Kill() })

	status, _, raw := a.call(t, "POST", "/v1/attacks", "application/json",
		`{"fault":{"process":{"action":"kill","pid":`+strconv.Itoa(sleep.Process.Pid)+`,"signal":15}},"duration":"60s"}`) // outlasts the stress below, however slow
	if status != 201 {
		t.Fatalf("process kill: %d %s", status, raw)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("sleep ended with %v, want SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the process kill did not reach the process")
	}

	status, _, raw = a.call(t, "POST", "/v1/attacks", "application/json",
		`{"fault":{"stress":{"action":"cpu","workers":1,"load":30}},"duration":"3s"}`)
	if status != 201 {
		t.Fatalf("stress: %d %s", status, raw)
	}
	st := decode[Attack](t, raw)
	if st.Path != "helper" || st.Phase != PhaseInjected {
		t.Errorf("stress attack %s via %q, want Injected via helper", st.Phase, st.Path)
	}
	var load float64
	if !testground.Eventually(3*time.Second, func() bool {
		got, _ := a.s.getAttack(st.ID)
		for _, m := range got.Measured {
			if m.Name == "cpu_load_ratio" {
				load = m.Value
			}
		}
		return load > 0
	}) {
		t.Errorf("no CPU load measured on the stress attack")
	}
	t.Logf("CPU stress at 30%%: measured load %.2f", load)
	if !testground.Eventually(5*time.Second, func() bool { got, _ := a.s.getAttack(st.ID); return got.Phase == PhaseRecovered }) {
		got, _ := a.s.getAttack(st.ID)
		t.Fatalf("stress after its deadline: %s %q", got.Phase, got.Message)
	}
	if act := a.s.engine.Active(); len(act) != 1 || !strings.Contains(act[0].ID, "|") || act[0].Kind != "process/kill" {
		t.Errorf("engine holds %+v; want only the process kill until its deadline", act)
	}
}

// An Experiment's fault runs on this host for its duration; a scheduled
// Experiment becomes a schedule; several documents apply together.
func TestApplyExperimentAndInjection(t *testing.T) {
	a := startTestAgent(t)
	body := experimentYAML(a.dir, "") + "---\n" + injectionYAML(a.dir, "")
	status, _, raw := a.call(t, "POST", "/v1/apply", "application/yaml", body)
	if status != 201 {
		t.Fatalf("apply: %d %s", status, raw)
	}
	res := decode[ApplyResult](t, raw)
	if len(res.Attacks) != 2 || len(res.Schedules) != 0 {
		t.Fatalf("apply started %+v", res)
	}
	exp := res.Attacks[0]
	if exp.Name != "fill-var" || exp.Phase != PhaseInjected || exp.Kind != "disk/fill" {
		t.Errorf("experiment attack %+v", exp)
	}
	if d := exp.Deadline.Sub(exp.CreatedAt); d != time.Minute {
		t.Errorf("experiment attack runs %v, want its spec.duration 1m", d)
	}
	if d := res.Attacks[1].Deadline.Sub(res.Attacks[1].CreatedAt); d != DefaultDuration {
		t.Errorf("injection without deadline runs %v, want the default %v", d, DefaultDuration)
	}
	if n := len(fillFiles(t, a.dir)); n != 2 {
		t.Errorf("%d fill files, want 2", n)
	}

	status, _, raw = a.call(t, "POST", "/v1/apply", "application/yaml", experimentYAML(a.dir, `schedule: "@hourly"`))
	if status != 201 {
		t.Fatalf("apply scheduled experiment: %d %s", status, raw)
	}
	res = decode[ApplyResult](t, raw)
	if len(res.Attacks) != 0 || len(res.Schedules) != 1 || res.Schedules[0].Cron != "@hourly" || res.Schedules[0].Attack.Duration != "1m0s" {
		t.Errorf("scheduled experiment started %+v", res)
	}
}

// Stopping on purpose recovers every attack; schedules stay in the journal
// for the next start.
func TestCloseRecoversAttacksAndKeepsSchedules(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.db")
	s, err := Open(t.Context(), Options{JournalPath: journal, Hostname: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	req := AttackRequest{Fault: decode[AttackRequest](t, []byte(diskFill(dir, "64Ki", "1m"))).Fault, Duration: "1m"}
	d, fe := s.validateAttack(t.Context(), "", &req, "duration")
	if fe != nil {
		t.Fatal(fe)
	}
	s.mu.Lock()
	at, err := s.startAttackLocked(t.Context(), &req, d, "")
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.putSchedule("", &ScheduleRequest{Cron: "@hourly", Attack: req})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.WithoutCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
	if left := fillFiles(t, dir); len(left) != 0 {
		t.Errorf("fill left after Close: %v", left)
	}

	s, err = Open(t.Context(), Options{JournalPath: journal, Hostname: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.WithoutCancel(t.Context()))
	got, ok := s.getAttack(at.ID)
	if !ok || got.Phase != PhaseRecovered || got.Message != "the agent stopped" {
		t.Errorf("attack after a stop on purpose: %+v", got)
	}
	if len(fillFiles(t, dir)) != 0 {
		t.Error("a recovered attack was applied again after the restart")
	}
	if gsc, ok := s.getSchedule(sc.ID); !ok || gsc.NextFire == nil || time.Until(*gsc.NextFire) > time.Hour {
		t.Errorf("schedule after restart: %+v", gsc)
	}
}
