// Package version holds the build's version, set at link time:
//
//	go build -ldflags "-X github.com/faultline-dev/faultline/internal/version.Version=v0.1.0"
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release or `git describe` of the build; "dev" when unset.
var Version = "dev"

// String describes the build in one line: version, VCS revision when the Go
// toolchain recorded one, Go version and platform.
func String(binary string) string {
	rev := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " (" + s.Value[:12] + ")"
			}
		}
	}
	return fmt.Sprintf("%s %s%s %s %s/%s", binary, Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
