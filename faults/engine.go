package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Env is what handlers may use besides their request: the machine's
// capabilities, the binary to re-execute for helpers, a logger.
type Env struct {
	Caps       Capabilities
	HelperPath string
	Log        logr.Logger
	// Rejournal replaces the undo record of the fault being applied, for
	// what only Apply learns (helper pids). Set by the engine during Apply.
	Rejournal func(undo any) error
}

// Options configure an Engine.
type Options struct {
	// JournalPath is the bbolt file of the journal.
	JournalPath string
	// Registry of faults; nil means Builtin().
	Registry *Registry
	// Capabilities of the machine; nil means Detect().
	Capabilities *Capabilities
	// Metrics, optional.
	Metrics *Metrics
	// HelperPath is the binary to re-execute for helper processes; empty
	// means os.Executable(). It must call HelperMain first thing.
	HelperPath string
	Log        logr.Logger
	// OnRecovered is called (outside engine locks) after the engine
	// recovered a fault on its own (deadline), so an owner can report it.
	OnRecovered func(id, reason string)
	// MeasureInterval is how often active faults are measured; 0 means 1s.
	MeasureInterval time.Duration
}

// Status is what the engine knows about one fault.
type Status struct {
	ID        string
	Kind      string
	Path      string
	Injection string
	TargetKey string
	AppliedAt time.Time
	Deadline  time.Time
	Measured  []Measurement
}

type active struct {
	rec      Record
	handler  Handler
	live     Live
	timer    *time.Timer
	applied  time.Time
	measured []Measurement
}

// Engine applies and recovers faults, journals them first, and recovers
// each on its own at its deadline.
type Engine struct {
	env      Env
	reg      *Registry
	journal  *Journal
	metrics  *Metrics
	self     Instance
	onRecov  func(id, reason string)
	interval time.Duration

	mu     sync.Mutex
	active map[string]*active
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// ReapReport says what Open found in the journal and recovered.
type ReapReport struct {
	Recovered []string
	// Failed keeps the records that could not be recovered; they stay in
	// the journal and the engine keeps retrying them.
	Failed map[string]error
}

// Open opens the journal and, before anything else, recovers every fault a
// previous executor left in it: their owner (the previous process) is gone,
// and any in-process part of them (an NFQUEUE server) died with it, so none
// can be trusted to still be right. Whoever still wants a fault applies it
// again; Apply is idempotent. Records that fail to recover stay journaled
// and are retried every second in the background.
func Open(ctx context.Context, o Options) (*Engine, ReapReport, error) {
	self, err := Self()
	if err != nil {
		return nil, ReapReport{}, fmt.Errorf("identify executor process: %w", err)
	}
	j, err := OpenJournal(o.JournalPath)
	if err != nil {
		return nil, ReapReport{}, err
	}
	reg := o.Registry
	if reg == nil {
		reg = Builtin()
	}
	helper := o.HelperPath
	if helper == "" {
		if helper, err = os.Executable(); err != nil {
			return nil, ReapReport{}, errors.Join(fmt.Errorf("find own executable: %w", err), j.Close())
		}
	}
	e := &Engine{
		env:      Env{HelperPath: helper, Log: o.Log},
		reg:      reg,
		journal:  j,
		metrics:  o.Metrics,
		self:     self,
		onRecov:  o.OnRecovered,
		interval: o.MeasureInterval,
		active:   map[string]*active{},
		stop:     make(chan struct{}),
	}
	if e.interval <= 0 {
		e.interval = time.Second
	}
	report, err := e.reap(ctx)
	if err != nil {
		return nil, report, errors.Join(err, j.Close())
	}
	if o.Capabilities != nil {
		e.env.Caps = *o.Capabilities
	} else {
		e.env.Caps = Detect()
	}
	e.metrics.setCapabilities(e.env.Caps)
	e.wg.Add(1)
	go e.measureLoop()
	return e, report, nil
}

// reap recovers every journaled record not owned by this process.
func (e *Engine) reap(ctx context.Context) (ReapReport, error) {
	report := ReapReport{Failed: map[string]error{}}
	recs, listErr := e.journal.List()
	if listErr != nil && recs == nil {
		return report, listErr
	}
	for _, rec := range recs {
		if rec.Owner == e.self {
			continue
		}
		h, ok := e.reg.Lookup(rec.Kind)
		if !ok {
			report.Failed[rec.ID] = fmt.Errorf("journaled fault %s has unknown kind %q", rec.ID, rec.Kind)
			continue
		}
		if err := e.recoverRecord(ctx, h, &rec); err != nil {
			report.Failed[rec.ID] = err
			// Keep the record, owned by us now, and retry until it works.
			a := &active{rec: rec, handler: h}
			a.rec.Owner = e.self
			if err := e.journal.Put(&a.rec); err != nil {
				return report, err
			}
			e.active[rec.ID] = a
			e.scheduleRetry(a)
			continue
		}
		e.metrics.recovered(rec.Kind, "reaped")
		report.Recovered = append(report.Recovered, rec.ID)
	}
	// A record that does not decode cannot be recovered automatically;
	// refusing to start would leave the machine worse. Report it.
	if listErr != nil {
		report.Failed["<journal>"] = listErr
	}
	return report, nil
}

// Capabilities returns what this machine supports.
func (e *Engine) Capabilities() Capabilities { return e.env.Caps }

// Registry returns the engine's registry.
func (e *Engine) Registry() *Registry { return e.reg }

// Journal returns the engine's journal, for an owner's state buckets
// (PutState); fault records are the engine's alone.
func (e *Engine) Journal() *Journal { return e.journal }

// Validate runs req's Prepare, which has no side effects: an error means
// Apply would refuse req as it stands (a bad field, an unsupported option,
// a missing target) and nothing has changed.
func (e *Engine) Validate(ctx context.Context, req *Request) error {
	kind := req.Fault.Kind()
	h, ok := e.reg.Lookup(kind)
	if !ok {
		return fmt.Errorf("fault %q: %w", kind, ErrUnsupported)
	}
	_, err := h.Prepare(ctx, &e.env, req)
	return err
}

// SpecHash identifies the effect of req on h, its fault's handler: a
// changed hash means the fault must be recovered and applied again. The
// target's containers count only for a handler that reads them (see
// ContainerReader).
func SpecHash(req *Request, h Handler) string {
	t := req.Target
	if cr, ok := h.(ContainerReader); !ok || !cr.ReadsContainers() {
		t.Containers = nil
	}
	raw, _ := json.Marshal(struct {
		F any
		T Target
		P []string
	}{req.Fault, t, req.Peers})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// Apply puts req's fault in place, or, if it already is (same ID and same
// spec), only moves its deadline. A changed spec is recovered and applied
// anew. The journal holds the undo record before the fault takes effect;
// if applying fails, whatever was done is recovered again before Apply
// returns, so nothing stays half-applied.
func (e *Engine) Apply(ctx context.Context, req *Request) (Status, error) {
	if req.ID == "" {
		return Status{}, errors.New("apply: request has no ID")
	}
	kind := req.Fault.Kind()
	h, ok := e.reg.Lookup(kind)
	if !ok {
		return Status{}, fmt.Errorf("apply %s: fault %q: %w", req.ID, kind, ErrUnsupported)
	}
	if !req.Deadline.After(time.Now()) {
		return Status{}, fmt.Errorf("apply %s: deadline %s has passed", req.ID, req.Deadline.Format(time.RFC3339))
	}
	hash := SpecHash(req, h)

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Status{}, errors.New("apply: engine is closed")
	}
	if a, ok := e.active[req.ID]; ok {
		if a.rec.SpecHash == hash && !a.applied.IsZero() && healthy(a.live) {
			if err := e.renewLocked(a, req.Deadline); err != nil {
				return Status{}, err
			}
			return a.status(), nil
		}
		if err := e.recoverLocked(ctx, a, "changed"); err != nil {
			return Status{}, fmt.Errorf("apply %s: recover previous spec: %w", req.ID, err)
		}
	}

	plan, err := h.Prepare(ctx, &e.env, req)
	if err != nil {
		e.metrics.applied(kind, "invalid")
		return Status{}, fmt.Errorf("apply %s (%s): %w", req.ID, kind, err)
	}
	rec := Record{
		ID: req.ID, Kind: kind, Path: plan.Path, Injection: req.Injection, Target: req.Target,
		SpecHash: hash, Deadline: req.Deadline, Owner: e.self, Journaled: time.Now(), Undo: plan.Undo,
	}
	if err := e.journal.Put(&rec); err != nil {
		e.metrics.applied(kind, "error")
		return Status{}, err
	}
	env := e.env
	env.Rejournal = func(undo any) error {
		raw, err := json.Marshal(undo)
		if err != nil {
			return fmt.Errorf("encode undo record: %w", err)
		}
		next := rec
		next.Undo = raw
		if err := e.journal.Put(&next); err != nil {
			return err
		}
		rec = next
		return nil
	}
	live, err := h.Apply(ctx, &env, plan)
	if err != nil {
		e.metrics.applied(kind, "error")
		if rerr := e.recoverRecord(context.WithoutCancel(ctx), h, &rec); rerr != nil {
			// Still journaled: the retry loop keeps at it.
			a := &active{rec: rec, handler: h}
			e.active[rec.ID] = a
			e.scheduleRetry(a)
			return Status{}, errors.Join(fmt.Errorf("apply %s (%s): %w", req.ID, kind, err), fmt.Errorf("undo: %w", rerr))
		}
		return Status{}, fmt.Errorf("apply %s (%s): %w", req.ID, kind, err)
	}
	a := &active{rec: rec, handler: h, live: live, applied: time.Now()}
	e.active[req.ID] = a
	e.armDeadline(a)
	e.metrics.applied(kind, "ok")
	e.metrics.setActive(&a.rec, true)
	if live != nil {
		a.measured = live.Measure(ctx)
		e.metrics.setMeasured(&a.rec, a.measured)
	}
	return a.status(), nil
}

func healthy(l Live) bool {
	c, ok := l.(Checked)
	return !ok || c.Healthy()
}

// Renew moves an active fault's deadline.
func (e *Engine) Renew(id string, deadline time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.active[id]
	if !ok || a.applied.IsZero() {
		return fmt.Errorf("renew %s: not active", id)
	}
	return e.renewLocked(a, deadline)
}

func (e *Engine) renewLocked(a *active, deadline time.Time) error {
	if deadline.Equal(a.rec.Deadline) {
		return nil
	}
	rec := a.rec
	rec.Deadline = deadline
	if err := e.journal.Put(&rec); err != nil {
		return err
	}
	a.rec = rec
	e.armDeadline(a)
	return nil
}

// armDeadline (re)starts the local dead man's switch of a.
func (e *Engine) armDeadline(a *active) {
	if a.timer != nil {
		a.timer.Stop()
	}
	id := a.rec.ID
	a.timer = time.AfterFunc(time.Until(a.rec.Deadline), func() { e.expire(id, a) })
}

// expire recovers a fault whose deadline passed with nobody renewing it.
func (e *Engine) expire(id string, want *active) {
	e.mu.Lock()
	a, ok := e.active[id]
	if !ok || a != want || e.closed {
		e.mu.Unlock()
		return
	}
	if time.Now().Before(a.rec.Deadline) { // renewed meanwhile
		e.mu.Unlock()
		return
	}
	err := e.recoverLocked(context.Background(), a, "deadline")
	e.mu.Unlock()
	if err != nil {
		e.env.Log.Error(err, "recover at deadline failed; retrying", "fault", id)
		return
	}
	if e.onRecov != nil {
		e.onRecov(id, "deadline")
	}
}

// Recover removes the fault of id. Recovering an unknown id is a no-op.
func (e *Engine) Recover(ctx context.Context, id, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.active[id]
	if !ok {
		return nil
	}
	return e.recoverLocked(ctx, a, reason)
}

// recoverLocked undoes a; on failure the record stays journaled and a
// retry is scheduled.
func (e *Engine) recoverLocked(ctx context.Context, a *active, reason string) error {
	if a.timer != nil {
		a.timer.Stop()
	}
	if err := e.recoverRecord(ctx, a.handler, &a.rec); err != nil {
		e.scheduleRetry(a)
		return err
	}
	if a.live != nil {
		a.live.Stop()
		a.live = nil
	}
	delete(e.active, a.rec.ID)
	e.metrics.setActive(&a.rec, false)
	e.metrics.recovered(a.rec.Kind, reason)
	return nil
}

// recoverRecord runs the handler's Recover and unjournals the record.
func (e *Engine) recoverRecord(ctx context.Context, h Handler, rec *Record) error {
	if err := h.Recover(ctx, &e.env, rec.Undo); err != nil && !errors.Is(err, ErrTargetGone) {
		return fmt.Errorf("recover %s (%s): %w", rec.ID, rec.Kind, err)
	}
	return e.journal.Delete(rec.ID)
}

// scheduleRetry retries a failed recovery every second until it works.
func (e *Engine) scheduleRetry(a *active) {
	if a.timer != nil {
		a.timer.Stop()
	}
	id := a.rec.ID
	a.timer = time.AfterFunc(time.Second, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if cur, ok := e.active[id]; !ok || cur != a || e.closed {
			return
		}
		if err := e.recoverLocked(context.Background(), a, "retry"); err != nil {
			e.env.Log.Error(err, "recovery failed; retrying", "fault", id)
		}
	})
}

// Status returns the state of id, if the engine holds it.
func (e *Engine) Status(id string) (Status, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.active[id]
	if !ok || a.applied.IsZero() {
		return Status{}, false
	}
	return a.status(), true
}

// Active lists the applied faults.
func (e *Engine) Active() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Status
	for _, a := range e.active {
		if !a.applied.IsZero() {
			out = append(out, a.status())
		}
	}
	return out
}

func (a *active) status() Status {
	return Status{
		ID: a.rec.ID, Kind: a.rec.Kind, Path: a.rec.Path, Injection: a.rec.Injection,
		TargetKey: a.rec.Target.Key, AppliedAt: a.applied, Deadline: a.rec.Deadline,
		Measured: append([]Measurement(nil), a.measured...),
	}
}

// measureLoop refreshes measurements of active faults.
func (e *Engine) measureLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		e.mu.Lock()
		type item struct {
			a    *active
			live Live
		}
		var items []item
		for _, a := range e.active {
			if a.live != nil {
				items = append(items, item{a, a.live})
			}
		}
		e.mu.Unlock()
		for _, it := range items {
			ctx, cancel := context.WithTimeout(context.Background(), e.interval)
			m := it.live.Measure(ctx)
			cancel()
			e.mu.Lock()
			if cur, ok := e.active[it.a.rec.ID]; ok && cur == it.a && it.a.live != nil {
				it.a.measured = m
				e.metrics.setMeasured(&it.a.rec, m)
			}
			e.mu.Unlock()
		}
	}
}

// Close recovers every active fault (an executor that stops on purpose
// leaves nothing behind) and closes the journal. Faults it cannot recover
// stay journaled for the next start.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var errs []error
	for _, a := range e.active {
		if err := e.recoverLocked(ctx, a, "shutdown"); err != nil {
			errs = append(errs, err)
		}
		if a.timer != nil {
			a.timer.Stop()
		}
	}
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	errs = append(errs, e.journal.Close())
	return errors.Join(errs...)
}
