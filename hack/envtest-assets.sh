#!/usr/bin/env bash
# Builds the control-plane binaries that envtest starts (kube-apiserver, etcd,
# kubectl) from the Go module proxy into a cache outside the repository.
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

mkdir -p "${ASSETS}"

have() { # have BINARY PATTERN VERSION-ARGS...: the cached binary prints the wanted version
  local bin="${ASSETS}/$1" want="$2"; shift 2
  local out
  [[ -x "${bin}" ]] || return 1
  out="$("${bin}" "$@" 2>/dev/null)" || return 1
  [[ "${out}" == *"${want}"* ]]   # no `| grep -q`: an early exit would SIGPIPE under pipefail
}

build_kube() {
  local work; work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
    cloud-provider cluster-bootstrap code-generator component-base component-helpers
    controller-manager cri-api cri-client cri-streaming csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
    kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
    mount-utils pod-security-admission sample-apiserver streaming)
  local staging_version="v0.${K8S_VERSION#1.}"
  (
    cd "${work}"
    go mod init faultline.local/envtest-kube >/dev/null 2>&1
    for m in "${staging[@]}"; do
      go mod edit -replace "k8s.io/${m}=k8s.io/${m}@${staging_version}"
    done
    go mod edit -require "k8s.io/kubernetes@v${K8S_VERSION}"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >/dev/null
    local major minor ld="-s -w"
    major="$(cut -d. -f1 <<<"${K8S_VERSION}")"
    minor="$(cut -d. -f2 <<<"${K8S_VERSION}")"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X ${p}.gitVersion=v${K8S_VERSION} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
      ld+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=1970-01-01T00:00:00Z"
    done
    go build -trimpath -ldflags "${ld}" -o "${ASSETS}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -trimpath -ldflags "${ld}" -o "${ASSETS}/kubectl" k8s.io/kubernetes/cmd/kubectl
  )
}

build_etcd() {
  local work; work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  (
    cd "${work}"
    go mod init faultline.local/envtest-etcd >/dev/null 2>&1
    go mod edit -require "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v${ETCD_VERSION}" \
      -o "${ASSETS}/etcd" go.etcd.io/etcd/server/v3
  )
}

if have kube-apiserver "v${K8S_VERSION}" --version && have kubectl "v${K8S_VERSION}" version --client; then
  echo "kube-apiserver v${K8S_VERSION}: cached" >&2
else
  echo "building kube-apiserver and kubectl v${K8S_VERSION} (several minutes)" >&2
  build_kube
fi
if have etcd "Version: ${ETCD_VERSION}" --version; then
  echo "etcd v${ETCD_VERSION}: cached" >&2
else
  echo "building etcd v${ETCD_VERSION}" >&2
  build_etcd
fi
echo "${ASSETS}"
