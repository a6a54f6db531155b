package standalone

import (
	"os"
	"testing"

	"github.com/faultline-dev/faultline/faults"
)

// TestMain lets the test binary serve as its own helper process.
func TestMain(m *testing.M) {
	faults.HelperMain()
	os.Exit(m.Run())
}
