package policy_test

import (
	"os"
	"testing"

	"github.com/faultline-dev/faultline/policy"
)

// TestLibraryRego runs every _test.rego of the built-in library through OPA's
// tester: this is the `opa test` of CI. It fails on any failing test and when
// no test is found at all.
func TestLibraryRego(t *testing.T) {
	results, err := policy.RunTests(t.Context(), os.DirFS("library"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Passed() {
			t.Error(r)
		}
	}
	t.Logf("%d Rego tests", len(results))
}
