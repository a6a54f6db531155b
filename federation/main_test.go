package federation_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// TestMain lets the test binary serve as the agent-fleet benchmark's
// simulator process (see BenchmarkAgentFleet), so the hub's CPU and memory
// figures are the hub's alone.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(fleetSimEnv); cfg != "" {
		os.Exit(fleetSimMain(cfg))
	}
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
