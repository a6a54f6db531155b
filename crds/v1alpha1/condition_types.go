package v1alpha1

// Condition types beyond the kstatus trio (Ready, Reconciling, Stalled),
// which come from github.com/fluxcd/pkg/apis/meta so that Flux tooling and
// kstatus readers understand our objects unchanged.
const (
	// FetchFailedCondition is True when the last Git fetch failed.
	FetchFailedCondition = "FetchFailed"
	// VerificationFailedCondition is True when a revision's signature could not be verified.
	VerificationFailedCondition = "VerificationFailed"
	// BuildFailedCondition is True when a revision did not build or decode.
	BuildFailedCondition = "BuildFailed"

	// AdmittedCondition records the policy decision on an experiment.
	AdmittedCondition = "Admitted"
	// InjectedCondition is True once every selected target carries the fault.
	InjectedCondition = "Injected"
	// RecoveredCondition is True once every target is back to normal.
	RecoveredCondition = "Recovered"
	// VerdictReachedCondition is True once the run has a verdict; the reason is the verdict.
	VerdictReachedCondition = "VerdictReached"

	// ReachableCondition tells whether the hub can talk to a member cluster.
	ReachableCondition = "Reachable"
	// LostCondition is True when a host agent stopped heartbeating past its grace period.
	LostCondition = "Lost"
)

// Labels and annotations faultline sets or reads on objects.
const (
	// SourceLabel names the ChaosSource an object came from.
	SourceLabel = "faultline.dev/source"
	// ExperimentLabel names the experiment (namespace.name) an Injection belongs to.
	ExperimentLabel = "faultline.dev/experiment"
	// NodeLabel carries Injection.spec.nodeName so a daemon can watch only its own node.
	NodeLabel = "faultline.dev/node"
	// PauseAnnotation pauses an experiment while present.
	PauseAnnotation = "faultline.dev/pause"
	// AbortAnnotation, set to a timestamp, recovers every target of an
	// experiment at once and ends the run as Aborted (`faultline abort`).
	AbortAnnotation = "faultline.dev/abort"
	// RunLabel names the run an Injection belongs to.
	RunLabel = "faultline.dev/run"
	// CommittedAtAnnotation records when the source revision was committed
	// (RFC 3339), so the hub can measure commit-to-injected time.
	CommittedAtAnnotation = "faultline.dev/committed-at"
	// RevisionAnnotation records the source revision an object was built from.
	RevisionAnnotation = "faultline.dev/revision"
)
