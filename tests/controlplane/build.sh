#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd, helm) from
# their Go modules into a cache directory outside git, skipping every binary
# that is already there for the pinned versions (versions.env).
#
#   tests/controlplane/build.sh            # build what is missing
#   bin="$(tests/controlplane/build.sh)"   # the last stdout line is the bin dir
#   OPRUN_K8S=oldest tests/controlplane/build.sh   # the oldest supported Kubernetes
#   OPRUN_K8S=oldest tests/controlplane/build.sh kube-apiserver etcd   # only these
#
# Arguments name the binaries to build (kube-apiserver, kubectl, etcd, helm);
# none means all four. The testenv crate takes kubectl and helm from the newest
# control plane's bin dir whichever OPRUN_K8S selects, so the oldest needs only
# kube-apiserver and etcd.
#
# Environment:
#   OPRUN_K8S                 newest (default) or oldest: which pinned Kubernetes
#                             and etcd to build (select.sh); each has its own bin dir
#   OPRUN_CONTROLPLANE_CACHE  cache root (default ~/.cache/operationrun-controller/controlplane)
#   OPRUN_CONTROLPLANE_FORCE  set to 1 to rebuild even when binaries exist
# Progress and timings go to stderr; only the bin dir goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=select.sh
source "$here/select.sh"

cache_root="${OPRUN_CONTROLPLANE_CACHE:-$HOME/.cache/operationrun-controller/controlplane}"
bin="$cache_root/${k8s_version}-${etcd_version}-${HELM_VERSION}/bin"
mkdir -p "$bin"

all=(kube-apiserver kubectl etcd helm)
wanted=()
if (($# == 0)); then
  wanted=("${all[@]}")
else
  for b in "$@"; do
    case " ${all[*]} " in
      *" $b "*) wanted+=("$b") ;;
      *) echo "unknown binary '$b'; known: ${all[*]}" >&2; exit 2 ;;
    esac
  done
fi
# want NAME: NAME is among the binaries asked for.
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

# Builds must not depend on whatever the caller has set: a local toolchain
# only (no toolchain download), no cgo, go.sum as committed, no VCS stamping
# (this directory's git state says nothing about the upstream sources).
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
unset GOOS GOARCH GOWORK

# One build at a time per cache directory.
exec 9>"$bin/.lock"
flock 9

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
# step NAME CMD...: runs CMD and prints how long it took.
step() {
  local name="$1" t0 t1
  shift
  log "==> $name"
  t0="$(now)"
  "$@"
  t1="$(now)"
  log "$(printf '<== %s: %.1fs' "$name" "$(awk "BEGIN{print $t1 - $t0}")")"
}

# have NAME: NAME is not asked for, or already built (and no rebuild forced).
have() { ! want "$1" || [[ "${OPRUN_CONTROLPLANE_FORCE:-0}" != 1 && -x "$bin/$1" ]]; }

# go_build MODULE_DIR OUT PKG LDFLAGS: builds into a temporary file and moves
# it into place, so an interrupted build never leaves a half-written binary.
go_build() {
  local dir="$1" out="$2" pkg="$3" ldflags="$4"
  (cd "$here/$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/.$out.tmp" "$pkg")
  mv -f "$bin/.$out.tmp" "$bin/$out"
}

total0="$(now)"
log "go: $(go version); cache: $bin"

# --- Kubernetes: kube-apiserver and kubectl ---------------------------------
if ! have kube-apiserver || ! have kubectl; then
  step "download modules (kubernetes)" bash -c "cd '$here/$k8s_dir' && go mod download"
  k8s_time="$(cd "$here/$k8s_dir" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
  ver="${k8s_version#v}"
  major="${ver%%.*}"
  minor="${ver#*.}"
  minor="${minor%%.*}"
  k8s_ldflags="-s -w"
  # The same variables upstream's hack/lib/version.sh sets, in both packages.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    k8s_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$k8s_time -X $p.gitCommit="
  done
  have kube-apiserver ||
    step "build kube-apiserver $k8s_version" go_build "$k8s_dir" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
  have kubectl ||
    step "build kubectl $k8s_version" go_build "$k8s_dir" kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
fi

# --- etcd --------------------------------------------------------------------
if ! have etcd; then
  step "download modules (etcd)" bash -c "cd '$here/$etcd_dir' && go mod download"
  step "build etcd $etcd_version" go_build "$etcd_dir" etcd . "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version"
fi

# --- helm --------------------------------------------------------------------
if ! have helm; then
  step "download modules (helm)" bash -c "cd '$here/helm' && go mod download"
  # Like upstream's Makefile: the default Kubernetes version of `helm template`
  # follows the client-go helm is built with (v0.N.x -> 1.N).
  cg="$(cd "$here/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)"
  cg="${cg#v0.}"
  kmin="${cg%%.*}"
  helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    helm_ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kmin"
  done
  step "build helm $HELM_VERSION" go_build helm helm helm.sh/helm/v3/cmd/helm "$helm_ldflags"
fi

total1="$(now)"
log "$(printf 'total: %.1fs' "$(awk "BEGIN{print $total1 - $total0}")")"
for b in "${wanted[@]}"; do
  [[ -x "$bin/$b" ]] || { log "missing $bin/$b after build"; exit 1; }
done
echo "$bin"
