package daemon_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/faultline-dev/faultline/faults"
)

// TestMain lets the test binary serve as its own helper process, and as a
// pod's container process (an HTTP server, see startServer).
func TestMain(m *testing.M) {
	faults.HelperMain()
	serveIfAsked()
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
