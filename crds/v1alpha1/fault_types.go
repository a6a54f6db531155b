package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FaultSpec is exactly one fault. The same type travels in an Experiment
// (what Git declares) and in an Injection (what an executor runs).
// +kubebuilder:validation:XValidation:rule="[has(self.pod), has(self.network), has(self.stress), has(self.process), has(self.disk), has(self.http), has(self.dns), has(self.host), has(self.plugin)].filter(x, x).size() == 1",message="exactly one of pod, network, stress, process, disk, http, dns, host or plugin must be set"
type FaultSpec struct {
	// +optional
	Pod *PodFault `json:"pod,omitempty"`
	// +optional
	Network *NetworkFault `json:"network,omitempty"`
	// +optional
	Stress *StressFault `json:"stress,omitempty"`
	// +optional
	Process *ProcessFault `json:"process,omitempty"`
	// +optional
	Disk *DiskFault `json:"disk,omitempty"`
	// +optional
	HTTP *HTTPFault `json:"http,omitempty"`
	// +optional
	DNS *DNSFault `json:"dns,omitempty"`
	// +optional
	Host *HostFault `json:"host,omitempty"`
	// +optional
	Plugin *PluginFault `json:"plugin,omitempty"`
}

// Kind returns the fault's family and action, such as "network/delay", or ""
// when no fault is set.
func (f *FaultSpec) Kind() string {
	switch {
	case f == nil:
		return ""
	case f.Pod != nil:
		return "pod/" + string(f.Pod.Action)
	case f.Network != nil:
		return "network/" + string(f.Network.Action)
	case f.Stress != nil:
		return "stress/" + string(f.Stress.Action)
	case f.Process != nil:
		return "process/" + string(f.Process.Action)
	case f.Disk != nil:
		return "disk/" + string(f.Disk.Action)
	case f.HTTP != nil:
		return "http/" + string(f.HTTP.Action)
	case f.DNS != nil:
		return "dns/" + string(f.DNS.Action)
	case f.Host != nil:
		return "host/" + string(f.Host.Action)
	case f.Plugin != nil:
		return "plugin/" + f.Plugin.Name
	}
	return ""
}

// PodAction is what happens to a pod.
// +kubebuilder:validation:Enum=kill;failure
type PodAction string

const (
	// PodKill deletes the pod through the API with a grace period.
	PodKill PodAction = "kill"
	// PodFailure makes the pod's containers fail for the duration: the
	// node daemon stops (SIGSTOP) every process of the chosen containers,
	// so they stop answering and their liveness probes fail, and continues
	// (SIGCONT) exactly those processes when the fault ends.
	PodFailure PodAction = "failure"
)

// PodFault kills pods or makes them fail.
type PodFault struct {
	// +kubebuilder:validation:Required
	Action PodAction `json:"action"`

	// GracePeriodSeconds for kill. Omitted: the pod's own.
	// +optional
	// +kubebuilder:validation:Minimum=0
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`

	// ContainerNames narrows failure to these containers; naming a
	// container the pod does not have is an error, and nothing is applied.
	// Omitted: all of the pod's containers.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	ContainerNames []string `json:"containerNames,omitempty"`
}

// NetworkAction is the kind of network fault.
// +kubebuilder:validation:Enum=delay;loss;duplicate;corrupt;partition;bandwidth
type NetworkAction string

const (
	NetworkDelay     NetworkAction = "delay"
	NetworkLoss      NetworkAction = "loss"
	NetworkDuplicate NetworkAction = "duplicate"
	NetworkCorrupt   NetworkAction = "corrupt"
	NetworkPartition NetworkAction = "partition"
	NetworkBandwidth NetworkAction = "bandwidth"
)

// Direction says which traffic a network fault affects, seen from the target.
// +kubebuilder:validation:Enum=to;from;both
type Direction string

const (
	// DirectionTo affects traffic the target sends.
	DirectionTo Direction = "to"
	// DirectionFrom affects traffic the target receives.
	DirectionFrom Direction = "from"
	// DirectionBoth affects both.
	DirectionBoth Direction = "both"
)

// NetworkFault shapes, drops or cuts the targets' traffic.
// +kubebuilder:validation:XValidation:rule="self.action != 'delay' || has(self.latency)",message="delay needs latency",fieldPath=".latency"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['loss', 'duplicate', 'corrupt']) || has(self.percent)",message="loss, duplicate and corrupt need percent",fieldPath=".percent"
// +kubebuilder:validation:XValidation:rule="self.action != 'bandwidth' || has(self.bandwidth)",message="bandwidth needs bandwidth.rate",fieldPath=".bandwidth"
// +kubebuilder:validation:XValidation:rule="!has(self.jitter) || self.action == 'delay'",message="jitter applies to delay only",fieldPath=".jitter"
type NetworkFault struct {
	// +kubebuilder:validation:Required
	Action NetworkAction `json:"action"`

	// Latency added to each packet (delay).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(us|ms|s|m))+$`
	Latency *metav1.Duration `json:"latency,omitempty"`

	// Jitter is the spread around latency (delay).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(us|ms|s|m))+$`
	Jitter *metav1.Duration `json:"jitter,omitempty"`

	// Correlation with the previous packet, in percent ("0" to "100").
	// +optional
	// +kubebuilder:validation:Pattern=`^(100|[0-9]{1,2})(\.[0-9]+)?$`
	Correlation string `json:"correlation,omitempty"`

	// Percent of packets lost, duplicated or corrupted ("0" to "100").
	// +optional
	// +kubebuilder:validation:Pattern=`^(100|[0-9]{1,2})(\.[0-9]+)?$`
	Percent string `json:"percent,omitempty"`

	// Bandwidth limits throughput (bandwidth).
	// +optional
	Bandwidth *BandwidthSpec `json:"bandwidth,omitempty"`

	// Direction of the affected traffic, seen from the target.
	// +optional
	// +kubebuilder:default=to
	Direction Direction `json:"direction,omitempty"`

	// Device is the interface inside the target. Omitted: the default
	// route's; except that delay on a kernel without netem (the NFQUEUE
	// path) then acts on every interface but loopback.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	Device string `json:"device,omitempty"`

	// Target narrows the fault to traffic with these peer pods.
	// +optional
	Target *PeerSelector `json:"target,omitempty"`

	// ExternalTargets narrows the fault to traffic with these addresses,
	// CIDRs or host names.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	ExternalTargets []string `json:"externalTargets,omitempty"`

	// Ports narrows the fault to traffic with these peer ports.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	Ports []int32 `json:"ports,omitempty"`
}

// PeerSelector chooses peer pods, as Chaos Mesh's NetworkChaos target does.
type PeerSelector struct {
	Selector PodSelector `json:"selector"`
	// +kubebuilder:default=all
	Mode SelectorMode `json:"mode,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
}

// BandwidthSpec is a token-bucket filter (tc tbf).
type BandwidthSpec struct {
	// Rate such as "1mbps", "512kbit" or "10mbit".
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$`
	Rate string `json:"rate"`
	// Limit is the queue size in bytes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Limit *int64 `json:"limit,omitempty"`
	// Buffer is the bucket size in bytes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Buffer *int64 `json:"buffer,omitempty"`
}

// StressAction is the resource a stress fault consumes.
// +kubebuilder:validation:Enum=cpu;memory
type StressAction string

const (
	StressCPU    StressAction = "cpu"
	StressMemory StressAction = "memory"
)

// StressFault consumes CPU or memory inside the target's cgroup.
// +kubebuilder:validation:XValidation:rule="self.action != 'memory' || has(self.size)",message="memory stress needs size",fieldPath=".size"
type StressFault struct {
	// +kubebuilder:validation:Required
	Action StressAction `json:"action"`
	// Workers is the number of CPU workers.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	Workers int32 `json:"workers,omitempty"`
	// Load is each CPU worker's busy share in percent.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Load int32 `json:"load,omitempty"`
	// Size of memory to hold, such as 256Mi.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
}

// ProcessAction is what happens to a process.
// +kubebuilder:validation:Enum=kill;stop
type ProcessAction string

const (
	// ProcessKill sends a signal (SIGKILL by default).
	ProcessKill ProcessAction = "kill"
	// ProcessStop sends SIGSTOP, and SIGCONT on recovery.
	ProcessStop ProcessAction = "stop"
)

// ProcessFault kills or freezes processes by name or pid.
// +kubebuilder:validation:XValidation:rule="has(self.process) != has(self.pid)",message="set exactly one of process or pid"
type ProcessFault struct {
	// +kubebuilder:validation:Required
	Action ProcessAction `json:"action"`
	// Process name (comm) or a regular expression on the command line.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Process string `json:"process,omitempty"`
	// Pid of the process.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Pid *int32 `json:"pid,omitempty"`
	// Signal for kill.
	// +optional
	// +kubebuilder:default=9
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Signal int32 `json:"signal,omitempty"`
}

// DiskAction is the kind of disk fault.
// +kubebuilder:validation:Enum=fill
type DiskAction string

// DiskFill writes a file until size is reached; recovery removes it.
const DiskFill DiskAction = "fill"

// DiskFault fills a filesystem.
type DiskFault struct {
	// +kubebuilder:validation:Required
	Action DiskAction `json:"action"`
	// Path of the directory to fill.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
	// Size to write, such as 1Gi.
	Size resource.Quantity `json:"size"`
}

// HTTPAction is the kind of HTTP fault.
// +kubebuilder:validation:Enum=abort;delay
type HTTPAction string

const (
	HTTPAbort HTTPAction = "abort"
	HTTPDelay HTTPAction = "delay"
)

// HTTPFault intercepts a target's HTTP traffic on a port.
// +kubebuilder:validation:XValidation:rule="self.action != 'delay' || has(self.delay)",message="delay needs delay",fieldPath=".delay"
type HTTPFault struct {
	// +kubebuilder:validation:Required
	Action HTTPAction `json:"action"`
	// Port the target serves HTTP on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// Path prefix of affected requests.
	// +optional
	Path string `json:"path,omitempty"`
	// Method of affected requests.
	// +optional
	Method string `json:"method,omitempty"`
	// Code returned on abort.
	// +optional
	// +kubebuilder:default=503
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	Code int32 `json:"code,omitempty"`
	// Delay added to each response.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m))+$`
	Delay *metav1.Duration `json:"delay,omitempty"`
}

// DNSAction is the kind of DNS fault.
// +kubebuilder:validation:Enum=error;random
type DNSAction string

const (
	DNSError  DNSAction = "error"
	DNSRandom DNSAction = "random"
)

// DNSFault answers the target's DNS queries with errors or random addresses.
type DNSFault struct {
	// +kubebuilder:validation:Required
	Action DNSAction `json:"action"`
	// Patterns of names affected, such as "*.example.com". Omitted: all.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Patterns []string `json:"patterns,omitempty"`
}

// HostAction is what happens to a whole host.
// +kubebuilder:validation:Enum=reboot;shutdown
type HostAction string

const (
	HostReboot   HostAction = "reboot"
	HostShutdown HostAction = "shutdown"
)

// HostFault reboots or shuts down a host agent's machine.
type HostFault struct {
	// +kubebuilder:validation:Required
	Action HostAction `json:"action"`
}

// PluginFault delegates to an HTTP service: the executor POSTs the injection
// to URL on apply and DELETEs it on recovery.
type PluginFault struct {
	// Name of the plugin, shown as the fault kind ("plugin/NAME").
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// URL of the plugin's endpoint.
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`
	// Config is passed to the plugin unchanged.
	// +optional
	Config *apiextensionsv1.JSON `json:"config,omitempty"`
	// Timeout of each call.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}
