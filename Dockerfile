# syntax=docker/dockerfile:1
# Multi-stage build of the `digital-recovery` binary (controller and worker in one image).
#   docker build -t ghcr.io/cxops/digital-recovery:0.1.0 .

ARG RUST_VERSION=1.95
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
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/digital-recovery /usr/local/bin/digital-recovery
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/digital-recovery"]
CMD ["controller", "--log-format", "json"]
