package faults

import (
	"context"
	"time"

	"github.com/google/nftables/expr"
)

// partitionFault drops the target's traffic with its peers (all traffic
// without peers) in a netdev table on its interface: egress for "to",
// ingress for "from". Dropping at the device, below the socket layer,
// behaves like a cut cable (connects time out) instead of handing senders an
// EPERM as an inet output rule would.
func partitionFault() Handler {
	return Pair[netState]{
		Prep: func(_ context.Context, _ *Env, req *Request) (string, netState, error) {
			s, err := prepareNetdevTable(req)
			return "nftables", s, err
		},
		Do: func(_ context.Context, _ *Env, s *netState) (Live, error) {
			chains, err := sideRules(s.Match, false, func([]expr.Any) []taggedRule { return nil }, func(match []expr.Any) []taggedRule {
				return []taggedRule{{tag: "drop", exprs: append(match, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})}}
			})
			if err != nil {
				return nil, err
			}
			if err := s.install(chains); err != nil {
				return nil, err
			}
			return &counterLive{t: &s.nftTable, measure: func(c map[string]uint64) []Measurement {
				return []Measurement{{Name: MeasuredDroppedPkts, Value: float64(c["drop"]), Time: time.Now()}}
			}}, nil
		},
		Undo: func(_ context.Context, _ *Env, s *netState) error { return s.remove() },
	}
}

// sideRules builds the chains of m: for each side the fault covers, each
// match gets the rules pre (if any) and act return.
func sideRules(m netMatch, inet bool, pre, act func([]expr.Any) []taggedRule) ([]chainRules, error) {
	var chains []chainRules
	for _, side := range []hookSide{sideEgress, sideIngress} {
		if side == sideEgress && !m.egress() || side == sideIngress && !m.ingress() {
			continue
		}
		matches, err := ruleMatches(m, side, inet)
		if err != nil {
			return nil, err
		}
		cr := chainRules{side: side}
		for _, match := range matches {
			cr.rules = append(cr.rules, pre(cloneExprs(match))...)
			cr.rules = append(cr.rules, act(cloneExprs(match))...)
		}
		chains = append(chains, cr)
	}
	return chains, nil
}

func cloneExprs(e []expr.Any) []expr.Any { return append([]expr.Any(nil), e...) }

// counterLive measures an nftables fault from its rule counters.
type counterLive struct {
	t       *nftTable
	measure func(map[string]uint64) []Measurement
	last    []Measurement
}

func (l *counterLive) Measure(context.Context) []Measurement {
	c, err := l.t.counters()
	if err != nil {
		return l.last
	}
	l.last = l.measure(c)
	return l.last
}

func (l *counterLive) Stop() {}
