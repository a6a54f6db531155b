#!/usr/bin/env bash
# Builds the control-plane binaries that envtest starts (kube-apiserver and
# etcd) from the Go module proxy into a cache outside the repository. kubectl
# is not built: neither the tests nor the demo run it, and linking it cost a
# cold machine about two minutes.
# Prebuilt binaries cannot be downloaded here, and `go install` refuses
# k8s.io/kubernetes and etcd because of their replace directives, so each is
# built from a throwaway wrapper module. Idempotent: a binary that already
# reports the wanted version is left alone.
#
# Prints the asset directory on its last line (use it as KUBEBUILDER_ASSETS).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
CACHE="${FAULTLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/faultline}"
ASSETS="${CACHE}/envtest/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"

export GOTOOLCHAIN=local   # etcd's go.mod names a newer toolchain; stay on ours
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
REPO="$(cd "$(dirname "$0")/.." && pwd)"

mkdir -p "${ASSETS}"

have() { # have BINARY PATTERN VERSION-ARGS...: the cached binary prints the wanted version
  local bin="${ASSETS}/$1" want="$2"; shift 2
  local out
  [[ -x "${bin}" ]] || return 1
  out="$("${bin}" "$@" 2>/dev/null)" || return 1
  [[ "${out}" == *"${want}"* ]]   # no `| grep -q`: an early exit would SIGPIPE under pipefail
}

# build_assets builds kube-apiserver and etcd in one throwaway wrapper module,
# so that the packages they share (gRPC, protobuf, OpenTelemetry, the etcd
# client...) compile once. The wrapper also requires the versions our own
# go.mod selects, and builds the way `make build` does (-trimpath, no cgo, no
# DWARF, which the stripped binaries would drop anyway):
# the Kubernetes libraries the hub links then compile once for both, in the
# same build cache. Where our go.mod names an older version than Kubernetes,
# Kubernetes' wins, as minimal version selection always does.
build_assets() {
  local work; work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
    cloud-provider cluster-bootstrap code-generator component-base component-helpers
    controller-manager cri-api cri-client cri-streaming csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
    kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
    mount-utils pod-security-admission sample-apiserver streaming)
  local staging_version="v0.${K8S_VERSION#1.}"
  local ours; ours="$(awk '/^require[ \t]*\(/{b=1;next} b&&/^\)/{b=0;next} b&&NF>=2{print $1"@"$2} /^require[ \t]+[^( \t]/{print $2"@"$3}' "${REPO}/go.mod")"
  (
    cd "${work}"
    go mod init faultline.local/envtest-assets >/dev/null 2>&1
    local args=() m
    for m in "${staging[@]}"; do
      args+=(-replace "k8s.io/${m}=k8s.io/${m}@${staging_version}")
    done
    for m in ${ours}; do
      args+=(-require "${m}")
    done
    args+=(-require "k8s.io/kubernetes@v${K8S_VERSION}" -require "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}")
    go mod edit "${args[@]}"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
    go mod tidy >/dev/null
    local major minor ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v${ETCD_VERSION}"
    major="$(cut -d. -f1 <<<"${K8S_VERSION}")"
    minor="$(cut -d. -f2 <<<"${K8S_VERSION}")"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X ${p}.gitVersion=v${K8S_VERSION} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
      ld+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=1970-01-01T00:00:00Z"
    done
    # One go build for both: the shared packages compile once, and the two
    # links run side by side. etcd's main package is named after its
    # directory ("server").
    mkdir out
    go build -trimpath -gcflags=all=-dwarf=false -ldflags "${ld}" -o out/ k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3
    mv -f out/kube-apiserver "${ASSETS}/kube-apiserver"
    mv -f out/server "${ASSETS}/etcd"
  )
}

if have kube-apiserver "v${K8S_VERSION}" --version && have etcd "Version: ${ETCD_VERSION}" --version; then
  echo "kube-apiserver v${K8S_VERSION}, etcd v${ETCD_VERSION}: cached" >&2
else
  echo "building kube-apiserver v${K8S_VERSION} and etcd v${ETCD_VERSION} (several minutes)" >&2
  build_assets
fi
echo "${ASSETS}"
