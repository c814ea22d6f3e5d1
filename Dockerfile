# syntax=docker/dockerfile:1
# The `digital-recovery` image (controller and worker in one binary). Two targets, one shape: the
# binary at /usr/local/bin/digital-recovery, glibc, CA certificates and time zones, user 65532, no
# shell, nothing written to the root filesystem (runs with readOnlyRootFilesystem: true).
#
# release (the default, what users build and ship; needs a registry for its base images):
#   docker build -t ghcr.io/cxops/digital-recovery:0.1.0 .
#
# local (no registry, no network: `make image`, scripts/image.sh): the release binary built on the
# host with `cargo build --release --locked`, plus what it needs at run time, arrive in the build
# context, laid out by scripts/image.sh as
#   rootfs/  usr/local/bin/digital-recovery, the libraries `ldd` lists (loader in /lib64),
#            etc/ssl/certs/ca-certificates.crt, etc/passwd and etc/group (65532 is nonroot),
#            etc/nsswitch.conf, usr/share/zoneinfo, tmp (1777), home
#   home/    (empty) becomes /home/nonroot, owned by 65532
#   buildah bud --isolation chroot --target local -f Dockerfile -t localhost/digital-recovery:TAG CONTEXT
# It comes first so that building it never touches the stages below (and their registries).

# Global (used by a FROM line below), so it has to precede every stage.
ARG RUST_VERSION=1.95

FROM scratch AS local
COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/nonroot/
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/digital-recovery"]
CMD ["controller", "--log-format", "json"]

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crds ./crds
COPY benches ./benches
# BuildKit cache mounts keep the registry and the dependency builds between image builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin digital-recovery \
    && install -D -m 0755 target/release/digital-recovery /out/digital-recovery

# distroless/cc: glibc and CA certificates, no shell, no package manager; "nonroot" is 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS release
COPY --from=builder /out/digital-recovery /usr/local/bin/digital-recovery
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/digital-recovery"]
CMD ["controller", "--log-format", "json"]
