#!/usr/bin/env bash
# Installs the host packages a real single-node cluster (scripts/cluster.sh) and the local image
# build (scripts/image.sh) need, from the distribution (Debian/Ubuntu apt), only when they are
# missing:
#
#   cluster  containerd, runc, containernetworking-plugins (bridge, host-local, loopback), iptables,
#            iproute2 and curl (scripts/cluster.sh uses ip, ss and curl)
#   image    buildah (builds the Dockerfile with no registry and no daemon)
#
#   node-deps.sh [cluster|image|all]    (default: all)
#
# Prints nothing on stdout; says on stderr what it installed. Exits non-zero, naming the missing
# commands and how to get them, when it cannot install (not root, no apt-get, apt failed).
set -euo pipefail

what=${1:-all}
case "$what" in
  cluster | image | all) ;;
  *) echo "usage: $0 [cluster|image|all]" >&2; exit 2 ;;
esac

# CNI plugins: Debian puts them in /usr/lib/cni, the upstream tarball in /opt/cni/bin.
cni_dir() {
  local d
  for d in ${DR_CNI_BIN_DIR:-} /usr/lib/cni /opt/cni/bin; do
    [[ -n "$d" && -x "$d/bridge" && -x "$d/host-local" && -x "$d/loopback" ]] && { echo "$d"; return 0; }
  done
  return 1
}

# missing_packages: "package:what-is-missing" for each missing piece.
missing=()
if [[ $what == cluster || $what == all ]]; then
  command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || missing+=("containerd:containerd and ctr")
  command -v runc >/dev/null 2>&1 || missing+=("runc:runc")
  cni_dir >/dev/null || missing+=("containernetworking-plugins:the CNI plugins bridge, host-local, loopback")
  command -v iptables >/dev/null 2>&1 && command -v iptables-save >/dev/null 2>&1 || missing+=("iptables:iptables")
  # scripts/cluster.sh itself: addresses, links and sockets; readiness probes.
  command -v ip >/dev/null 2>&1 && command -v ss >/dev/null 2>&1 || missing+=("iproute2:ip and ss")
  command -v curl >/dev/null 2>&1 || missing+=("curl:curl")
fi
if [[ $what == image || $what == all ]]; then
  command -v buildah >/dev/null 2>&1 || missing+=("buildah:buildah")
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

packages=()
for m in "${missing[@]}"; do packages+=("${m%%:*}"); done
what_missing=""
for m in "${missing[@]}"; do what_missing+="${what_missing:+, }${m#*:}"; done
echo "node-deps: missing: $what_missing" >&2

cannot() {
  echo "node-deps: cannot install them: $1" >&2
  echo "node-deps: on Debian 12 / Ubuntu run as root: apt-get install -y --no-install-recommends ${packages[*]}" >&2
  echo "node-deps: elsewhere install containerd (1.6 or newer), runc, the CNI plugins (https://github.com/containernetworking/plugins; set DR_CNI_BIN_DIR if not in /usr/lib/cni or /opt/cni/bin), iptables, iproute2, curl and buildah with your package manager." >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || cannot "not root (a cluster needs root anyway: it creates cgroups, mounts, a bridge and iptables rules)"
command -v apt-get >/dev/null 2>&1 || cannot "apt-get not found"

export DEBIAN_FRONTEND=noninteractive
apt_install() {
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}" >&2
}
echo "node-deps: apt-get install ${packages[*]}" >&2
# A fresh machine may have no package lists yet (or stale ones): update once and retry.
if ! apt_install; then
  apt-get update -q >&2 || cannot "apt-get update failed (is a Debian mirror reachable?)"
  apt_install || cannot "apt-get install failed (see its output above)"
fi

# Check again: a package can install and still not provide what we look for.
if [[ $what == cluster || $what == all ]]; then
  if ! { command -v containerd && command -v runc && cni_dir && command -v iptables; } >/dev/null; then
    cannot "installed, but a command is still missing"
  fi
fi
if [[ $what == image || $what == all ]]; then
  command -v buildah >/dev/null || cannot "installed, but buildah is still missing"
fi
echo "node-deps: installed ${packages[*]}" >&2
