#!/usr/bin/env bash
# Builds helm from its official Go module (helm.sh/helm/v4, pinned in tests/envtest/helm/go.mod),
# once, into the same tool cache as the test control plane (tests/envtest/build.sh), and prints the
# directory that holds the `helm` binary on its last line of stdout.
#
# Same conventions as build.sh: the cache key is the pinned version plus a hash of the wrapper
# module, so a version bump rebuilds; the build goes into a temporary directory renamed into place
# only when the binary runs; one `flock` (the cache's .build.lock) serialises builders.
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
helm_version=$(awk '$1=="require" && $2=="helm.sh/helm/v4"{print $3}' "$here/helm/go.mod")
if [[ -z "$helm_version" ]]; then
  echo "envtest: cannot read the pinned helm version from $here/helm/go.mod" >&2
  exit 1
fi
wrapper_hash=$(cat "$here"/helm/go.mod "$here"/helm/go.sum "$here"/helm/tools.go | sha256sum | cut -c1-12)
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}
dest="$cache_root/helm-$helm_version-$wrapper_hash"

complete() { [[ -x "$1/helm" ]]; }

if complete "$dest"; then
  echo "$dest"
  exit 0
fi

fail() {
  local step=$1 advice=$2
  echo "envtest: step '$step' failed. $advice" >&2
  exit 1
}

command -v go >/dev/null 2>&1 ||
  fail "find go" "Go is not on PATH; install Go 1.26 or newer (https://go.dev/dl or your distribution's golang package) and run again."

mkdir -p "$cache_root"
# The same lock as build.sh: one build at a time in the cache, the others wait for it.
exec 9>"$cache_root/.build.lock"
flock 9
rm -rf "$cache_root"/.building-*
if complete "$dest"; then
  echo "$dest"
  exit 0
fi

work=$(mktemp -d "$cache_root/.building-XXXXXX")
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

echo "envtest: building helm $helm_version (cold build takes a few minutes)" >&2
(cd "$here/helm" && go mod download) >&2 ||
  fail "download helm modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
(cd "$here/helm" && go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$work/helm" helm.sh/helm/v4/cmd/helm) >&2 ||
  fail "build helm" "see the compiler output above."

"$work/helm" version --short >&2 || fail "check helm" "the built binary does not run."
complete "$work" || fail "check binaries" "helm is missing after the build."

mv -T "$work" "$dest" 2>/dev/null || { complete "$dest" || fail "install into cache" "cannot rename $work to $dest."; }
trap - EXIT
echo "$dest"
