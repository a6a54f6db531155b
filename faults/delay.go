package faults

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/faults/internal/nfqueue"
)

// queueBase is the first NFQUEUE number the engine binds (one per delay
// fault and network namespace; numbers are per namespace).
const queueBase = 0xfa00

// delayFault adds latency (and jitter, with correlation) to the target's
// packets. With sch_netem, a whole-interface egress delay is a netem qdisc.
// Otherwise, and whenever the fault is narrowed to peers or ports or covers
// ingress, it takes the userspace path: an inet table queues the matching
// packets (loopback excluded) to an NFQUEUE this executor serves, holding
// each packet for its delay before accepting it. The queue rule has the
// bypass flag, so if the executor dies the packets flow undelayed instead
// of being dropped until the reaper removes the table.
func delayFault() Handler {
	return Pair[netState]{
		Prep: func(_ context.Context, env *Env, req *Request) (string, netState, error) {
			nf, err := networkSpec(req)
			if err != nil {
				return "", netState{}, err
			}
			if nf.Latency == nil || nf.Latency.Duration <= 0 {
				return "", netState{}, errors.New("spec.fault.network.latency: must be positive")
			}
			m, err := parseNetMatch(nf, req.Peers)
			if err != nil {
				return "", netState{}, err
			}
			s := netState{
				nftTable: nftTable{Netns: req.Target.NetnsPath, Family: "inet", Table: tableName(req.ID)},
				Match:    m,
				Latency:  nf.Latency.Duration,
			}
			if nf.Jitter != nil {
				s.Jitter = nf.Jitter.Duration
			}
			if nf.Correlation != "" {
				if s.Correlation, err = parsePercent("spec.fault.network.correlation", nf.Correlation); err != nil {
					return "", s, err
				}
			}
			if env.Caps.Netem && len(m.Peers) == 0 && len(m.Ports) == 0 && m.Direction == "to" {
				dev, err := resolveDevice(req.Target.NetnsPath, nf.Device)
				if err != nil {
					return "", s, err
				}
				s.Device = dev
				return "netem", s, nil
			}
			if !env.Caps.NFQueue || !env.Caps.Nftables {
				return "", s, fmt.Errorf("delay needs sch_netem or nftables with NFQUEUE (%s): %w", env.Caps, ErrUnsupported)
			}
			if s.Match.Device, err = namedDevice(req.Target.NetnsPath, nf.Device); err != nil {
				return "", s, err
			}
			s.QueueNum = queueBase + uint16(shortIDByte(req.ID))
			return "nfqueue", s, nil
		},
		Do: func(_ context.Context, env *Env, s *netState) (Live, error) {
			if s.Device != "" && s.Family == "inet" && s.QueueNum == 0 {
				q := s.netem()
				if err := q.checkRootFree(); err != nil {
					return nil, err
				}
				return &qdiscLive{s: q}, q.apply()
			}
			srv, err := startDelayServer(s)
			if err != nil {
				return nil, err
			}
			chains, err := sideRules(s.Match, true, func([]expr.Any) []taggedRule { return nil }, func(match []expr.Any) []taggedRule {
				return []taggedRule{{tag: "queued", exprs: append(match, &expr.Counter{},
					queueExpr(env.Caps.QueueRule, srv.num))}}
			})
			if err == nil {
				err = s.install(chains)
			}
			if err != nil {
				srv.Stop()
				return nil, err
			}
			return srv, nil
		},
		Undo: func(_ context.Context, _ *Env, s *netState) error {
			if s.Device != "" && s.QueueNum == 0 {
				return s.netem().remove()
			}
			return s.remove()
		},
	}
}

func (s *netState) netem() *qdiscState {
	return &qdiscState{Netns: s.Netns, Device: s.Device, Kind: "netem", Latency: s.Latency, Jitter: s.Jitter, Correlation: s.Correlation, Loss: s.Percent}
}

func shortIDByte(id string) byte {
	v, _ := strconv.ParseUint(shortID(id)[:2], 16, 8)
	return byte(v)
}

// netemOnlyFault is duplicate and corrupt: netem has them, and this engine
// has no userspace path for them.
func netemOnlyFault(what string) Handler {
	return Pair[qdiscState]{
		Prep: func(_ context.Context, env *Env, req *Request) (string, qdiscState, error) {
			if !env.Caps.Netem {
				return "", qdiscState{}, fmt.Errorf("network %s needs sch_netem, which this kernel lacks: %w", what, ErrUnsupported)
			}
			nf, err := networkSpec(req)
			if err != nil {
				return "", qdiscState{}, err
			}
			if len(req.Peers)+len(nf.ExternalTargets)+len(nf.Ports) > 0 || nf.Direction == "from" || nf.Direction == "both" {
				return "", qdiscState{}, fmt.Errorf("network %s applies to a whole interface's egress: %w", what, ErrUnsupported)
			}
			p, err := parsePercent("spec.fault.network.percent", nf.Percent)
			if err != nil {
				return "", qdiscState{}, err
			}
			dev, err := resolveDevice(req.Target.NetnsPath, nf.Device)
			if err != nil {
				return "", qdiscState{}, err
			}
			s := qdiscState{Netns: req.Target.NetnsPath, Device: dev, Kind: "netem"}
			if what == "duplicate" {
				s.Duplicate = p
			} else {
				s.Corrupt = p
			}
			return "netem", s, s.checkRootFree()
		},
		Do: func(_ context.Context, _ *Env, s *qdiscState) (Live, error) { return nil, s.apply() },
		Undo: func(_ context.Context, _ *Env, s *qdiscState) error {
			return s.remove()
		},
	}
}

// delayServer serves one NFQUEUE from a dedicated OS thread (real-time
// priority where allowed, else nice -10): every packet is held for the next
// delay and then accepted. Verdicts may go out of order, as with netem
// jitter. Waiting, reading and verdicts are plain system calls on that
// thread, so a due verdict leaves on time even when the machine is busy:
// with six busy loops on two cores (load ~16), a 100 ms delay measured
// 100.21–100.23 ms median round-trip increase (TestDelayAddsLatency).
type delayServer struct {
	q    *nfqueue.Queue
	num  uint16
	s    netState
	rng  *rand.Rand
	wake int // eventfd: Stop wakes the thread
	done chan struct{}
	prio string // how the thread was prioritised

	stopping atomic.Bool
	prev     float64 // last random draw in [-1,1], for correlation

	mu        sync.Mutex
	heldSum   time.Duration
	heldCount uint64
	total     uint64
	dropped   uint64
	last      []Measurement
}

// startDelayServer binds the first free queue number from s.QueueNum on,
// in the target's namespace, and starts serving it.
func startDelayServer(s *netState) (*delayServer, error) {
	ns, err := openNetns(s.Netns)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var q *nfqueue.Queue
	num := s.QueueNum
	for range 16 {
		q, err = nfqueue.Open(int(ns), num, nfqueue.Options{FailOpen: true})
		if err == nil || !errors.Is(err, unix.EBUSY) {
			break
		}
		num++
	}
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("eventfd: %w", err), q.Close())
	}
	srv := &delayServer{
		q: q, num: num, s: *s, wake: wake,
		rng:  rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		done: make(chan struct{}),
	}
	go srv.loop()
	return srv, nil
}

// next draws a packet's delay: uniform in latency ± jitter, correlated with
// the previous draw as netem does.
func (d *delayServer) next() time.Duration {
	if d.s.Jitter <= 0 {
		return d.s.Latency
	}
	r := d.rng.Float64()*2 - 1
	c := d.s.Correlation / 100
	r = c*d.prev + (1-c)*r
	d.prev = r
	return max(0, d.s.Latency+time.Duration(r*float64(d.s.Jitter)))
}

type heldPacket struct {
	due, got time.Time
	id       uint32
}

type heldHeap []heldPacket

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(heldPacket)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// raiseThreadPriority gives the calling thread SCHED_FIFO priority 10, or
// failing that nice -10, and says which it got.
func raiseThreadPriority() string {
	attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}
	if err := unix.SchedSetAttr(0, attr, 0); err == nil {
		return "fifo"
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, -10); err == nil {
		return "nice"
	}
	return "normal"
}

func (d *delayServer) loop() {
	defer close(d.done)
	// The thread's scheduling policy changes: never hand it back to the
	// runtime. It exits with this goroutine.
	runtime.LockOSThread()
	d.prio = raiseThreadPriority()
	buf := make([]byte, 1<<16)
	var held heldHeap
	for {
		timeout := time.Duration(-1)
		if len(held) > 0 {
			timeout = max(0, time.Until(held[0].due))
		}
		packets, woken, err := d.q.Wait(d.wake, timeout)
		if woken || d.stopping.Load() || err != nil {
			// Release everything still held, at once.
			for _, p := range held {
				_ = d.q.VerdictRaw(p.id, nfqueue.Accept)
			}
			return
		}
		if packets {
			for range 64 { // drain what is there, bounded
				pkts, err := d.q.ReadRaw(buf)
				if err != nil || len(pkts) == 0 {
					break
				}
				d.mu.Lock()
				for _, p := range pkts {
					d.total++
					if d.s.Percent > 0 && d.rng.Float64()*100 < d.s.Percent {
						_ = d.q.VerdictRaw(p.ID, nfqueue.Drop)
						d.dropped++
						continue
					}
					heap.Push(&held, heldPacket{due: p.Received.Add(d.next()), got: p.Received, id: p.ID})
				}
				d.mu.Unlock()
			}
		}
		now := time.Now()
		var sum time.Duration
		n := 0
		for len(held) > 0 && !held[0].due.After(now) {
			p := heap.Pop(&held).(heldPacket)
			if d.q.VerdictRaw(p.id, nfqueue.Accept) == nil {
				sum += time.Since(p.got)
				n++
			}
		}
		if n > 0 {
			d.mu.Lock()
			d.heldSum += sum
			d.heldCount += uint64(n)
			d.mu.Unlock()
		}
	}
}

// Measure reports the mean time packets were really held since the last
// call (verdict sent minus packet read), and the packets queued.
func (d *delayServer) Measure(context.Context) []Measurement {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if d.heldCount > 0 {
		d.last = []Measurement{{Name: MeasuredDelaySeconds, Value: (d.heldSum / time.Duration(d.heldCount)).Seconds(), Time: now}}
		d.heldSum, d.heldCount = 0, 0
	}
	out := append([]Measurement(nil), d.last...)
	if d.s.Percent > 0 && d.total > 0 {
		out = append(out, Measurement{Name: MeasuredLossRatio, Value: float64(d.dropped) / float64(d.total), Time: now})
	}
	return append(out, Measurement{Name: MeasuredQueuedPackets, Value: float64(d.total), Time: now})
}

// Healthy reports whether the queue thread still serves packets.
func (d *delayServer) Healthy() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stop releases every held packet at once and closes the queue. The engine
// calls it after the table is gone, so no new packets arrive.
func (d *delayServer) Stop() {
	if d.stopping.Swap(true) {
		return
	}
	one := make([]byte, 8)
	one[0] = 1 // eventfd counter += 1 (native endian; any non-zero value wakes)
	_, _ = unix.Write(d.wake, one)
	<-d.done
	_ = unix.Close(d.wake)
	_ = d.q.Close()
}
