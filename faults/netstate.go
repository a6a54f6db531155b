package faults

import (
	"fmt"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// netState is the plan and undo record of a network fault: the table (or
// qdisc) it creates and the parameters it applies.
type netState struct {
	nftTable
	Match       netMatch      `json:"match"`
	Percent     float64       `json:"percent,omitempty"`
	Latency     time.Duration `json:"latency,omitempty"`
	Jitter      time.Duration `json:"jitter,omitempty"`
	Correlation float64       `json:"correlation,omitempty"`
}

func networkSpec(req *Request) (*v1alpha1.NetworkFault, error) {
	if req.Fault.Network == nil {
		return nil, fmt.Errorf("spec.fault.network: missing")
	}
	return req.Fault.Network, nil
}

// prepareNetdevTable plans a netdev table on the target's interface.
func prepareNetdevTable(req *Request) (netState, error) {
	nf, err := networkSpec(req)
	if err != nil {
		return netState{}, err
	}
	m, err := parseNetMatch(nf, req.Peers)
	if err != nil {
		return netState{}, err
	}
	dev, err := resolveDevice(req.Target.NetnsPath, nf.Device)
	if err != nil {
		return netState{}, err
	}
	return netState{
		nftTable: nftTable{Netns: req.Target.NetnsPath, Family: "netdev", Table: tableName(req.ID), Device: dev},
		Match:    m,
	}, nil
}

// parsePercent reads "0" to "100" with decimals.
func parsePercent(field, s string) (float64, error) {
	if s == "" {
		return 0, fmt.Errorf("%s: missing", field)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%s: %q is not a percentage between 0 and 100", field, s)
	}
	return v, nil
}
