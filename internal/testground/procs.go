package testground

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// runMarkEnv tags the environment of every test binary that imports
// testground, and so of every process it starts (children inherit the
// environment: a fault helper, or a daemon and the helpers it starts).
// `go test ./...` runs several packages at once, each starting helpers of
// the same name; the mark tells a test's own processes from its
// neighbours'.
const runMarkEnv = "FAULTLINE_TEST_RUN"

func init() {
	// A re-executed test binary (a fault helper) inherits its parent's
	// mark and keeps it.
	if os.Getenv(runMarkEnv) == "" {
		_ = os.Setenv(runMarkEnv, fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()))
	}
}

// OwnProcs lists "pid: argv" of the running processes whose argv[0] is
// arg0 and that this test binary started, directly or through its
// children.
func OwnProcs(arg0 string) []string {
	mark := []byte(runMarkEnv + "=" + os.Getenv(runMarkEnv))
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.HasPrefix(string(cmdline), arg0+"\x00") {
			continue
		}
		environ, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !slices.Contains(strings.Split(string(environ), "\x00"), string(mark)) {
			continue
		}
		out = append(out, e.Name()+": "+strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return out
}
