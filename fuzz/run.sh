#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60); fails on a crash.
#   fuzz/run.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain (skipped with exit 0 when there is none). cargo-fuzz is installed
# into the tool cache (${XDG_CACHE_HOME:-~/.cache}/digital-recovery/tools/cargo-fuzz-<version>, as
# tests/envtest) when it is not on PATH.
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
shift || true
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.1}"
TOOLS="${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}"
ALL_TARGETS=(genesys_page genesys_recordings genesys_job das_page manifest error_bodies)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
cd "$(dirname "$0")"

case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! command -v rustup >/dev/null 2>&1 || ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: skipped: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  root="$TOOLS/cargo-fuzz-$CARGO_FUZZ_VERSION"
  if [ ! -x "$root/bin/cargo-fuzz" ]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $root"
    mkdir -p "$TOOLS"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$root.tmp.$$"
    rm -rf "$root"
    mv "$root.tmp.$$" "$root"
  fi
  export PATH="$root/bin:$PATH"
fi
echo "fuzz: $(cargo fuzz --version), $(rustup run nightly rustc --version)"

echo "fuzz: building the targets"
cargo +nightly fuzz build

# Inputs found while fuzzing go to a scratch corpus; the committed seeds in corpus/ stay as they are.
status=0
for target in "${TARGETS[@]}"; do
  work="target/corpus/$target"
  mkdir -p "$work" "artifacts/$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  if ! cargo +nightly fuzz run "$target" "$work" "corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048; then
    echo "fuzz: $target FAILED: crash input in fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit "$status"
