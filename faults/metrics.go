package faults

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	active     *prometheus.GaugeVec
	measured   map[string]*prometheus.GaugeVec
	applies    *prometheus.CounterVec
	recoveries *prometheus.CounterVec
	capability *prometheus.GaugeVec
}

var faultLabels = []string{"kind", "injection", "target", "path"}

// measuredMetrics maps measurement names to metric names and help.
var measuredMetrics = map[string][2]string{
	MeasuredDelaySeconds:  {"faultline_fault_measured_delay_seconds", "Delay each packet really got (mean over the last interval)."},
	MeasuredLossRatio:     {"faultline_fault_measured_loss_ratio", "Share of the fault's packets really dropped."},
	MeasuredDroppedPkts:   {"faultline_fault_measured_dropped_packets", "Packets dropped by the fault so far."},
	MeasuredCPULoadRatio:  {"faultline_fault_measured_cpu_load_ratio", "CPU busy share reached per stress worker."},
	MeasuredMemoryBytes:   {"faultline_fault_measured_memory_bytes", "Resident memory held by the stress helper."},
	MeasuredFilledBytes:   {"faultline_fault_measured_filled_bytes", "Bytes allocated on disk by the fill file."},
	MeasuredRateBytes:     {"faultline_fault_measured_rate_bytes_per_second", "Throughput through the bandwidth limit."},
	MeasuredStoppedProcs:  {"faultline_fault_measured_stopped_processes", "Processes stopped or signalled by the fault."},
	MeasuredQueuedPackets: {"faultline_fault_measured_queued_packets", "Packets held by the userspace delay path so far."},
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "faultline_fault_active", Help: "1 while a fault is applied on a target.",
		}, faultLabels),
		measured: map[string]*prometheus.GaugeVec{},
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_fault_applies_total", Help: "Apply attempts by kind and result.",
		}, []string{"kind", "result"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_fault_recoveries_total", Help: "Recoveries by kind and reason (request, deadline, reaped, shutdown, changed, retry).",
		}, []string{"kind", "reason"}),
		capability: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "faultline_executor_capability", Help: "1 when the machine supports a fault path (netem, nfqueue, nftables, tbf).",
		}, []string{"capability"}),
	}
	cs := []prometheus.Collector{m.active, m.applies, m.recoveries, m.capability}
	for name, d := range measuredMetrics {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d[0], Help: d[1]}, faultLabels)
		m.measured[name] = g
		cs = append(cs, g)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func labels(r *Record) prometheus.Labels {
	return prometheus.Labels{"kind": r.Kind, "injection": r.Injection, "target": r.Target.Key, "path": r.Path}
}

func (m *Metrics) setActive(r *Record, on bool) {
	if m == nil {
		return
	}
	if on {
		m.active.With(labels(r)).Set(1)
		return
	}
	m.active.Delete(labels(r))
	for _, g := range m.measured {
		g.Delete(labels(r))
	}
}

func (m *Metrics) setMeasured(r *Record, ms []Measurement) {
	if m == nil {
		return
	}
	for _, x := range ms {
		if g, ok := m.measured[x.Name]; ok {
			g.With(labels(r)).Set(x.Value)
		}
	}
}

func (m *Metrics) applied(kind, result string) {
	if m != nil {
		m.applies.WithLabelValues(kind, result).Inc()
	}
}

func (m *Metrics) recovered(kind, reason string) {
	if m != nil {
		m.recoveries.WithLabelValues(kind, reason).Inc()
	}
}

func (m *Metrics) setCapabilities(c Capabilities) {
	if m == nil {
		return
	}
	for name, ok := range c.Map() {
		v := 0.0
		if ok {
			v = 1
		}
		m.capability.WithLabelValues(name).Set(v)
	}
}
