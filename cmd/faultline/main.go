// Command faultline is the command-line client of faultline: it installs the
// API, and (as the other parts land) builds and plans experiments offline,
// approves, aborts and reports on them. Flags and wiring only.
package main

import (
	"errors"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "faultline:", err)
		// Commands with documented exit codes (plan: 1 denied, 2 input errors) say which.
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(1)
	}
}
