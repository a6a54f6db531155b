package cluster

import (
	"testing"

	"github.com/faultline-dev/faultline/internal/testground"
)

// Start starts one control plane per name concurrently for a test and stops
// them when it ends, pass or fail. It skips in unit-only runs.
func Start(t testing.TB, names ...string) []*Cluster {
	t.Helper()
	if testground.UnitOnly() {
		t.Skip("needs control planes; skipped in unit-only runs")
	}
	cs, err := StartAll(names...)
	if err != nil {
		t.Fatalf("starting control planes: %v", err)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			if err := c.Stop(); err != nil {
				t.Errorf("%v", err)
			}
		}
	})
	return cs
}
