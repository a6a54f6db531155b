#!/usr/bin/env bash
# Builds Gitea (the forge the write-back tests post commit statuses to) from
# the Go module proxy into a cache outside the repository, together with the
# options/, templates/ and public/ trees it reads through STATIC_ROOT_PATH.
# Prebuilt binaries cannot be downloaded here, and `go install` refuses
# code.gitea.io/gitea because of its replace directives, so it is built from a
# throwaway wrapper module that copies them. v1.26.0 is the newest release
# that builds with our Go (v1.27+ moved to gitea.dev). Idempotent: a binary
# that already reports the wanted version is left alone.
#
# Prints the path of the gitea binary on its last line (use it as FAULTLINE_GITEA).
set -euo pipefail

GITEA_VERSION="${GITEA_VERSION:-1.26.0}"
CACHE="${FAULTLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/faultline}"
ASSETS="${CACHE}/gitea/${GITEA_VERSION}"
MODULE="code.gitea.io/gitea"

export GOTOOLCHAIN=local   # gitea's go.mod names go 1.26.2; stay on ours
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=1       # sqlite

have() { # the cached binary prints the wanted version and the static trees are in place
  local out
  [[ -x "${ASSETS}/gitea" && -d "${ASSETS}/templates" && -d "${ASSETS}/options" && -d "${ASSETS}/public" ]] || return 1
  out="$("${ASSETS}/gitea" --version 2>/dev/null)" || return 1
  [[ "${out}" == *"version ${GITEA_VERSION} "* ]]
}

replaces() { # replaces GO.MOD: prints each replace directive as old[@v]=new[@v]
  awk '
    function emit(f,   i, o, n) {
      sub(/\/\/.*/, "", f); n = split(f, w, /[ \t]+/); o = ""
      for (i = 1; i <= n; i++) if (w[i] == "=>") break
      if (i > n) return
      o = w[1] (i == 3 ? "@" w[2] : "") "=" w[i+1] (n >= i+2 && w[i+2] != "" ? "@" w[i+2] : "")
      print o
    }
    /^replace[ \t]*\($/ { block = 1; next }
    block && /^\)/      { block = 0; next }
    block               { line = $0; sub(/^[ \t]+/, "", line); emit(line); next }
    /^replace[ \t]/     { line = $0; sub(/^replace[ \t]+/, "", line); emit(line) }
  ' "$1"
}

build_gitea() {
  local work; work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  mkdir -p "${ASSETS}"
  local src
  src="$(go mod download -json "${MODULE}@v${GITEA_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "${src}/go.mod" ]] || { echo "gitea.sh: module ${MODULE}@v${GITEA_VERSION} not found in the module cache" >&2; return 1; }
  (
    cd "${work}"
    go mod init faultline.local/gitea-build >/dev/null 2>&1
    go mod edit -require "${MODULE}@v${GITEA_VERSION}"
    # Replace directives only apply in the main module: copy Gitea's.
    local r
    while read -r r; do
      [[ -n "${r}" ]] && go mod edit -replace "${r}"
    done < <(replaces "${src}/go.mod")
    go mod edit -godebug x509negativeserial=1
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "code.gitea.io/gitea"
GO
    local tags="sqlite sqlite_unlock_notify"
    # No DWARF (stripped by -w anyway) and no C debug info: less to compile.
    CGO_CFLAGS="-O2" go build -trimpath -gcflags=all=-dwarf=false -tags "${tags}" \
      -ldflags "-s -w -X 'main.Version=${GITEA_VERSION}' -X 'main.Tags=${tags}'" \
      -o "${ASSETS}/gitea.new" "${MODULE}"
  )
  # Static trees from the module (read-only in the module cache: copy, then make writable).
  local d
  for d in options templates public; do
    rm -rf "${ASSETS:?}/${d}"
    cp -R "${src}/${d}" "${ASSETS}/${d}"
    chmod -R u+w "${ASSETS}/${d}"
  done
  mv -f "${ASSETS}/gitea.new" "${ASSETS}/gitea"
}

if have; then
  echo "gitea v${GITEA_VERSION}: cached" >&2
else
  echo "building gitea v${GITEA_VERSION} (5-10 minutes cold)" >&2
  build_gitea
  have || { echo "gitea.sh: built binary does not report version ${GITEA_VERSION}" >&2; exit 1; }
fi
echo "${ASSETS}/gitea"
