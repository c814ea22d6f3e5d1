#!/usr/bin/env bash
# Builds Kubernetes binaries from the official Go modules pinned in tests/envtest/{kube,etcd}/go.mod,
# once, into a cache outside the repo, and prints the directory that holds them on its last line of
# stdout (see lib.sh for the cache's safety rules).
#
#   build.sh         the API-server tier: kube-apiserver, kubectl, etcd (what `make test` needs)
#   build.sh --node  the node tier: kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#                    (a real single-node cluster, scripts/cluster.sh), from the same wrapper module
#                    and with the same version stamp, into a sibling cache entry
#
# The cache key is the pinned versions plus a hash of the wrapper modules, so a version bump
# rebuilds.
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

tier=control-plane
case "${1:-}" in
  "") ;;
  --node) tier=node ;;
  *) echo "usage: $0 [--node]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
k8s_version=$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")
etcd_version=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3"{print $3}' "$here/etcd/go.mod")
if [[ -z "$k8s_version" || -z "$etcd_version" ]]; then
  echo "envtest: cannot read the pinned versions from $here/{kube,etcd}/go.mod" >&2
  exit 1
fi
kube_hash=$(cat "$here"/kube/go.mod "$here"/kube/go.sum "$here"/kube/tools.go | sha256sum | cut -c1-12)
wrapper_hash=$(cat "$here"/kube/go.mod "$here"/kube/go.sum "$here"/kube/tools.go \
  "$here"/etcd/go.mod "$here"/etcd/go.sum "$here"/etcd/main.go | sha256sum | cut -c1-12)
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}

node_binaries=(kube-controller-manager kube-scheduler kubelet kube-proxy)

complete() { [[ -x "$1/kube-apiserver" && -x "$1/kubectl" && -x "$1/etcd" ]]; }

complete_node() {
  local b
  for b in "${node_binaries[@]}"; do [[ -x "$1/$b" ]] || return 1; done
}

# build_kube WORKDIR WHAT CMD...: `go build` of k8s.io/kubernetes/cmd/CMD... with the version stamp.
build_kube() {
  local work=$1 what=$2
  shift 2
  local k8s_minor ldflags cmd pkgs=()
  k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done

  echo "envtest: building $what $k8s_version (cold build takes several minutes)" >&2
  (cd "$here/kube" && go mod download) >&2 ||
    envtest_fail "download Kubernetes modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
  (cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$work/" "${pkgs[@]}") >&2 ||
    envtest_fail "build $what" "see the compiler output above; a Go toolchain too old for $k8s_version can be replaced with GOTOOLCHAIN=go1.27.3."
}

build_node() {
  local work=$1 b
  build_kube "$work" "${node_binaries[*]}" "${node_binaries[@]}"
  for b in "${node_binaries[@]}"; do
    "$work/$b" --version >&2 || envtest_fail "check $b" "the built binary does not run."
  done
}

build() {
  local work=$1
  build_kube "$work" "kube-apiserver and kubectl" kube-apiserver kubectl

  echo "envtest: building etcd $etcd_version" >&2
  (cd "$here/etcd" && go mod download) >&2 ||
    envtest_fail "download etcd modules" "the Go module proxy could not be reached or go.sum does not match; check GOPROXY and network access."
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/etcd" .) >&2 ||
    envtest_fail "build etcd" "see the compiler output above."

  "$work/kube-apiserver" --version >&2 || envtest_fail "check kube-apiserver" "the built binary does not run."
}

if [[ $tier == node ]]; then
  envtest_cached_build "$cache_root/k8s-node-$k8s_version-$kube_hash" complete_node build_node
else
  envtest_cached_build "$cache_root/k8s-$k8s_version-etcd-$etcd_version-$wrapper_hash" complete build
fi
