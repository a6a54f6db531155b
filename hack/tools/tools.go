//go:build tools

// Package tools pins the build tools (controller-gen, staticcheck, helm) in a
// module of their own, so their dependencies never leak into faultline's.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
	_ "honnef.co/go/tools/cmd/staticcheck"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
