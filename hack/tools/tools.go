//go:build tools

// Package tools pins the build tools (controller-gen, staticcheck) in a
// module of their own, so their dependencies never leak into faultline's.
package tools

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
