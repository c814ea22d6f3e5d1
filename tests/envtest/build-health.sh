#!/usr/bin/env bash
# Builds the GitOps health reader (tests/envtest/health: Flux's kstatus and Argo CD's Lua health
# checks run by gopher-lua, both from their official Go modules) once, into the same tool cache as
# the test control plane (tests/envtest/build.sh), and prints the directory that holds the
# `health` binary on its last line of stdout (see lib.sh for the cache's safety rules). The cache
# key is a hash of the module (go.mod, go.sum, main.go).
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
module_hash=$(cat "$here"/health/go.mod "$here"/health/go.sum "$here"/health/main.go | sha256sum | cut -c1-12)
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}

complete() { [[ -x "$1/health" ]]; }

build() {
  local work=$1
  echo "envtest: building the GitOps health reader (kstatus, gopher-lua)" >&2
  (cd "$here/health" && go mod download) >&2 ||
    envtest_fail "download health reader modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
  (cd "$here/health" && go build -trimpath -ldflags "-s -w" -o "$work/health" .) >&2 ||
    envtest_fail "build the health reader" "see the compiler output above."
  echo '[]' | "$work/health" >&2 || envtest_fail "check the health reader" "the built binary does not run."
}

envtest_cached_build "$cache_root/health-$module_hash" complete build
