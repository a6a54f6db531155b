package standalone

import (
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// DefaultListen is where the API listens unless told otherwise: loopback
// only, since the API has no authentication of its own.
const DefaultListen = "127.0.0.1:7410"

// DefaultDuration of an attack that names none (the Experiment default).
const DefaultDuration = 5 * time.Minute

// DefaultMaxDuration is the longest attack accepted unless
// Options.MaxDuration says otherwise.
const DefaultMaxDuration = time.Hour

// Phase is where an attack is.
type Phase string

const (
	// PhaseInjecting: recorded, being applied.
	PhaseInjecting Phase = "Injecting"
	// PhaseInjected: in effect until its deadline.
	PhaseInjected Phase = "Injected"
	// PhaseRecovered: recovered on request, at its deadline or on stop.
	PhaseRecovered Phase = "Recovered"
	// PhaseFailed: the engine could not apply it; nothing of it remains.
	PhaseFailed Phase = "Failed"
)

// AttackRequest asks for one fault on this host.
type AttackRequest struct {
	// Name is a free label, such as the name of the applied manifest.
	Name string `json:"name,omitempty"`
	// Fault is the fault, as in an Injection's spec.fault.
	Fault v1alpha1.FaultSpec `json:"fault"`
	// Duration the fault stays on, such as "1m". Omitted: DefaultDuration.
	Duration string `json:"duration,omitempty"`
	// Peers narrow a network fault to these addresses or CIDRs, as an
	// Injection's spec.peers.
	Peers []string `json:"peers,omitempty"`
}

// Attack is one fault on this host and its state.
type Attack struct {
	ID    string             `json:"id"`
	Name  string             `json:"name,omitempty"`
	Kind  string             `json:"kind"`
	Fault v1alpha1.FaultSpec `json:"fault"`
	Peers []string           `json:"peers,omitempty"`
	// Schedule is the ID of the schedule that started the attack.
	Schedule    string     `json:"schedule,omitempty"`
	Phase       Phase      `json:"phase"`
	Path        string     `json:"path,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	Deadline    time.Time  `json:"deadline"`
	InjectedAt  *time.Time `json:"injectedAt,omitempty"`
	RecoveredAt *time.Time `json:"recoveredAt,omitempty"`
	Message     string     `json:"message,omitempty"`
	// Measured is what the engine measures on an active attack (not kept
	// in the journal).
	Measured []faults.Measurement `json:"measured,omitempty"`
}

// active reports whether a may still be in effect.
func (a *Attack) active() bool { return a.Phase == PhaseInjecting || a.Phase == PhaseInjected }

// RecoverResult answers a recover request; recovering an unknown or
// already recovered attack succeeds and changes nothing.
type RecoverResult struct {
	ID string `json:"id"`
	// WasActive says whether this request ended the attack.
	WasActive bool `json:"wasActive"`
	// Attack as it is now; absent for an unknown ID.
	Attack *Attack `json:"attack,omitempty"`
}

// ScheduleRequest asks for an attack on a cron schedule.
type ScheduleRequest struct {
	// Cron is a 5-field cron expression, optionally with a leading seconds
	// field, or a descriptor such as @hourly or @every 10m, in the host's
	// time zone (a CRON_TZ=Zone prefix chooses another).
	Cron   string        `json:"cron"`
	Attack AttackRequest `json:"attack"`
}

// Schedule is a stored schedule and its history.
type Schedule struct {
	ID        string        `json:"id"`
	Cron      string        `json:"cron"`
	Attack    AttackRequest `json:"attack"`
	CreatedAt time.Time     `json:"createdAt"`
	// Fired counts the attacks started; Skipped the firings skipped because
	// the previous attack was still active or could not start.
	Fired      int        `json:"fired"`
	Skipped    int        `json:"skipped"`
	LastFired  *time.Time `json:"lastFired,omitempty"`
	LastAttack string     `json:"lastAttack,omitempty"`
	// NextFire is when the schedule fires next (not kept in the journal).
	NextFire *time.Time `json:"nextFire,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// ApplyResult is what an apply started.
type ApplyResult struct {
	Attacks   []Attack   `json:"attacks"`
	Schedules []Schedule `json:"schedules"`
}

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
	// Field is the offending field of a 400, such as fault.network.latency.
	Field string `json:"field,omitempty"`
}
