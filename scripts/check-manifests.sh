#!/usr/bin/env bash
# Checks the Helm chart and the static manifest with the tools reviewers use:
#   - helm lint --strict, with the default values and each
#     charts/operationrun-controller/ci/*-values.yaml;
#   - kubeconform -strict on the chart rendered with each of those values,
#     on deploy/operationrun-controller.yaml and on every object in examples/,
#     against the Kubernetes schemas of the newest and of the oldest tested
#     release and the chart's own CRDs (an unknown or misplaced field fails);
#   - kube-score on the same renders and deploy/, skipping only the checks
#     scripts/kube-score.flags lists, each with its reason.
#
#   scripts/check-manifests.sh
#
# helm comes from tests/controlplane/build.sh, kubeconform and kube-score from
# tests/tools/build.sh (OPRUN_CONTROLPLANE_BIN / OPRUN_TOOLS_BIN to reuse a
# bin dir). The Kubernetes schemas are the OpenAPI documents the
# k8s.io/kubernetes module ships (api/openapi-spec/v3), turned into
# kubeconform's layout by scripts/kubeconform-schemas.py: nothing is
# downloaded but Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
chart="$root/charts/operationrun-controller"

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.1f\", $2 - $1}"; }

cp_bin="${OPRUN_CONTROLPLANE_BIN:-$(tests/controlplane/build.sh helm | tail -n 1)}"
tools="${OPRUN_TOOLS_BIN:-$(tests/tools/build.sh kubeconform kube-score | tail -n 1)}"
helm="$cp_bin/helm"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Keep helm away from ~ (a local chart needs no repository or plugin).
export HELM_CACHE_HOME="$tmp/helm/cache" HELM_CONFIG_HOME="$tmp/helm/config" HELM_DATA_HOME="$tmp/helm/data"

# --- the value sets ----------------------------------------------------------
values=(default)
for f in "$chart"/ci/*-values.yaml; do
  values+=("$f")
done
name_of() { if [[ "$1" == default ]]; then echo default; else basename "$1" -values.yaml; fi; }
values_args() { [[ "$1" == default ]] || printf '%s\n' --values "$1"; }

# --- helm lint --strict -------------------------------------------------------
t0="$(now)"
for v in "${values[@]}"; do
  mapfile -t args < <(values_args "$v")
  "$helm" lint --strict --quiet "$chart" "${args[@]}" >"$tmp/lint.out" 2>&1 || {
    cat "$tmp/lint.out" >&2
    log "helm lint --strict failed with values: $(name_of "$v")"
    exit 1
  }
done
log "helm lint --strict: ${#values[@]} value sets clean ($(secs "$t0" "$(now)")s)"

# --- renders -------------------------------------------------------------------
mkdir -p "$tmp/render"
renders=()
for v in "${values[@]}"; do
  mapfile -t args < <(values_args "$v")
  out="$tmp/render/$(name_of "$v").yaml"
  "$helm" template operationrun-controller "$chart" --namespace operationrun-system \
    --include-crds "${args[@]}" >"$out"
  renders+=("$out")
done

# --- kubeconform ---------------------------------------------------------------
t0="$(now)"
# The chart's CRDs as JSON, one object a line: helm's fromYaml and toJson in a
# throwaway chart, so no YAML library is needed here.
conv="$tmp/yaml2json"
mkdir -p "$conv/templates" "$conv/in"
cp "$chart"/crds/*.yaml "$conv/in/"
printf 'apiVersion: v2\nname: yaml2json\nversion: 0.0.0\n' >"$conv/Chart.yaml"
cat >"$conv/templates/out.yaml" <<'EOF'
{{- range $path, $_ := .Files.Glob "in/*.yaml" }}
---
{{ $.Files.Get $path | fromYaml | toJson }}
{{- end }}
EOF
"$helm" template yaml2json "$conv" | grep '^{' >"$tmp/crds.json"
if grep -q '"Error":' "$tmp/crds.json"; then
  log "a CRD file is not valid YAML: $(grep -o '"Error":"[^"]*"' "$tmp/crds.json")"
  exit 1
fi

# The k8s.io/kubernetes modules of the two tested releases hold their OpenAPI
# documents; `go mod download` puts them in the module cache if the control
# plane was built elsewhere.
openapi_dir() {
  local dir
  dir="$(cd "$root/tests/controlplane/$1" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
    go mod download -json k8s.io/kubernetes | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "$dir/api/openapi-spec/v3" ]] || { log "no api/openapi-spec/v3 in $dir"; exit 1; }
  echo "$dir/api/openapi-spec/v3"
}
# shellcheck source=../tests/controlplane/versions.env
source "$root/tests/controlplane/versions.env"
oldest_minor="${K8S_OLDEST_VERSION#v}"
oldest_minor="${oldest_minor%.*}"
declare -A schema_sets=(
  ["$K8S_VERSION"]="$(openapi_dir kubernetes)"
  ["$K8S_OLDEST_VERSION"]="$(openapi_dir "kubernetes-$oldest_minor")"
)

mapfile -t examples < <(find examples -name '*.yaml' | sort)
kubeconform_inputs=("${renders[@]}" deploy/operationrun-controller.yaml "${examples[@]}")
for k in "${!schema_sets[@]}"; do
  python3 scripts/kubeconform-schemas.py --openapi "${schema_sets[$k]}" --crds "$tmp/crds.json" \
    --out "$tmp/schemas/$k" 2>/dev/null
  # ServiceMonitor and PrometheusRule (monitoring.coreos.com/v1) are skipped:
  # their CRDs belong to the Prometheus Operator and are not in this repository
  # (tests/testenv/tests/chart/ checks what the chart puts in them).
  "$tools/kubeconform" -strict -summary -skip ServiceMonitor,PrometheusRule \
    -schema-location "$tmp/schemas/$k/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "${kubeconform_inputs[@]}" >"$tmp/kubeconform.out" 2>&1 || {
    cat "$tmp/kubeconform.out" >&2
    log "kubeconform -strict failed against the schemas of Kubernetes $k"
    exit 1
  }
  log "kubeconform -strict (Kubernetes $k): $(tail -n 1 "$tmp/kubeconform.out")"
done
log "kubeconform: ${#renders[@]} renders, deploy/ and ${#examples[@]} example files ($(secs "$t0" "$(now)")s)"

# --- kube-score ----------------------------------------------------------------
t0="$(now)"
# scripts/kube-score.flags: one flag a line; '#' starts a comment.
mapfile -t score_flags < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' scripts/kube-score.flags | grep -v '^$')
for f in "${renders[@]}" deploy/operationrun-controller.yaml; do
  # The per-render skips scripts/kube-score.flags explains.
  extra=()
  grep -q '^kind: NetworkPolicy$' "$f" || extra+=(--ignore-test pod-networkpolicy)
  grep -q '^  replicas: 1$' "$f" && extra+=(--ignore-test deployment-replicas)
  grep -q '^ *runAsUser:' "$f" || extra+=(--ignore-test container-security-context-user-group-id)
  "$tools/kube-score" score --output-format ci "${score_flags[@]}" "${extra[@]}" "$f" >"$tmp/score.out" 2>&1 || {
    grep -v '^\[OK\]' "$tmp/score.out" >&2 || true
    log "kube-score failed on $(basename "$f")"
    exit 1
  }
done
log "kube-score: ${#renders[@]} renders and deploy/ clean ($(secs "$t0" "$(now)")s)"
echo "manifests: helm lint, kubeconform and kube-score clean"
