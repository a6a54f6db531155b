package faults

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
)

// qdiscMajor is the handle major of every qdisc the engine adds (0xfa00:).
const qdiscMajor = 0xfa00

// qdiscState is the plan and undo record of a qdisc fault: the root qdisc
// 0xfa00: on one device.
type qdiscState struct {
	Netns  string `json:"netns,omitempty"`
	Device string `json:"device"`
	Kind   string `json:"kind"` // tbf | netem
	// tbf
	RateBytes uint64 `json:"rateBytes,omitempty"`
	Burst     uint32 `json:"burst,omitempty"`
	Limit     uint32 `json:"limit,omitempty"`
	// netem
	Latency     time.Duration `json:"latency,omitempty"`
	Jitter      time.Duration `json:"jitter,omitempty"`
	Correlation float64       `json:"correlation,omitempty"`
	Loss        float64       `json:"loss,omitempty"`
	Duplicate   float64       `json:"duplicate,omitempty"`
	Corrupt     float64       `json:"corrupt,omitempty"`
}

func (s *qdiscState) handle() (*netlink.Handle, netlink.Link, func(), error) {
	ns, err := openNetns(s.Netns)
	if err != nil {
		return nil, nil, nil, err
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, nil, fmt.Errorf("netlink: %w", err)
	}
	done := func() { nl.Close(); ns.Close() }
	link, err := nl.LinkByName(s.Device)
	if err != nil {
		done()
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, nil, nil, fmt.Errorf("device %s: %w", s.Device, ErrTargetGone)
		}
		return nil, nil, nil, fmt.Errorf("device %s: %w", s.Device, err)
	}
	return nl, link, done, nil
}

// checkRootFree refuses to replace a root qdisc someone configured (one
// with a handle); the kernel's default root qdiscs have handle 0.
func (s *qdiscState) checkRootFree() error {
	nl, link, done, err := s.handle()
	if err != nil {
		return err
	}
	defer done()
	qs, err := nl.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", s.Device, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT && a.Handle != 0 && a.Handle>>16 != qdiscMajor {
			return fmt.Errorf("device %s already has root qdisc %s %s; refusing to replace it", s.Device, q.Type(), netlink.HandleStr(a.Handle))
		}
	}
	return nil
}

func (s *qdiscState) qdisc(link netlink.Link) netlink.Qdisc {
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(qdiscMajor, 0), Parent: netlink.HANDLE_ROOT}
	if s.Kind == "netem" {
		return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(s.Latency.Microseconds()), Jitter: uint32(s.Jitter.Microseconds()),
			DelayCorr: float32(s.Correlation), Loss: float32(s.Loss),
			Duplicate: float32(s.Duplicate), CorruptProb: float32(s.Corrupt),
		})
	}
	return &netlink.Tbf{QdiscAttrs: attrs, Rate: s.RateBytes, Limit: s.Limit, Buffer: netlink.Xmittime(s.RateBytes, s.Burst)}
}

// apply replaces the root qdisc with ours; replacing is idempotent.
func (s *qdiscState) apply() error {
	nl, link, done, err := s.handle()
	if err != nil {
		return err
	}
	defer done()
	if err := nl.QdiscReplace(s.qdisc(link)); err != nil {
		return fmt.Errorf("%s qdisc on %s: %w", s.Kind, s.Device, err)
	}
	return nil
}

// remove deletes our root qdisc; the kernel puts its default back. A
// missing device or qdisc is recovered.
func (s *qdiscState) remove() error {
	nl, link, done, err := s.handle()
	if err != nil {
		if errors.Is(err, ErrTargetGone) {
			return nil
		}
		return err
	}
	defer done()
	qs, err := nl.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", s.Device, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT && a.Handle>>16 == qdiscMajor {
			if err := nl.QdiscDel(q); err != nil {
				return fmt.Errorf("delete qdisc %s on %s: %w", netlink.HandleStr(a.Handle), s.Device, err)
			}
		}
	}
	return nil
}

// qdiscLive measures the throughput through our qdisc from its byte counter.
type qdiscLive struct {
	s         *qdiscState
	lastBytes uint64
	lastTime  time.Time
	last      []Measurement
}

func (l *qdiscLive) Measure(context.Context) []Measurement {
	nl, link, done, err := l.s.handle()
	if err != nil {
		return l.last
	}
	defer done()
	qs, err := nl.QdiscList(link)
	if err != nil {
		return l.last
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Handle>>16 != qdiscMajor || a.Statistics == nil || a.Statistics.Basic == nil {
			continue
		}
		now, bytes := time.Now(), a.Statistics.Basic.Bytes
		if !l.lastTime.IsZero() && now.Sub(l.lastTime) > 100*time.Millisecond {
			rate := float64(bytes-l.lastBytes) / now.Sub(l.lastTime).Seconds()
			l.last = []Measurement{
				{Name: MeasuredRateBytes, Value: rate, Time: now},
				{Name: MeasuredDroppedPkts, Value: float64(a.Statistics.Queue.Drops), Time: now},
			}
		}
		l.lastBytes, l.lastTime = bytes, now
	}
	return l.last
}

func (l *qdiscLive) Stop() {}

var rateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$`)

// parseRate reads a tc rate ("1mbit", "512kbit", "1mbps") as bytes per
// second; k, m and g are powers of 1000 as in tc.
func parseRate(s string) (uint64, error) {
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("spec.fault.network.bandwidth.rate: %q is not a rate such as 1mbit or 512kbps", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{
		"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
		"bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9,
	}[m[2]]
	r := uint64(v * mult)
	if r == 0 {
		return 0, fmt.Errorf("spec.fault.network.bandwidth.rate: %q is zero", s)
	}
	return r, nil
}

// bandwidthFault limits the target's egress with a tbf root qdisc.
// Ingress shaping would need an ifb device; this executor refuses
// direction from/both for bandwidth rather than pretend.
func bandwidthFault() Handler {
	return Pair[qdiscState]{
		Prep: func(_ context.Context, _ *Env, req *Request) (string, qdiscState, error) {
			nf, err := networkSpec(req)
			if err != nil {
				return "", qdiscState{}, err
			}
			if nf.Bandwidth == nil {
				return "", qdiscState{}, errors.New("spec.fault.network.bandwidth: missing")
			}
			if nf.Direction != "" && nf.Direction != "to" {
				return "", qdiscState{}, fmt.Errorf("spec.fault.network.direction: bandwidth limits egress (to) only: %w", ErrUnsupported)
			}
			if len(req.Peers)+len(nf.ExternalTargets)+len(nf.Ports) > 0 {
				return "", qdiscState{}, fmt.Errorf("spec.fault.network: bandwidth applies to the whole interface; peers and ports: %w", ErrUnsupported)
			}
			rate, err := parseRate(nf.Bandwidth.Rate)
			if err != nil {
				return "", qdiscState{}, err
			}
			dev, err := resolveDevice(req.Target.NetnsPath, nf.Device)
			if err != nil {
				return "", qdiscState{}, err
			}
			// Bucket: 20 ms worth, at least two full frames; queue: 50 ms
			// worth on top of the bucket, at least four frames.
			burst := max(uint32(rate/50), 3028)
			limit := max(uint32(rate/20)+burst, 4*1514)
			if b := nf.Bandwidth.Buffer; b != nil {
				burst = uint32(*b)
			}
			if l := nf.Bandwidth.Limit; l != nil {
				limit = uint32(*l)
			}
			s := qdiscState{Netns: req.Target.NetnsPath, Device: dev, Kind: "tbf", RateBytes: rate, Burst: burst, Limit: limit}
			return "tbf", s, s.checkRootFree()
		},
		Do: func(_ context.Context, _ *Env, s *qdiscState) (Live, error) {
			if err := s.apply(); err != nil {
				return nil, err
			}
			return &qdiscLive{s: s}, nil
		},
		Undo: func(_ context.Context, _ *Env, s *qdiscState) error { return s.remove() },
	}
}
