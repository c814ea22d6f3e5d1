#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd) from the official Go modules pinned
# in tests/envtest/{kube,etcd}/go.mod, once, into a cache outside the repo, and prints the directory
# that holds the binaries on its last line of stdout.
#
# The cache key is the pinned versions plus a hash of the wrapper modules, so a version bump
# rebuilds. A build goes into a temporary directory that is renamed into place only when every
# binary is built, so an interrupted or failed build never leaves a half-filled cache entry.
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")
etcd_version=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3"{print $3}' "$here/etcd/go.mod")
if [[ -z "$k8s_version" || -z "$etcd_version" ]]; then
  echo "envtest: cannot read the pinned versions from $here/{kube,etcd}/go.mod" >&2
  exit 1
fi
wrapper_hash=$(cat "$here"/kube/go.mod "$here"/kube/go.sum "$here"/kube/tools.go \
  "$here"/etcd/go.mod "$here"/etcd/go.sum "$here"/etcd/main.go | sha256sum | cut -c1-12)
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}
dest="$cache_root/k8s-$k8s_version-etcd-$etcd_version-$wrapper_hash"

complete() { [[ -x "$1/kube-apiserver" && -x "$1/kubectl" && -x "$1/etcd" ]]; }

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
# Several test binaries may ask for the tools at once: one builds, the others wait for it.
exec 9>"$cache_root/.build.lock"
flock 9
# Leftovers of a build that was killed outright (no trap ran); we hold the lock, so none is live.
rm -rf "$cache_root"/.building-*
if complete "$dest"; then
  echo "$dest"
  exit 0
fi

work=$(mktemp -d "$cache_root/.building-XXXXXX")
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0
# k8s.io/kubernetes may require a newer Go than the machine's; the Go module proxy serves it.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"

echo "envtest: building kube-apiserver and kubectl $k8s_version (cold build takes several minutes)" >&2
(cd "$here/kube" && go mod download) >&2 ||
  fail "download Kubernetes modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
(cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$work/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl) >&2 ||
  fail "build kube-apiserver and kubectl" "see the compiler output above; a Go toolchain too old for $k8s_version can be replaced with GOTOOLCHAIN=go1.27.3."

echo "envtest: building etcd $etcd_version" >&2
(cd "$here/etcd" && go mod download) >&2 ||
  fail "download etcd modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/etcd" .) >&2 ||
  fail "build etcd" "see the compiler output above."

"$work/kube-apiserver" --version >&2 || fail "check kube-apiserver" "the built binary does not run."
complete "$work" || fail "check binaries" "a binary is missing after the build."

mv -T "$work" "$dest" 2>/dev/null || { complete "$dest" || fail "install into cache" "cannot rename $work to $dest."; }
trap - EXIT
echo "$dest"
