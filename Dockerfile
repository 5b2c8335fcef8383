# syntax=docker/dockerfile:1
#
# operationrun-controller: a static musl binary in an image FROM scratch, the
# same image `cargo xtask image` builds without Docker.
#
#   docker build -t ghcr.io/tenantatlas/operationrun-controller:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 .
#
# The builder runs on the build machine's platform and cross-compiles for
# $TARGETARCH with cargo-zigbuild and zig (from PyPI, pinned in
# xtask/zig-requirements.txt), so an arm64 image needs no emulation. The final
# image holds only the binary: no shell, no package manager, no CA bundle (TLS
# trust comes from the kubeconfig and the ServiceAccount). It runs as UID/GID
# 65532, the runAsUser/runAsGroup of the Helm chart.

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY xtask/zig-requirements.txt /tmp/zig-requirements.txt
RUN python3 -m venv /opt/zig \
 && /opt/zig/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/zig-requirements.txt
ENV PATH=/opt/zig/bin:$PATH
# rust-toolchain.toml pins the toolchain: add the musl target to that one.
COPY rust-toolchain.toml ./
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH'" >&2; exit 1 ;; \
    esac > /tmp/triple \
 && rustup target add "$(cat /tmp/triple)"
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    triple="$(cat /tmp/triple)" \
 && CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo zigbuild --release --locked --target "$triple" \
        -p operationrun-controller --bin operationrun-controller \
 && install -D -m 0755 "target/$triple/release/operationrun-controller" \
        /out/operationrun-controller

FROM scratch
LABEL org.opencontainers.image.title="operationrun-controller" \
      org.opencontainers.image.description="Decides the true outcome of stale OperationRuns from the evidence they produced." \
      org.opencontainers.image.source="https://github.com/tenantatlas/operationrun-controller" \
      org.opencontainers.image.url="https://github.com/tenantatlas/operationrun-controller" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/operationrun-controller /operationrun-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/operationrun-controller"]
CMD ["run"]
