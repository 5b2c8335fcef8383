#!/usr/bin/env bash
# Builds the Go tools the checks and the release use from their Go modules
# into a cache directory outside git, skipping every binary that is already
# there for the pinned versions (each tool's go.mod and go.sum in this
# directory).
#
#   tests/tools/build.sh            # build what is missing, every tool
#   tests/tools/build.sh actionlint toxiproxy   # only these (a binary or a tool dir name)
#   bin="$(tests/tools/build.sh)"   # the last stdout line is the bin dir
#
# The bin dir is the same whichever tools are asked for (it is named after every
# pinned version), so a later call for other tools adds them beside the first ones.
#
# Environment:
#   OPRUN_TOOLS_CACHE  cache root (default ~/.cache/operationrun-controller/tools)
#   OPRUN_TOOLS_FORCE  set to 1 to rebuild even when binaries exist
# Progress and timings go to stderr; only the bin dir goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# One line per binary: module dir, binary name, Go module, package, and the
# variable the upstream release build stamps the version into ("-": none).
tools=(
  "actionlint actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint github.com/rhysd/actionlint.version"
  "kubeconform kubeconform github.com/yannh/kubeconform github.com/yannh/kubeconform/cmd/kubeconform main.version"
  "kube-score kube-score github.com/zegl/kube-score github.com/zegl/kube-score/cmd/kube-score main.version"
  "krew validate-krew-manifest sigs.k8s.io/krew sigs.k8s.io/krew/cmd/validate-krew-manifest -"
  "krew kubectl-krew sigs.k8s.io/krew sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/internal/version.gitTag"
  "syft syft github.com/anchore/syft github.com/anchore/syft/cmd/syft main.version"
  "toxiproxy toxiproxy-server github.com/Shopify/toxiproxy/v2 github.com/Shopify/toxiproxy/v2/cmd/server github.com/Shopify/toxiproxy/v2.Version"
  "toxiproxy toxiproxy-cli github.com/Shopify/toxiproxy/v2 github.com/Shopify/toxiproxy/v2/cmd/cli github.com/Shopify/toxiproxy/v2.Version"
)

# pinned DIR MODULE: the version DIR/go.mod requires for MODULE.
pinned() {
  local v
  v="$(awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$here/$1/go.mod")"
  [[ -n "$v" ]] || { echo "$1/go.mod does not require $2" >&2; exit 1; }
  echo "$v"
}

# The tools asked for: every one without arguments, else those whose binary or
# module dir is named (toxiproxy: both of its binaries).
selected=()
if (($# == 0)); then
  selected=("${tools[@]}")
else
  for want in "$@"; do
    found=0
    for t in "${tools[@]}"; do
      read -r dir out _ _ _ <<<"$t"
      if [[ "$want" == "$dir" || "$want" == "$out" ]]; then
        selected+=("$t")
        found=1
      fi
    done
    if ((found == 0)); then
      names="$(for t in "${tools[@]}"; do read -r _ out _ _ _ <<<"$t"; printf ' %s' "$out"; done)"
      echo "unknown tool '$want'; known:$names" >&2
      exit 2
    fi
  done
fi

# The cache directory is named after the pinned versions, so changing a pin
# builds into a new directory and never mixes versions.
name=""
declare -A seen=()
for t in "${tools[@]}"; do
  read -r dir _ mod _ _ <<<"$t"
  [[ -n "${seen[$dir]:-}" ]] && continue
  seen[$dir]=1
  name+="${name:+_}$dir-$(pinned "$dir" "$mod")"
done

cache_root="${OPRUN_TOOLS_CACHE:-$HOME/.cache/operationrun-controller/tools}"
bin="$cache_root/$name/bin"
mkdir -p "$bin"

# Builds must not depend on whatever the caller has set: a local toolchain
# only (no toolchain download), no cgo, go.sum as committed, no VCS stamping.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
unset GOOS GOARCH GOWORK

# One build at a time per cache directory.
exec 9>"$bin/.lock"
flock 9

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.1f\", $2 - $1}"; }

total0="$(now)"
log "go: $(go version); cache: $bin"
for t in "${selected[@]}"; do
  read -r dir out mod pkg var <<<"$t"
  if [[ "${OPRUN_TOOLS_FORCE:-0}" != 1 && -x "$bin/$out" ]]; then
    continue
  fi
  version="$(pinned "$dir" "$mod")"
  ldflags="-s -w"
  [[ "$var" == - ]] || ldflags+=" -X $var=$version"
  log "==> build $out $version"
  t0="$(now)"
  (cd "$here/$dir" && go mod download && go build -trimpath -ldflags "$ldflags" -o "$bin/.$out.tmp" "$pkg")
  mv -f "$bin/.$out.tmp" "$bin/$out"
  log "<== build $out: $(secs "$t0" "$(now)")s"
done
log "total: $(secs "$total0" "$(now)")s"

for t in "${selected[@]}"; do
  read -r _ out _ _ _ <<<"$t"
  [[ -x "$bin/$out" ]] || { log "missing $bin/$out after build"; exit 1; }
done
echo "$bin"
