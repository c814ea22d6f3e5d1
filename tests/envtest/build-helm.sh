#!/usr/bin/env bash
# Builds helm from its official Go module (helm.sh/helm/v4, pinned in tests/envtest/helm/go.mod),
# once, into the same tool cache as the test control plane (tests/envtest/build.sh), and prints the
# directory that holds the `helm` binary on its last line of stdout (see lib.sh for the cache's
# safety rules). The cache key is the pinned version plus a hash of the wrapper module.
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
helm_version=$(awk '$1=="require" && $2=="helm.sh/helm/v4"{print $3}' "$here/helm/go.mod")
if [[ -z "$helm_version" ]]; then
  echo "envtest: cannot read the pinned helm version from $here/helm/go.mod" >&2
  exit 1
fi
wrapper_hash=$(cat "$here"/helm/go.mod "$here"/helm/go.sum "$here"/helm/tools.go | sha256sum | cut -c1-12)
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}

complete() { [[ -x "$1/helm" ]]; }

build() {
  local work=$1
  echo "envtest: building helm $helm_version (cold build takes a few minutes)" >&2
  (cd "$here/helm" && go mod download) >&2 ||
    envtest_fail "download helm modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
  (cd "$here/helm" && go build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    -o "$work/helm" helm.sh/helm/v4/cmd/helm) >&2 ||
    envtest_fail "build helm" "see the compiler output above."
  "$work/helm" version --short >&2 || envtest_fail "check helm" "the built binary does not run."
}

envtest_cached_build "$cache_root/helm-$helm_version-$wrapper_hash" complete build
