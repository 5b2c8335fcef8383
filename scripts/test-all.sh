#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing (the
# Rust components from rust-toolchain.toml, Debian packages, the test control plane built
# from Go modules), then format, lint, unit, property, CLI, control-plane and chart tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "Debian packages (lua5.1 for the Argo CD health check test, faketime for the fault suite's skewed clocks)"
missing=()
command -v lua5.1 >/dev/null 2>&1 || missing+=(lua5.1)
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

step "Rust toolchain (rust-toolchain.toml)"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "Test control plane (kube-apiserver, etcd, kubectl, helm from Go modules)"
tests/controlplane/build.sh >/dev/null

step "Oldest supported control plane: kube-apiserver and etcd (OPRUN_K8S=oldest; kubectl and helm are the newest's)"
OPRUN_K8S=oldest tests/controlplane/build.sh kube-apiserver etcd >/dev/null

step "Check tools (actionlint, kubeconform, kube-score, toxiproxy from Go modules; the release's are built by cargo xtask dist)"
OPRUN_TOOLS_BIN="$(tests/tools/build.sh actionlint kubeconform kube-score toxiproxy | tail -n 1)"
export OPRUN_TOOLS_BIN

step "Workflow lint (actionlint with shellcheck)"
scripts/check-workflows.sh

step "Manifest checks (helm lint --strict, kubeconform -strict, kube-score)"
scripts/check-manifests.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "Controller image (cargo xtask image: buildah, FROM scratch), inspected, its binary run as UID 65532"
cargo xtask image
cargo test -p xtask --test image -- --ignored

step "End-to-end suite on the oldest supported Kubernetes (OPRUN_K8S=oldest)"
OPRUN_K8S=oldest cargo test -p operationrun-controller --test e2e

step "Argo CD health check (Lua 5.1)"
tests/argocd/run.sh

step "cargo xtask demo"
cargo xtask demo

step "Scale benchmark, smoke size (cargo xtask bench-scale; the full runs are in BENCHMARKS.md)"
# the debug build the tests already made: the smoke run checks the harness, not the figures
cargo build --quiet --bin operationrun-controller
cargo xtask bench-scale --runs 200 --concurrency 16 --controller target/debug/operationrun-controller

printf '\nAll tests passed in %ss.\n' "$(( $(date +%s) - started ))"
