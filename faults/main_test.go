package faults_test

import (
	"os"
	"testing"

	"github.com/faultline-dev/faultline/faults"
)

// TestMain lets the test binary serve as its own helper process (stress).
func TestMain(m *testing.M) {
	faults.HelperMain()
	os.Exit(m.Run())
}
