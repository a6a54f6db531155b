#!/usr/bin/env bash
# Installs the Debian packages that builds and tests need. Idempotent and
# quiet when everything is present. Needs root (as CI and sessions run).
set -euo pipefail
PACKAGES=(
  git            # git http-backend (internal/testground/gitserver), go-git tests
  iproute2       # ip netns / tc, used by tests to set up and inspect hosts
  iputils-ping   # reachability checks between network-namespace hosts
  nftables       # nft CLI: tests assert that no faultline table is left behind
  make
  gcc            # cgo for the race detector and the Gitea build
  libc6-dev      # C headers for cgo (gcc only recommends them; the Gitea build's sqlite needs them)
  prometheus     # /usr/bin/prometheus, started per test by internal/testground/prom (verdict probes)
  ca-certificates
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
