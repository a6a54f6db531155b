package faults_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

var (
	capsOnce sync.Once
	caps     faults.Capabilities
)

// openEngine opens an engine on a fresh journal, closed (recovering all)
// when the test ends.
func openEngine(t *testing.T) *faults.Engine {
	t.Helper()
	capsOnce.Do(func() { caps = faults.Detect() })
	c := caps
	return openEngineWith(t, faults.Options{Capabilities: &c})
}

// openEngineWith opens an engine with opts on a fresh journal, closed
// (recovering all) when the test ends.
func openEngineWith(t *testing.T, opts faults.Options) *faults.Engine {
	t.Helper()
	opts.JournalPath = filepath.Join(t.TempDir(), "journal.db")
	e, _, err := faults.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return e
}

func netTarget(h *netns.Host) faults.Target {
	return faults.Target{Key: h.Name, NetnsPath: h.Path()}
}

func netReq(id string, h *netns.Host, nf v1alpha1.NetworkFault, peers ...net.IP) *faults.Request {
	r := &faults.Request{
		ID: id, Injection: "test/" + id, Target: netTarget(h),
		Fault: v1alpha1.FaultSpec{Network: &nf}, Deadline: time.Now().Add(time.Minute),
	}
	for _, p := range peers {
		r.Peers = append(r.Peers, p.String())
	}
	return r
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// nftRuleset lists the ruleset inside a namespace ("" is the root one).
// It starts with a newline, so "\ntable ..." matches the first table too.
func nftRuleset(t *testing.T, nsName string) string {
	t.Helper()
	return "\n" + netns.Ruleset(t, nsName)
}

// assertNothingOurs fails if any namespace holds an nftables table or a
// qdisc of ours.
func assertNothingOurs(t *testing.T, nsNames ...string) {
	t.Helper()
	for _, ns := range append([]string{""}, nsNames...) {
		if rs := nftRuleset(t, ns); strings.Contains(rs, faults.TablePrefix) {
			t.Errorf("namespace %q still has our nftables table:\n%s", ns, rs)
		}
		if qs := netns.Qdiscs(t, ns); strings.Contains(qs, "fa00:") {
			t.Errorf("namespace %q still has our qdisc:\n%s", ns, qs)
		}
	}
}

// helperProcs lists the running helper processes this test binary started.
func helperProcs() []string { return testground.OwnProcs(faults.HelperArg0) }

func measured(s faults.Status, name string) (float64, bool) {
	for _, m := range s.Measured {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}
