package standalone

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/robfig/cron/v3"

	"github.com/faultline-dev/faultline/faults"
)

// Options configure a Server.
type Options struct {
	// Listen is the API address; empty means DefaultListen (loopback).
	Listen string
	// JournalPath of the fault engine, which also keeps attacks and
	// schedules.
	JournalPath string
	// DefaultDuration of an attack that names none; 0 means DefaultDuration.
	DefaultDuration time.Duration
	// MaxDuration is the longest attack accepted; 0 means DefaultMaxDuration.
	MaxDuration time.Duration
	// Hostname is the target key of this host's faults; empty means
	// os.Hostname().
	Hostname string
	Log      logr.Logger
}

// Server is a standalone host agent: the fault engine, its attacks and
// schedules, and the REST API in front of them.
type Server struct {
	o      Options
	engine *faults.Engine
	store  store
	cron   *cron.Cron

	// mu serialises every change of attacks and schedules, and their
	// journal writes.
	mu        sync.Mutex
	attacks   map[string]*Attack
	schedules map[string]*Schedule
	entries   map[string]cron.EntryID
	closed    bool
}

// Open starts a standalone agent: the engine first (which reaps whatever a
// killed predecessor left), then the attacks that must go on until their
// deadline, then the schedules. It does not listen; see Serve and Run.
func Open(ctx context.Context, o Options) (*Server, error) {
	if o.DefaultDuration <= 0 {
		o.DefaultDuration = DefaultDuration
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.DefaultDuration > o.MaxDuration {
		return nil, fmt.Errorf("default duration %s is longer than the maximum %s", o.DefaultDuration, o.MaxDuration)
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	s := &Server{o: o, attacks: map[string]*Attack{}, schedules: map[string]*Schedule{}, entries: map[string]cron.EntryID{}}
	if o.JournalPath == "" {
		return nil, errors.New("journal path is required")
	}
	// The engine reaps whatever a killed predecessor left before anything
	// else runs.
	e, report, err := faults.Open(ctx, faults.Options{JournalPath: o.JournalPath, Log: o.Log, OnRecovered: s.onRecovered})
	if err != nil {
		return nil, fmt.Errorf("open fault engine: %w", err)
	}
	if len(report.Recovered) > 0 || len(report.Failed) > 0 {
		o.Log.Info("recovered faults left by a previous agent", "recovered", report.Recovered, "failed", fmt.Sprint(report.Failed))
	}
	s.engine = e
	s.store = store{j: s.engine.Journal()}
	// A record that does not decode is reported, not fatal: the engine has
	// reaped its fault already, and refusing to start would also stop every
	// other schedule.
	if err := s.restoreAttacks(ctx); err != nil {
		o.Log.Error(err, "restore attacks from the journal")
	}
	if err := s.startSchedules(); err != nil {
		o.Log.Error(err, "restore schedules from the journal")
	}
	return s, nil
}

// Close stops the schedules and recovers every attack (an agent stopped
// on purpose leaves nothing behind), then closes the engine.
func (s *Server) Close(ctx context.Context) error {
	if s.cron != nil {
		<-s.cron.Stop().Done()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, a := range s.attacks {
		if a.active() {
			errs = append(errs, s.recoverLocked(ctx, a, "the agent stopped"))
		}
	}
	errs = append(errs, s.engine.Close(ctx))
	return errors.Join(errs...)
}

// Serve answers the API on ln until ctx ends, then shuts the listener down
// gracefully (it does not Close the Server).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Run opens the agent, listens on o.Listen and serves until ctx ends, then
// recovers every attack and closes.
func Run(ctx context.Context, o Options) (retErr error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	s, err := Open(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		retErr = errors.Join(retErr, s.Close(closeCtx))
	}()
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if !loopback(ln.Addr()) {
		o.Log.Info("WARNING: the standalone API has no authentication and listens beyond loopback", "address", ln.Addr().String())
	}
	o.Log.Info("standalone agent serving", "address", ln.Addr().String(), "journal", o.JournalPath)
	return s.Serve(ctx, ln)
}

func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// target is this host, in the agent's own namespaces.
func (s *Server) target() faults.Target { return faults.Target{Key: s.o.Hostname} }

// engineIDPrefix marks the engine faults of standalone attacks.
const engineIDPrefix = "standalone|"

func engineID(attackID string) string { return engineIDPrefix + attackID }

// newID returns a short random ID such as a-3f9c2e7b1d04.
func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// validID keeps IDs from the URL sane before they reach the journal.
func validID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, "|/ \t\n")
}
