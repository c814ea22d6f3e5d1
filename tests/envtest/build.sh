#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd) from the official Go modules pinned
# in tests/envtest/{kube,etcd}/go.mod, once, into a cache outside the repo, and prints the directory
# that holds the binaries on its last line of stdout (see lib.sh for the cache's safety rules).
#
# The cache key is the pinned versions plus a hash of the wrapper modules, so a version bump
# rebuilds.
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
k8s_version=$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")
etcd_version=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3"{print $3}' "$here/etcd/go.mod")
if [[ -z "$k8s_version" || -z "$etcd_version" ]]; then
  echo "envtest: cannot read the pinned versions from $here/{kube,etcd}/go.mod" >&2
  exit 1
fi
wrapper_hash=$(cat "$here"/kube/go.mod "$here"/kube/go.sum "$here"/kube/tools.go \
  "$here"/etcd/go.mod "$here"/etcd/go.sum "$here"/etcd/main.go | sha256sum | cut -c1-12)
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}

complete() { [[ -x "$1/kube-apiserver" && -x "$1/kubectl" && -x "$1/etcd" ]]; }

build() {
  local work=$1
  local k8s_minor ldflags
  k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"

  echo "envtest: building kube-apiserver and kubectl $k8s_version (cold build takes several minutes)" >&2
  (cd "$here/kube" && go mod download) >&2 ||
    envtest_fail "download Kubernetes modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
  (cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$work/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl) >&2 ||
    envtest_fail "build kube-apiserver and kubectl" "see the compiler output above; a Go toolchain too old for $k8s_version can be replaced with GOTOOLCHAIN=go1.27.3."

  echo "envtest: building etcd $etcd_version" >&2
  (cd "$here/etcd" && go mod download) >&2 ||
    envtest_fail "download etcd modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/etcd" .) >&2 ||
    envtest_fail "build etcd" "see the compiler output above."

  "$work/kube-apiserver" --version >&2 || envtest_fail "check kube-apiserver" "the built binary does not run."
}

envtest_cached_build "$cache_root/k8s-$k8s_version-etcd-$etcd_version-$wrapper_hash" complete build
