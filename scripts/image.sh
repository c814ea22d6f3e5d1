#!/usr/bin/env bash
# Builds a local image with no registry and no network, and hands it to the local cluster:
#
#   image.sh [app]  the digital-recovery image: `cargo build --release --locked`, then the
#                   Dockerfile's `local` target (FROM scratch: the binary, the libraries `ldd` lists,
#                   CA certificates, time zones, /etc/passwd with 65532) -> localhost/digital-recovery:TAG
#   image.sh pause  the cluster's sandbox image: tests/envtest/pause (static Go, built once into the
#                   tool cache) -> localhost/dr-pause:TAG
#
# It builds with `buildah bud --isolation chroot` (a private store under ~/.cache/digital-recovery/
# buildah), writes a docker-archive tar to $DR_CLUSTER_DIR/images/NAME.tar (kept; `cluster.sh up`
# imports every tar there), imports it into the running cluster's containerd (namespace k8s.io)
# when there is one, and prints the image reference on its last line of stdout. TAG is the
# version plus a hash of what went into the image, so an unchanged build is not rebuilt and a
# changed one gets a new reference (imagePullPolicy IfNotPresent then picks it up).
#
# Environment:
#   DR_IMAGE_BINARY  use this digital-recovery binary instead of building one
#   DR_IMAGE_TAG     tag of the app image (default VERSION-HASH)
#   CARGO_TARGET_DIR as for cargo
set -euo pipefail

# shellcheck source=cluster-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-env.sh"

what=${1:-app}
case "$what" in
  app | pause) ;;
  *) echo "usage: $0 [app|pause]" >&2; exit 2 ;;
esac

bash "$dr_repo/tests/envtest/node-deps.sh" image

buildah_store=${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/buildah
buildah_() {
  buildah --root "$buildah_store/root" --runroot "$buildah_store/run" --storage-driver vfs "$@"
}

ctx=$(mktemp -d "${TMPDIR:-/tmp}/dr-image-XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# context_hash DOCKERFILE: hash of the build context (contents, modes, names) and the Dockerfile.
context_hash() {
  { tar -C "$ctx" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . && cat "$1"; } |
    sha256sum | cut -c1-12
}

# build_image NAME REF DOCKERFILE [TARGET]: the image from $ctx into $dr_images/NAME.tar, unless that
# tar already holds REF; then the import into the running cluster, if any.
build_image() {
  local name=$1 ref=$2 dockerfile=$3 target=${4:-}
  local tar=$dr_images/$name.tar
  mkdir -p "$dr_images" "$buildah_store"
  exec 8>"$dr_images/.lock"
  flock 8
  if [[ -f $tar && $(cat "$tar.ref" 2>/dev/null) == "$ref" ]]; then
    echo "image: $ref is up to date ($tar)" >&2
  else
    local start=$SECONDS
    echo "image: building $ref" >&2
    local args=(bud --isolation chroot --timestamp 0 -f "$dockerfile" -t "$ref")
    [[ -n $target ]] && args+=(--target "$target")
    buildah_ "${args[@]}" "$ctx" >&2 || dr_die "buildah bud failed (its output is above)"
    rm -f "$tar.tmp"
    buildah_ push -q "$ref" "docker-archive:$tar.tmp:$ref" >&2 || dr_die "buildah push to $tar.tmp failed"
    buildah_ rmi "$ref" >/dev/null 2>&1 || true
    mv -f "$tar.tmp" "$tar"
    echo "$ref" >"$tar.ref"
    echo "image: built $ref in $((SECONDS - start)) s ($(du -h "$tar" | cut -f1)), saved as $tar" >&2
  fi
  if dr_containerd_up; then
    ctr --address "$dr_containerd_sock" -n k8s.io images import "$tar" >&2 ||
      dr_die "ctr images import $tar failed"
    echo "image: imported into the cluster's containerd (namespace k8s.io)" >&2
  elif [[ $name != pause ]]; then
    echo "image: no cluster running; \`make cluster\` imports it when it starts" >&2
  fi
  echo "$ref"
}

pause_image() {
  # shellcheck source=../tests/envtest/lib.sh
  source "$dr_repo/tests/envtest/lib.sh"
  local src=$dr_repo/tests/envtest/pause hash dir
  hash=$(cat "$src/go.mod" "$src/main.go" | sha256sum | cut -c1-12)
  # shellcheck disable=SC2317 # called by envtest_cached_build
  complete() { [[ -x "$1/pause" ]]; }
  # shellcheck disable=SC2317
  build() {
    echo "image: building the pause program" >&2
    (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$hash" -o "$1/pause" .) >&2 ||
      envtest_fail "build pause" "see the compiler output above."
  }
  dir=$(envtest_cached_build "$dr_tools_cache/pause-$hash" complete build | tail -n1)
  install -m 0755 "$dir/pause" "$ctx/pause"
  build_image pause "localhost/dr-pause:$(context_hash "$src/Dockerfile")" "$src/Dockerfile"
}

app_image() {
  local bin=${DR_IMAGE_BINARY:-} root=$ctx/rootfs version lib libs
  if [[ -z $bin ]]; then
    echo "image: cargo build --release --locked --bin digital-recovery" >&2
    (cd "$dr_repo" && cargo build --release --locked --bin digital-recovery) >&2 ||
      dr_die "cargo build failed (its output is above)"
    local target_dir
    target_dir=$(cd "$dr_repo" && cargo metadata --format-version 1 --no-deps |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    bin=$target_dir/release/digital-recovery
  fi
  [[ -x $bin ]] || dr_die "no binary at $bin"
  install -D -m 0755 "$bin" "$root/usr/local/bin/digital-recovery"

  # The dynamic loader and every library, at the paths `ldd` resolves them to (the loader is
  # /lib64/ld-linux-x86-64.so.2, the binary's PT_INTERP). A static binary lists none.
  libs=$(ldd "$bin" 2>/dev/null | awk '
    /not found/ { print "MISSING:" $1; next }
    $2 == "=>" && $3 ~ /^\// { print $3; next }
    $1 ~ /^\// { print $1 }') || true
  for lib in $libs; do
    [[ $lib == MISSING:* ]] && dr_die "ldd: ${lib#MISSING:} not found for $bin"
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done

  local ca=/etc/ssl/certs/ca-certificates.crt
  [[ -f $ca ]] || dr_die "$ca is missing (apt-get install ca-certificates)"
  install -D -m 0644 "$ca" "$root$ca"
  mkdir -p "$root/etc" "$root/usr/share" "$root/home" "$ctx/home"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  chmod 0644 "$root"/etc/passwd "$root"/etc/group "$root"/etc/nsswitch.conf
  # Schedules evaluate cron in IANA time zones (jiff reads /usr/share/zoneinfo).
  if [[ -d /usr/share/zoneinfo ]]; then
    cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"
  else
    echo "image: warning: /usr/share/zoneinfo missing (apt-get install tzdata); schedules with a timeZone will fail" >&2
  fi
  install -d -m 1777 "$root/tmp"

  version=$(awk -F'"' '/^version *=/ { print $2; exit }' "$dr_repo/Cargo.toml")
  local tag=${DR_IMAGE_TAG:-$version-$(context_hash "$dr_repo/Dockerfile")}
  build_image digital-recovery "localhost/digital-recovery:$tag" "$dr_repo/Dockerfile" local
}

"${what}_image"
