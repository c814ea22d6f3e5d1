# shellcheck shell=bash
# Shared by build.sh and build-helm.sh: build Go binaries once into the tool cache, safely.
#
# The cache entry is filled in a temporary directory renamed into place only when every binary is
# there, so an interrupted or failed build never leaves a half-filled entry; one `flock` (the
# cache's .build.lock) serialises builders, so concurrent test binaries wait for one build.

# Exits naming the step that failed and what to do about it.
envtest_fail() {
  echo "envtest: step '$1' failed. $2" >&2
  exit 1
}

# envtest_cached_build DEST COMPLETE BUILD
# Prints DEST once `COMPLETE DIR` holds for it; when it does not, runs `BUILD WORKDIR` (with
# CGO_ENABLED=0 and GOTOOLCHAIN=auto unless set) and moves WORKDIR into place.
envtest_cached_build() {
  local dest=$1 complete=$2 build=$3
  local cache_root
  cache_root=$(dirname "$dest")
  if "$complete" "$dest"; then
    echo "$dest"
    return 0
  fi
  command -v go >/dev/null 2>&1 ||
    envtest_fail "find go" "Go is not on PATH; install Go 1.26 or newer (https://go.dev/dl or your distribution's golang package) and run again."
  mkdir -p "$cache_root"
  exec 9>"$cache_root/.build.lock"
  flock -n 9 || {
    echo "envtest: waiting for another build in $cache_root to finish (.build.lock)" >&2
    flock 9
  }
  # Leftovers of a build that was killed outright (no trap ran); we hold the lock, so none is live.
  rm -rf "$cache_root"/.building-*
  if "$complete" "$dest"; then
    echo "$dest"
    return 0
  fi
  envtest_work=$(mktemp -d "$cache_root/.building-XXXXXX")
  trap 'rm -rf "$envtest_work"' EXIT
  export CGO_ENABLED=0
  # A module may require a newer Go than the machine's; the Go module proxy serves it.
  export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
  "$build" "$envtest_work"
  "$complete" "$envtest_work" || envtest_fail "check binaries" "a binary is missing after the build."
  mv -T "$envtest_work" "$dest" 2>/dev/null ||
    { "$complete" "$dest" || envtest_fail "install into cache" "cannot rename $envtest_work to $dest."; }
  trap - EXIT
  echo "$dest"
}
