#!/usr/bin/env bash
# Provides promtool (Prometheus' rule checker) for tests/chart.rs, from the distribution's
# `prometheus` package (Debian/Ubuntu apt), without installing the package (which would also set
# up a Prometheus server): `apt-get download` the .deb, take usr/bin/promtool out of it into the
# tool cache (same cache, lock and rename as tests/envtest/build.sh, see lib.sh) and print that
# directory on the last line of stdout. The cache key is the package version apt offers.
#
# Environment:
#   DR_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
cache_root=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}

if ! command -v apt-cache >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  envtest_fail "find apt" "no apt-cache/dpkg-deb: install promtool (https://prometheus.io/download/) and set DR_PROMTOOL_BIN to its directory."
fi
candidate() { apt-cache policy prometheus 2>/dev/null | awk '$1=="Candidate:"{print $2}'; }
version=$(candidate)
if [[ -z $version || $version == "(none)" ]]; then
  [[ $(id -u) -eq 0 ]] ||
    envtest_fail "find the prometheus package" "apt knows no prometheus package and only root can run apt-get update; run it as root or set DR_PROMTOOL_BIN."
  echo "envtest: apt-get update (no prometheus package known)" >&2
  apt-get update >&2 || envtest_fail "apt-get update" "see its output above."
  version=$(candidate)
  [[ -n $version && $version != "(none)" ]] ||
    envtest_fail "find the prometheus package" "apt offers no prometheus package; set DR_PROMTOOL_BIN to a directory with promtool."
fi

complete() { [[ -x "$1/promtool" ]]; }

build() {
  local work=$1
  echo "envtest: fetching promtool from the prometheus $version package" >&2
  (cd "$work" && apt-get download "prometheus=$version") >&2 ||
    envtest_fail "apt-get download prometheus" "see apt's output above."
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool ||
    envtest_fail "unpack promtool" "the package holds no usr/bin/promtool."
  mv "$work/usr/bin/promtool" "$work/promtool"
  rm -rf "${work:?}/usr" "${work:?}"/prometheus_*.deb
  "$work/promtool" --version >&2 || envtest_fail "check promtool" "the binary does not run."
}

envtest_cached_build "$cache_root/promtool-${version//[^A-Za-z0-9.+-]/_}" complete build
