#!/usr/bin/env bash
# Regenerates deploy/operationrun-controller.yaml, the static install manifest:
# deploy/namespace.yaml followed by the Helm chart rendered with default values
# and its CRDs. tests/testenv/tests/chart/ fails when the file is stale.
#
#   deploy/render.sh            # writes deploy/operationrun-controller.yaml
#   deploy/render.sh OUT        # writes OUT instead
#
# helm: $HELM, else the one tests/controlplane/build.sh builds (and caches).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/deploy/operationrun-controller.yaml}"

helm="${HELM:-}"
if [[ -z "$helm" ]]; then
  bin="$("$root/tests/controlplane/build.sh" | tail -n 1)"
  helm="$bin/helm"
fi

# Keep helm away from ~ (it reads no repository or plugin for a local chart).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export HELM_CACHE_HOME="$tmp/cache" HELM_CONFIG_HOME="$tmp/config" HELM_DATA_HOME="$tmp/data"

{
  cat "$root/deploy/namespace.yaml"
  "$helm" template operationrun-controller "$root/charts/operationrun-controller" \
    --namespace operationrun-system --include-crds
} >"$tmp/manifest.yaml"
mv "$tmp/manifest.yaml" "$out"
echo "wrote $out" >&2
