# syntax=docker/dockerfile:1
#
# operationrun-controller: a static musl binary on distroless/static:nonroot.
#
#   docker build -t ghcr.io/tenantatlas/operationrun-controller:0.1.0 .
#
# The final image has no shell and no package manager; it runs as UID/GID
# 65532 (distroless "nonroot"), the runAsUser/runAsGroup of the Helm chart.

FROM rust:1.95 AS build
# musl-gcc for the C and assembly parts of ring (TLS crypto).
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# rust-toolchain.toml pins the toolchain: add the musl target to that one.
COPY rust-toolchain.toml ./
RUN rustup target add x86_64-unknown-linux-musl
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl \
        -p operationrun-controller --bin operationrun-controller \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/operationrun-controller \
        /out/operationrun-controller

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="operationrun-controller" \
      org.opencontainers.image.description="Decides the true outcome of stale OperationRuns from the evidence they produced." \
      org.opencontainers.image.source="https://github.com/tenantatlas/operationrun-controller" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/operationrun-controller /usr/local/bin/operationrun-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/operationrun-controller"]
CMD ["run"]
